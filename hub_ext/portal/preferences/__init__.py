"""Preferences: the user's default group at login and time zone."""
