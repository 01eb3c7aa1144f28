"""About: Hubfront and JupyterHub versions, and the license type."""
