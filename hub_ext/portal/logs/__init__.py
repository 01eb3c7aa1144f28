"""Logs / Errors: recent errors and actions, newest first."""
