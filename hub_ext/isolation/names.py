"""OS account and Unix group names for hub users and hub groups.

Hub names may hold any character and be of any length; ``useradd`` wants
``[a-z_][a-z0-9_-]*`` and at most 32 characters. A hub name already made of
``[a-z0-9-]`` that fits keeps its spelling after the prefix; any other is
slugged, truncated and given a ``_`` plus a hash of the original. Unchanged
names never contain ``_``, hashed ones always do, and two different originals
never share a hash, so two hub names can never map to one OS name.

A group's service account (what its apps run as) ends in ``_app`` after the group's
name (``hubfront-research_app``), or after its slug and hash: it holds a ``_`` that
is not followed by a ten-character hash, which no user's account name does.
"""

from __future__ import annotations

import hashlib
import re

COMMENT = "Hubfront workload account"  # the GECOS field of every account Hubfront made (and may act for)

MAX_LENGTH = 32  # useradd / groupadd on Linux
PREFIX_PATTERN = re.compile(r"^[a-z][a-z0-9-]{0,15}$")
_PLAIN = re.compile(r"^[a-z0-9-]+$")
_DIGEST = 10


def check_prefix(prefix: str) -> str:
    if not PREFIX_PATTERN.match(prefix):
        raise ValueError(f"prefix {prefix!r}: 1-16 characters of a-z, 0-9 and '-', starting with a letter")
    return prefix


def os_name(prefix: str, name: str) -> str:
    """The OS name for hub name ``name`` under ``prefix`` (valid for useradd and groupadd)."""
    if _PLAIN.match(name) and len(prefix) + len(name) <= MAX_LENGTH:
        return prefix + name
    digest = hashlib.sha256(name.encode()).hexdigest()[:_DIGEST]
    slug = re.sub(r"[^a-z0-9-]+", "-", name.lower()).strip("-")
    room = MAX_LENGTH - len(prefix) - 1 - _DIGEST
    return f"{prefix}{slug[:room].rstrip('-')}_{digest}"


def account_name(prefix: str, username: str) -> str:
    """OS account of hub user ``username``: ``hubfront-alice``."""
    return os_name(prefix, username)


def unix_group_name(prefix: str, group: str) -> str:
    """Unix group of hub group ``group``: ``hubfront-g-research``."""
    return os_name(prefix + "g-", group)


def primary_group_name(prefix: str) -> str:
    """The primary group every workload account shares: ``hubfront`` (never a member of a hub group's)."""
    return prefix.rstrip("-")


SERVICE_SUFFIX = "_app"


def service_account_name(prefix: str, group: str) -> str:
    """The OS account the apps of hub group ``group`` run as: ``hubfront-research_app``
    (never a user's: see the module's docstring)."""
    if _PLAIN.match(group) and len(prefix) + len(group) + len(SERVICE_SUFFIX) <= MAX_LENGTH:
        return prefix + group + SERVICE_SUFFIX
    digest = hashlib.sha256(group.encode()).hexdigest()[:_DIGEST]
    slug = re.sub(r"[^a-z0-9-]+", "-", group.lower()).strip("-")
    room = MAX_LENGTH - len(prefix) - 1 - _DIGEST - len(SERVICE_SUFFIX)
    return f"{prefix}{slug[:room].rstrip('-')}_{digest}{SERVICE_SUFFIX}"
