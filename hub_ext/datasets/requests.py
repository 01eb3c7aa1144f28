"""Dataset requests: the pydantic models that validate API bodies (and the OpenAPI document).

Every model refuses undeclared fields and coerces nothing (``hub_ext.bodies.Strict``).
Rules that need the operator's settings (local git URLs, the shortest sync interval) are in
:func:`check_git_url` and :func:`check_interval`, called by the API with those settings.
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import ConfigDict, Field, field_validator

from ..bodies import BodyError, Strict
from .addresses import RefusedAddress, check_host, literal, remote_of, resolves_refused

DNS_LABEL = re.compile(r"^[a-z]([a-z0-9-]{0,61}[a-z0-9])?$")
TAG = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 ._+-]{0,31}$")
ENV_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")
BRANCH = re.compile(r"^(?!-)(?!.*\.\.)(?!.*//)[A-Za-z0-9._/-]{1,255}(?<![./])$")
REMOTE = re.compile(r"^(https?|ssh|git)://[^\s/]+(/\S*)?$")
SCP_LIKE = re.compile(r"^[A-Za-z0-9._-]+@[A-Za-z0-9.-]+:(?!/?-)\S+$")
IPV6_HOST = re.compile(r"(?<=://)([^/@]*@)?\[[0-9A-Fa-f:.]+\]")  # "::" there is an address, not ext::
USERINFO_SECRET = re.compile(r"^[a-z+]+://[^/@\s]*:[^/@\s]*@")
RESERVED_ENV = ("HUBFRONT_", "JUPYTERHUB_")
MAX_TAGS = 20
MAX_ENV = 100
MASK = "••••"


class _Body(Strict):
    model_config = ConfigDict(extra="forbid", strict=True, str_strip_whitespace=True)


class EnvEntry(_Body):
    """One variable of an env dataset: ``<NAME>_<key>`` in workloads."""

    key: str = Field(max_length=64, description="Letters, digits and _, not first a digit")
    value: str | None = Field(default=None, max_length=65536,
                              description="The value; on a change, null keeps a secret's stored value")
    secret: bool = Field(default=False, description="Shown masked on the page, never returned by the API")

    @field_validator("key")
    @classmethod
    def _key(cls, value: str) -> str:
        if not ENV_KEY.match(value):
            raise ValueError(f"{value!r} is not a variable name (letters, digits and _, not first a digit)")
        return value

    @field_validator("value")
    @classmethod
    def _value(cls, value: str | None) -> str | None:
        if value is not None and "\0" in value:
            raise ValueError("may not contain a NUL character")
        return value


def _tags(value: list[str] | None) -> list[str] | None:
    if value is None:
        return None
    if len(value) > MAX_TAGS:
        raise ValueError(f"at most {MAX_TAGS} tags")
    out = []
    for tag in value:
        tag = tag.strip()
        if not TAG.match(tag):
            raise ValueError(f"{tag!r} is not a tag (1-32 letters, digits, space, . _ + -)")
        if tag not in out:
            out.append(tag)
    return out


def _entries(value: list[EnvEntry] | None) -> list[EnvEntry] | None:
    if value is None:
        return None
    if len(value) > MAX_ENV:
        raise ValueError(f"at most {MAX_ENV} variables")
    keys = [e.key for e in value]
    twice = sorted({k for k in keys if keys.count(k) > 1})
    if twice:
        raise ValueError(f"a key appears twice: {', '.join(twice)}")
    return value


def _branch(value: str | None) -> str | None:
    if value is not None and value and not BRANCH.match(value):
        raise ValueError("not a branch name (letters, digits, . _ / -; no '..', not starting with -)")
    return value


def _url(value: str | None) -> str | None:
    if value is None or value == "":
        return value
    if "::" in IPV6_HOST.sub("", value) or value.startswith("-") or any(c.isspace() or ord(c) < 32 for c in value):
        raise ValueError("not a repository URL (transport helpers such as ext:: or file:: are refused)")
    if USERINFO_SECRET.match(value):
        raise ValueError("a password or token in the URL would be stored in plain text: use a public "
                         "repository, or ssh with the group's key (see the user guide)")
    return value


class _Changes(_Body):
    description: str | None = Field(default=None, max_length=4000)
    tags: list[str] | None = Field(default=None, description=f"At most {MAX_TAGS} short labels")
    git_url: str | None = Field(default=None, max_length=2048,
                                description="git: https://, ssh:// or git:// URL, user@host:path, or "
                                            "(when the operator allows it) a local path; never a loopback, "
                                            "link-local or unspecified address, nor a name resolving to one")
    git_branch: str | None = Field(default=None, max_length=255, description="git: the branch to follow")
    sync_interval: int | None = Field(default=None, ge=0, le=30 * 86400,
                                      description="git: seconds between syncs; 0 = on demand only")
    env: list[EnvEntry] | None = Field(default=None, description="env: the variables (the whole list)")

    _tags = field_validator("tags")(lambda cls, v: _tags(v))
    _env = field_validator("env")(lambda cls, v: _entries(v))
    _branch = field_validator("git_branch")(lambda cls, v: _branch(v))
    _url = field_validator("git_url")(lambda cls, v: _url(v))


class DatasetCreate(_Changes):
    """``POST …/groups/{group}/datasets``: the group owns the new dataset."""

    name: str = Field(max_length=63, description="DNS label, unique on the platform: /datasets/<name>")
    kind: Literal["files", "git", "env"] = Field(description="files (uploaded), git (a synced clone), "
                                                             "env (variables)")

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not DNS_LABEL.match(value):
            raise ValueError("a DNS label: 1-63 lower-case letters, digits or -, starting with a letter, "
                             "not ending with -")
        return value


class DatasetPatch(_Changes):
    """``PATCH …/datasets/{dataset}``: only the fields sent change (the kind never does)."""


class GrantSet(_Body):
    """``PUT …/datasets/{dataset}/grants/{grantee}``: the other group may use it, read-only or read-write."""

    mode: Literal["ro", "rw"] = Field(description="ro: read-only; rw: read-write (files datasets)")


class VersionCreate(_Body):
    """``POST …/datasets/{dataset}/versions``: snapshot the files as they are now."""

    note: str = Field(default="", max_length=500, description="What this version is")


def kind_fields(kind: str, sent: dict) -> None:
    """Fields of another kind in a create or change (BodyError naming them)."""
    own = {"git": ("git_url", "git_branch", "sync_interval"), "env": ("env",), "files": ()}[kind]
    other = {"git_url", "git_branch", "sync_interval", "env"} - set(own)
    errors = {f: f"only for {'git' if f != 'env' else 'env'} datasets (this one is {kind})"
              for f in sorted(other) if sent.get(f) is not None}
    if kind == "git" and "name" in sent and not sent.get("git_url"):
        errors["git_url"] = "a git dataset needs the repository's URL"
    if kind == "env" and sent.get("name", "").upper().replace("-", "_").startswith(RESERVED_ENV):
        errors["name"] = "an env dataset's variables may not start with HUBFRONT_ or JUPYTERHUB_"
    if errors:
        raise BodyError(errors)


def is_local(url: str) -> bool:
    return url.startswith(("/", "file://", "./", "../")) or not (REMOTE.match(url) or SCP_LIKE.match(url))


def check_git_url(url: str, allow_local: bool, refused_networks=()) -> None:
    """A remote URL git may fetch, or a local path where the operator allows those (BodyError). A remote's
    host may not be a refused address or a loopback name (``addresses.check_host``; no DNS asked here)."""
    if REMOTE.match(url) or SCP_LIKE.match(url):
        try:
            remote = remote_of(url)
            if remote is not None:
                check_host(remote.host, refused_networks)
        except RefusedAddress as exc:
            raise BodyError({"git_url": f"refused: {exc}"}) from None
        except ValueError as exc:
            raise BodyError({"git_url": f"not a repository URL: {exc}"}) from None
        return
    if url.startswith("/") or url.startswith("file:///"):
        if allow_local:
            return
        raise BodyError({"git_url": "local repositories are not allowed here (Datasets.allow_local_git_urls)"})
    raise BodyError({"git_url": "expected https://, ssh:// or git:// URL, user@host:path"
                                + (", or an absolute local path" if allow_local else "")})


async def check_git_host(url: str, refused_networks, timeout: float) -> None:
    """BodyError when the URL's host name resolves now to a refused address (DNS asked off the event loop,
    ``timeout`` s at most; a name that does not resolve passes: the sync resolves it again)."""
    try:
        remote = None if is_local(url) else remote_of(url)
    except ValueError:
        return  # check_git_url said why
    if remote is None or literal(remote.host) is not None:
        return
    try:
        await resolves_refused(remote.host, remote.port, refused_networks, timeout)
    except RefusedAddress as exc:
        raise BodyError({"git_url": f"refused: {exc}"}) from None


def check_interval(seconds: int | None, shortest: int) -> None:
    if seconds and seconds < shortest:
        raise BodyError({"sync_interval": f"at least {shortest} seconds, or 0 for on demand only"})
