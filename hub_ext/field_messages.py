"""Field errors in plain words: the one place that turns pydantic's errors into what a person reads.

Every request body, policy and form is validated by pydantic, whose own wording is a
developer's ("String should have at least 1 character", "Input should be a valid
integer"). :func:`field_messages` words each error for the person who filled the form, and
names the field as the form labels it: ``{"command": "Command: enter a command to run"}``.
:func:`labelled` does the same for a message a module words itself, and :func:`summary` joins
a refusal's field errors into its one-line ``message`` (the REST API's ``{status, message,
errors}``). A field the model does not declare stays an ``unknown field`` (a caller's typo,
not something a form sends).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # only named: the command-line client (hubfront.pyz) imports this module without pydantic
    from pydantic import ValidationError

UNKNOWN = "unknown field"
NAMED = re.compile(r"[A-Z][^:]{0,40}: ")  # a message that starts by naming its field

# how forms label the fields they send (others: the field's name, "_" as spaces, capitalised)
LABELS = {
    "id": "ID", "to": "Name", "cron": "Recurrence", "env": "Environment variables", "model_uri": "Model URI",
    "git_url": "Git URL", "gpu_image": "GPU variant", "full_name": "Full name", "email": "Email",
    "new_password": "New password", "body": "Request", "pip": "Pip packages", "apt": "Apt packages",
    "conda": "Conda packages",
}
# what to do about an empty (or missing) field, for those a person fills in
EMPTY = {
    "command": "enter a command to run", "name": "enter a name", "to": "enter a name", "id": "enter an ID",
    "recurrence": "choose how often it runs", "full_name": "enter your full name", "title": "enter a title",
    "license": "paste the license token", "git_url": "enter the repository's address",
}
_DATETIME = "enter a date and time, e.g. 2030-06-01T09:00"
# pydantic's error types, worded (``{...}`` from the error's context)
WORDS = {
    "string_type": "must be text", "int_type": "enter a whole number", "int_parsing": "enter a whole number",
    "int_from_float": "enter a whole number", "float_type": "enter a number", "float_parsing": "enter a number",
    "bool_type": "must be true or false", "bool_parsing": "must be true or false",
    "list_type": "must be a list", "dict_type": "must be a set of names and values", "model_type": "must be an object",
    "model_attributes_type": "must be an object", "literal_error": "choose {expected}", "enum": "choose {expected}",
    "greater_than_equal": "must be at least {ge}", "greater_than": "must be more than {gt}",
    "less_than_equal": "must be at most {le}", "less_than": "must be less than {lt}",
    "string_too_long": "use at most {max_length} characters", "string_too_short": "enter at least {min_length} characters",
    "too_long": "give at most {max_length}", "too_short": "give at least {min_length}",
    "string_pattern_mismatch": "has characters that are not allowed here",
    "datetime_type": _DATETIME, "datetime_parsing": _DATETIME, "datetime_from_date_parsing": _DATETIME,
    "date_type": "enter a date, e.g. 2030-06-01", "date_parsing": "enter a date, e.g. 2030-06-01",
    "none_required": "must be empty", "json_invalid": "is not valid JSON", "url_parsing": "is not a valid address",
    "url_scheme": "must be an address starting with {expected_schemes}",
}


def label(field: str) -> str:
    """The field as a form labels it: ``Instance type`` for ``instance_type``; a nested one names its part
    (``Quota (memory)`` for ``quota.memory``)."""
    top, _, rest = field.partition(".")
    name = LABELS.get(field) or LABELS.get(top) or (top.replace("_", " ").capitalize() or "Request")
    return f"{name} ({rest})" if rest and field not in LABELS else name


def named(text: str) -> bool:
    """Whether a message names its field in plain words already (``Command: …``); static/portal.js's
    ``named`` reads the API's messages by the same rule."""
    return NAMED.match(text) is not None


def labelled(field: str, text: str) -> str:
    """``text`` naming its field first (``Recurrence: minute 61 is out of range 0–59``), unless it does."""
    return text if named(text) or text == UNKNOWN else f"{label(field)}: {text}"


def summary(errors: dict[str, str]) -> str:
    """A refusal's one-line message: each field's message, named in plain words where it was worded
    so, else ``field: message``."""
    return "; ".join(text if named(text) else f"{field}: {text}" for field, text in errors.items())


def _where(loc) -> str:
    """The field an error is about, as the API names it (``packages.pip.1``): the parts pydantic adds for
    the members of a union (``list[str]``, ``literal['all','']``) left out."""
    parts = [str(p) for p in loc if not (isinstance(p, str) and ("[" in p or p.startswith(("constrained-",
                                                                                             "function-"))))]
    return ".".join(parts) or "body"


def _worded(err: dict, where: str) -> str:
    kind, ctx = err["type"], err.get("ctx") or {}
    if kind == "extra_forbidden":
        return UNKNOWN
    if kind == "value_error":
        return err["msg"].removeprefix("Value error, ")
    if kind == "assertion_error":
        return err["msg"].removeprefix("Assertion failed, ")
    if kind == "missing" or (kind == "string_too_short" and ctx.get("min_length") == 1):
        return EMPTY.get(where.rpartition(".")[2], "this cannot be empty" if kind != "missing" else "this is required")
    if kind in ("too_short", "too_long"):
        n = ctx.get("min_length" if kind == "too_short" else "max_length")
        unit = "characters" if ctx.get("field_type") == "Value" else ("item" if n == 1 else "items")
        return f"give at {'least' if kind == 'too_short' else 'most'} {n} {unit}"
    template = WORDS.get(kind)
    if template is None:
        return err["msg"]
    try:
        return template.format(**ctx)
    except (KeyError, IndexError):
        return err["msg"]


def field_messages(exc: ValidationError) -> dict[str, str]:
    """``{"command": "Command: enter a command to run", "replicas": "Replicas: must be at most 10"}``: one
    message per field at fault (its first error), in plain words naming the field."""
    errors: dict[str, str] = {}
    for err in exc.errors():
        where = _where(err["loc"])
        if where not in errors:
            errors[where] = labelled(where, _worded(err, where))
    return errors
