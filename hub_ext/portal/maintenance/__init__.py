"""Maintenance (issue 13): the admins' page and API."""
