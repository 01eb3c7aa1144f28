"""End-to-end tests drive the real hub process; no MockHub clean-up (see support.no_mockhub_cleanup)."""

from support import no_mockhub_cleanup  # noqa: F401  (the fixture)
