"""Group images: the group admin's Images page and REST API (issue 13)."""
