"""Executors: the one seam between "admitted" and "running" (see base.py)."""
