"""OpenAPI operations of the shares feature (issue 12), appended to ``spec.OPERATIONS``.

Add path parameters this feature introduces to ``spec.PATH_PARAMS`` here.
"""

from __future__ import annotations

from .spec import Operation  # noqa: F401

OPERATIONS: tuple[Operation, ...] = ()
