"""Ids that arrive in a path, a form or a query string.

Every one is parsed here, the same way: a whole number written in ASCII digits,
within the range of the database column it is looked up in. A number the
column cannot hold (``99999999999999999999``) is refused with the field named,
before it reaches the database driver, which would otherwise fail with an
overflow (a 500). No tornado here: handlers turn :class:`BadId` into 400 or 404.
"""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import BigInteger, SmallInteger

_DIGITS = re.compile(r"[0-9]{1,40}")

# The portable range of each integer column type: PostgreSQL's, which SQLite's 64-bit INTEGER contains.
INTEGER_MAX = 2**31 - 1
BIGINT_MAX = 2**63 - 1
SMALLINT_MAX = 2**15 - 1


class BadId(ValueError):
    """An id that cannot name a row, with the field at fault."""

    def __init__(self, field: str, message: str):
        self.field = field
        self.message = message
        self.errors = {field: message}
        super().__init__(f"{field}: {message}")


def column_max(column: Any) -> int:
    """The largest value an integer column holds (a mapped attribute, a Column, or a type)."""
    sql_type = getattr(column, "type", column)
    if isinstance(sql_type, BigInteger):
        return BIGINT_MAX
    if isinstance(sql_type, SmallInteger):
        return SMALLINT_MAX
    return INTEGER_MAX


def parse_id(value: Any, field: str, column: Any = None, low: int = 1, high: int | None = None) -> int:
    """``value`` as an id for ``column``, or :class:`BadId` naming ``field``.

    Text must be plain ASCII digits (no sign, spaces, ``_`` or other scripts'
    digits, all of which ``int()`` would take); a JSON integer is taken as it is
    (never a boolean or a float).
    """
    high = min(high, column_max(column)) if high is not None else column_max(column)
    message = f"must be a whole number from {low} to {high}"
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise BadId(field, message)
    if isinstance(value, str):
        if not _DIGITS.fullmatch(value):
            raise BadId(field, message)
        value = int(value)
    if not low <= value <= high:
        raise BadId(field, message)
    return value


def optional_id(value: Any, field: str, column: Any = None, low: int = 1, high: int | None = None) -> int | None:
    """Like :func:`parse_id`, but an absent or empty value is ``None``."""
    if value is None or value == "":
        return None
    return parse_id(value, field, column, low, high)
