"""datasets (issue 12)."""
