"""Routes of this feature (issue 12): filled in as it is built."""

handlers: list = []
from .pages import handlers as _pages; handlers += _pages  # noqa: E402  (the Shared Files page, helper B)
