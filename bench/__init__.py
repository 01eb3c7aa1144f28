"""Side-by-side benchmarks: Hubfront against stock JupyterHub 6.1.1 (python -m bench)."""
