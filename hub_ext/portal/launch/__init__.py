"""Launching notebooks: JupyterHub's spawn page and server API, made safe (see handlers.py)."""
