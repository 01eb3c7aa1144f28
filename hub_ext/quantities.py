"""Quantities as operators and group admins write them, following Kubernetes conventions: CPU in
cores (``2``, ``0.5``, ``500m``), memory in bytes (``4Gi``, ``4G``, ``4096Mi``), durations in
seconds (``90``, ``30m``, ``2h``); parsed with the field at fault named, bounded, and shown back
the same way. The pydantic types (``Cpu``, ``Memory``, ``Duration``, ``Count``) carry their
OpenAPI schema."""

from __future__ import annotations

import math
import re
from typing import Annotated, Any

from pydantic import BeforeValidator, Field, WithJsonSchema

RESOURCES = ("cpu", "memory", "gpu", "sessions")
RESOURCE_LABELS = {"cpu": "CPU", "memory": "Memory", "gpu": "GPU", "sessions": "Sessions"}

_MEMORY_SUFFIXES = {
    "": 1,
    "k": 10**3, "K": 10**3, "M": 10**6, "G": 10**9, "T": 10**12,
    "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40,
}
_QUANTITY = re.compile(r"^\s*([0-9]+(?:\.[0-9]+)?)\s*([A-Za-z]*)\s*$")
_DURATION_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}

# Sanity bounds: larger values are typing mistakes (or 1e999), never a real machine or quota.
MAX_CPU = 1_000_000  # cores
MAX_MEMORY = 2**60  # bytes (1 EiB)
MAX_COUNT = 1_000_000  # GPUs, sessions, deployments
MAX_DURATION = 366 * 86400  # seconds


def _bounded(number: float, high: float, what: str) -> float:
    """Refuse NaN, infinities and absurd amounts (the field is named by the caller)."""
    if not math.isfinite(number):
        raise ValueError("must be a finite number")
    if number < 0:
        raise ValueError("must not be negative")
    if number > high:
        raise ValueError(f"must be at most {high:g} {what}")
    return number


def parse_cpu(value: Any) -> float:
    """Parse a CPU quantity into cores: ``2`` → 2.0, ``500m`` → 0.5."""
    if isinstance(value, bool):
        raise ValueError("expected a CPU quantity such as 2, 0.5 or 500m")
    if isinstance(value, (int, float)):
        cores = float(value)
    else:
        m = _QUANTITY.match(str(value))
        if not m or m.group(2) not in ("", "m"):
            raise ValueError(f"invalid CPU quantity {value!r} (use e.g. 2, 0.5 or 500m)")
        cores = float(m.group(1)) / (1000 if m.group(2) == "m" else 1)
    return _bounded(cores, MAX_CPU, "cores")


def parse_memory(value: Any) -> int:
    """Parse a memory quantity into bytes: ``4Gi``, ``4G``, ``4096Mi`` or a byte count."""
    if isinstance(value, bool):
        raise ValueError("expected a memory quantity such as 4Gi or 512Mi")
    if isinstance(value, (int, float)):
        number, factor = float(value), 1
    else:
        m = _QUANTITY.match(str(value))
        if not m or m.group(2) not in _MEMORY_SUFFIXES:
            raise ValueError(
                f"invalid memory quantity {value!r} (use e.g. 4Gi, 512Mi or 4G)"
            )
        number, factor = float(m.group(1)), _MEMORY_SUFFIXES[m.group(2)]
    return int(_bounded(number * factor, MAX_MEMORY, "bytes (1 EiB)"))


def parse_duration(value: Any) -> int:
    """Parse a duration into seconds: ``3600``, ``30m``, ``2h``, ``1d``."""
    if isinstance(value, bool):
        raise ValueError("expected a duration such as 3600, 30m, 2h or 1d")
    if isinstance(value, (int, float)):
        number = float(value)
    else:
        m = _QUANTITY.match(str(value))
        if not m or m.group(2) not in _DURATION_UNITS:
            raise ValueError(f"invalid duration {value!r} (use e.g. 3600, 30m, 2h or 1d)")
        number = float(m.group(1)) * _DURATION_UNITS[m.group(2)]
    seconds = int(_bounded(number, MAX_DURATION, "seconds (366 days)"))
    if seconds <= 0:
        raise ValueError("must be positive")
    return seconds


