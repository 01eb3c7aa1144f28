"""Group storage: confined paths, the groups' trees, usage, resumable uploads (issue 12)."""
