"""The portal database: engine, sessions and migrations."""

from .engine import get_engine, read_scope, session_scope, upgrade  # noqa: F401