NEVER_WORDS = ("never", "none", "off")


def parse_lifetime(value: Any) -> int:
    """A duration that may also be "never" (0): ``3600``, ``30m``, ``7d``, ``never``/``none``/``0``."""
    if (isinstance(value, str) and value.strip().lower() in NEVER_WORDS) or (
            isinstance(value, (int, float)) and not isinstance(value, bool) and value == 0):
        return 0
    if isinstance(value, str) and value.strip() in ("0", "0s"):
        return 0
    try:
        return parse_duration(value)
    except ValueError:
        raise ValueError(f"invalid duration {value!r} (use e.g. 3600, 30m, 2h or 7d, or never)") from None


def format_duration(seconds: float | None) -> str:
    """Human text for a span of time: "45 s", "30 min", "1 h 30 min", "7 days"; 0/None: "never"."""
    if not seconds:
        return "never"
    seconds = int(round(seconds))
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        text = f"{days} day" + ("s" if days != 1 else "")
        return text + (f" {hours} h" if hours else "")
    if hours:
        return f"{hours} h" + (f" {minutes} min" if minutes else "")
    if minutes:
        return f"{minutes} min" + (f" {secs} s" if secs and minutes < 10 else "")
    return f"{secs} s"


def format_age(seconds: float, just_now: float = 2.0) -> str:
    """How long ago something was seen: "just now" (under ``just_now`` seconds), "12 s ago", "1 min 15 s ago"."""
    return "just now" if seconds < just_now else f"{format_duration(seconds)} ago"


def format_cpu(cores: float | None) -> str:
    if cores is None:
        return "unlimited"
    return f"{cores:g}"


def format_memory(nbytes: int | float | None) -> str:
    if nbytes is None:
        return "unlimited"
    for unit, factor in (("TiB", 2**40), ("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if nbytes >= factor:
            return f"{nbytes / factor:.3g} {unit}"
    return f"{int(nbytes)} B"


def format_amount(resource: str, value: float | int | None) -> str:
    """Human text for one resource amount; ``None`` is unlimited."""
    if value is None:
        return "unlimited"
    if resource == "cpu":
        return format_cpu(value)
    if resource == "memory":
        return format_memory(value)
    return str(int(value))


def _quantity_schema(number: dict, suffixes, example: str) -> WithJsonSchema:
    """What a quantity accepts, for the OpenAPI document: a number or a string with a unit."""
    units = "|".join(sorted((s for s in suffixes if s), key=len, reverse=True))
    pattern = rf"^\s*[0-9]+(\.[0-9]+)?\s*({units})?\s*$"
    return WithJsonSchema({"anyOf": [number, {"type": "string", "pattern": pattern, "examples": [example]}]},
                          mode="validation")


Cpu = Annotated[float, BeforeValidator(parse_cpu),
                _quantity_schema({"type": "number", "minimum": 0, "maximum": MAX_CPU}, ("m",), "500m")]
Memory = Annotated[int, BeforeValidator(parse_memory),
                   _quantity_schema({"type": "number", "minimum": 0, "maximum": MAX_MEMORY}, _MEMORY_SUFFIXES, "4Gi")]
Duration = Annotated[int, BeforeValidator(parse_duration),
                     _quantity_schema({"type": "number", "minimum": 1, "maximum": MAX_DURATION},
                                      _DURATION_UNITS, "2h")]
Lifetime = Annotated[int, BeforeValidator(parse_lifetime),
                     WithJsonSchema({"anyOf": [{"type": "number", "minimum": 0, "maximum": MAX_DURATION},
                                               {"type": "string", "pattern": r"^\s*([0-9]+(\.[0-9]+)?\s*[smhd]?|never|none|off)\s*$",
                                                "examples": ["1h", "never"]}]}, mode="validation")]
Count = Annotated[int, Field(ge=0, le=MAX_COUNT)]
Slug = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$")]
