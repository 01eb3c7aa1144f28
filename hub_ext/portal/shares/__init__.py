"""shares (issue 12)."""
