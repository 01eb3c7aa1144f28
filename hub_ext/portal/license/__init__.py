"""The License page and API (the logic lives in hub_ext.license)."""
