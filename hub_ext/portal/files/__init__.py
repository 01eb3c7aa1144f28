"""files (issue 12)."""
