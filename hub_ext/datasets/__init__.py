"""Datasets (issue 12): files, git and env datasets a group owns and may grant to other groups."""
