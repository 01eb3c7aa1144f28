"""folders (issue 12)."""
