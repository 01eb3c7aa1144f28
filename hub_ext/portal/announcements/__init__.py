"""Announcements: admins tell users things, on home and as banners."""
