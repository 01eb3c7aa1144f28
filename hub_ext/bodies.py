"""Request bodies of the portal API: validated by pydantic models (no tornado here).

Every model refuses fields it does not declare (``extra="forbid"``), so a typo
is a 400 naming the field rather than a value silently dropped. The same
models generate the request schemas of the OpenAPI document (``hub_ext.portal.openapi.spec``).
"""

from __future__ import annotations

from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError

from .field_messages import field_messages, summary

M = TypeVar("M", bound=BaseModel)


class BodyError(ValueError):
    """A body refused, with one message per field at fault (answered with 400)."""

    def __init__(self, errors: dict[str, str]):
        self.errors = errors
        super().__init__(summary(errors))


class Strict(BaseModel):
    """Base of the portal's request models: unknown fields are refused, and values are not
    coerced (``"yes"`` is no boolean, ``"5"`` no number): what the schema says is what is taken."""

    model_config = ConfigDict(extra="forbid", strict=True)


class NoFields(Strict):
    """An endpoint that takes no fields: an empty body, ``{}``, or nothing."""


def parse_body(model: type[M], data: Any) -> M:
    """``data`` validated by ``model``, or BodyError naming each field (unknown ones included)."""
    if not isinstance(data, dict):
        raise BodyError({"body": "expected a JSON object"})
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise BodyError(field_messages(exc)) from None
