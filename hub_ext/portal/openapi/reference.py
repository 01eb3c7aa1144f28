"""The REST API docs page's reference, read from the OpenAPI document (no tornado here).

The page renders what this returns, so the reference people read is the
document the hub serves and schemathesis checks, not a second description.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from markupsafe import Markup, escape

REF = "#/components/schemas/"


def prose(text: str) -> Markup:
    """A description as HTML: escaped, with `backticks` as code (all the Markdown the document uses)."""
    return Markup(re.sub(r"``([^`]+)``|`([^`]+)`", lambda m: f"<code>{m.group(1) or m.group(2)}</code>",
                         str(escape(text or ""))))


@dataclass(frozen=True)
class Field:
    name: str
    type: str
    required: bool
    description: str


@dataclass(frozen=True)
class OperationView:
    id: str
    method: str
    path: str
    summary: str
    description: str
    scopes: list[str]
    parameters: list[Field]  # path, then query
    body: str | None  # the request model's name
    body_required: bool
    statuses: list[tuple[str, str, str]]  # (status, description, media type)


@dataclass(frozen=True)
class Section:
    tag: str
    description: str
    operations: list[OperationView]


def type_text(schema: dict) -> str:
    """A short human reading of a JSON schema: ``string``, ``integer ≥ 1``, ``Quota``, ``list of string``."""
    if "$ref" in schema:
        return schema["$ref"].removeprefix(REF)
    if "anyOf" in schema:
        return " or ".join(dict.fromkeys(type_text(s) for s in schema["anyOf"]))
    if "enum" in schema:
        return "one of " + ", ".join(f'"{v}"' if isinstance(v, str) else str(v) for v in schema["enum"])
    if "const" in schema:
        return repr(schema["const"])
    kind = schema.get("type", "any")
    if isinstance(kind, list):
        return " or ".join(type_text({**schema, "type": k}) for k in kind)
    if kind == "array":
        return "list of " + type_text(schema.get("items", {}))
    if kind == "object" and isinstance(schema.get("additionalProperties"), dict):
        return "map of " + type_text(schema["additionalProperties"])
    text = kind
    if "minimum" in schema and "maximum" in schema:
        text += f" {schema['minimum']}–{schema['maximum']}"
    elif "minimum" in schema:
        text += f" ≥ {schema['minimum']}"
    if kind == "string" and "pattern" in schema:
        text += " (with a unit)" if "examples" in schema else ""
    return text


def model_fields(doc: dict, name: str) -> list[Field]:
    schema = doc["components"]["schemas"][name]
    required = set(schema.get("required", ()))
    return [Field(key, type_text(sub), key in required, prose(sub.get("description", "")))
            for key, sub in schema.get("properties", {}).items()]


def models_in(doc: dict, names: list[str]) -> list[tuple[str, str, list[Field]]]:
    """Each named model and the models its fields refer to, once, in reading order."""
    seen: list[str] = []

    def visit(name: str):
        if name in seen or name not in doc["components"]["schemas"]:
            return
        seen.append(name)
        for sub in doc["components"]["schemas"][name].get("properties", {}).values():
            for ref in _refs(sub):
                visit(ref)

    for name in names:
        visit(name)
    return [(n, prose(doc["components"]["schemas"][n].get("description", "")), model_fields(doc, n))
            for n in seen]


def _refs(schema) -> list[str]:
    if isinstance(schema, dict):
        out = [schema["$ref"].removeprefix(REF)] if "$ref" in schema else []
        for value in schema.values():
            out += _refs(value)
        return out
    if isinstance(schema, list):
        return [r for item in schema for r in _refs(item)]
    return []


def sections(doc: dict) -> list[Section]:
    by_tag: dict[str, list[OperationView]] = {t["name"]: [] for t in doc.get("tags", [])}
    for path, item in doc["paths"].items():
        for method, op in item.items():
            params = [Field(f"{p['name']} ({p['in']})", type_text(p["schema"]), p.get("required", False),
                            prose(p.get("description", ""))) for p in op.get("parameters", [])]
            body = op.get("requestBody")
            body_name = _json_body(op)
            statuses = [(status, prose(r["description"]), next(iter(r.get("content", {})), ""))
                        for status, r in op["responses"].items()]
            view = OperationView(
                op["operationId"], method.upper(), path, op["summary"], prose(op.get("description", "")),
                [s for req in op.get("security", []) for scopes in req.values() for s in scopes],
                params, body_name, bool(body and body.get("required")), statuses)
            by_tag.setdefault(op["tags"][0], []).append(view)
    descriptions = {t["name"]: t["description"] for t in doc.get("tags", [])}
    return [Section(tag, descriptions.get(tag, tag), ops) for tag, ops in by_tag.items() if ops]


def _json_body(op: dict) -> str | None:
    """The name of the operation's JSON body model; None without one (or with a body of bytes)."""
    ref = op.get("requestBody", {}).get("content", {}).get("application/json", {}).get("schema", {}).get("$ref")
    return ref.removeprefix(REF) if ref else None


def body_models(doc: dict) -> list[tuple[str, str, list[Field]]]:
    names = [name for item in doc["paths"].values() for op in item.values() if (name := _json_body(op))]
    return models_in(doc, list(dict.fromkeys(names)))
