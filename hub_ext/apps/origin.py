"""Each app's own origin: a host name apart from the hub's, so that nothing an app serves runs with the hub's
authority (issue 20).

An app's page is a member's code. Served on the hub's origin, its script could read hub pages and call the
hub API with a visitor's session. Served on a host of its own (``c.Apps.origin``, e.g.
``http://{app}--{group}.apps.localhost:8002``), the browser keeps it apart: the hub's cookies are the hub
host's (another port of the same host would not do: cookies are sent to every port of a host) and the
same-origin policy keeps the hub's answers from it. Each app gets its own host, so one group's app cannot
read another's either.

``{app}`` is the app's name (already a DNS label); ``{group}`` is :func:`group_label` of the group's name,
which may hold spaces and punctuation. A request's host is mapped back to its app by looking it up among
the installed apps (:class:`HostMap`), never by parsing it: two apps whose hosts come out alike are both
refused.
"""

from __future__ import annotations

import functools
import hashlib
import re
from urllib.parse import urlsplit

_CLEAN = re.compile(r"^[a-z0-9]([a-z0-9-]*[a-z0-9])?$")
_HASH = 10  # hex digits of the group name's SHA-256 added to a label that is not the name itself
MAX_LABEL = 63  # RFC 1035


def group_label(group: str, room: int = MAX_LABEL) -> str:
    """A DNS-safe label for ``group`` of at most ``room`` characters: the name itself when it is one
    (lower-case letters, digits, single hyphens), else a slug of it and a short hash of the exact name
    ("Data Science (EU)" -> ``data-science-eu-1f0c2a9b3e``)."""
    if _CLEAN.match(group) and "--" not in group and len(group) <= room:
        return group
    digest = hashlib.sha256(group.encode()).hexdigest()[:_HASH]
    slug = re.sub(r"-+", "-", re.sub(r"[^a-z0-9]+", "-", group.lower())).strip("-")
    slug = slug[:max(0, room - _HASH - 1)].strip("-")
    return f"{slug}-{digest}" if slug else digest


@functools.lru_cache(maxsize=16)  # a configured value, checked again on every page that names an app's address
def check_origin(template: str) -> str:
    """``template`` if it is an http(s) origin naming ``{app}`` and ``{group}`` in its host (ValueError
    otherwise): the apps' origins must differ by host, not by path or port."""
    try:
        parts = urlsplit(template.replace("{app}", "a").replace("{group}", "g"))
        parts.port  # noqa: B018 - a malformed port raises here
    except ValueError as exc:
        raise ValueError(f"Apps.origin {template!r}: {exc}") from None
    host = urlsplit(template).netloc.rsplit("@", 1)[-1]
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.path.strip("/") or parts.query:
        raise ValueError(f"Apps.origin {template!r}: must be http(s)://<host>[:port], nothing after it")
    if "{app}" not in host or "{group}" not in host:
        raise ValueError(f"Apps.origin {template!r}: its host name must hold both {{app}} and {{group}}")
    return template.rstrip("/")


def app_origin(template: str, group: str, app: str) -> str:
    """The origin (``scheme://host[:port]``, no slash) where ``app`` of ``group`` is served."""
    scheme_host = check_origin(template)
    label = next(part for part in scheme_host.split("://", 1)[1].split(".") if "{group}" in part)
    fixed = len(label.replace("{app}", app).replace("{group}", ""))
    return scheme_host.replace("{app}", app).replace("{group}", group_label(group, MAX_LABEL - fixed))


def host_of(url: str) -> str:
    """The lower-case host name of ``url`` or of a ``Host`` header value (no port)."""
    if "://" not in url:
        url = "http://" + url
    try:
        return (urlsplit(url).hostname or "").lower()
    except ValueError:
        return ""


def apps_in(template: str, origin: str) -> list[str]:
    """The app names that ``origin`` (``scheme://host[:port]``) may have been made from with ``template``
    (the caller checks each by making the origin again with its group)."""
    pattern = re.escape(check_origin(template).lower()).replace(r"\{group\}", "[a-z0-9-]{1,63}")
    found = []
    for size in range(1, 33):
        match = re.fullmatch(pattern.replace(r"\{app\}", f"([a-z][a-z0-9-]{{{size - 1}}})", 1)
                             .replace(r"\{app\}", r"\1"), origin.lower())
        if match:
            found.append(match.group(1))
    return found


class HostMap:
    """Host name -> ``(group, app)`` of the installed apps; a host two apps share maps to neither."""

    def __init__(self, template: str, apps=()):
        self.template = check_origin(template)
        self.hosts: dict[str, tuple[str, str]] = {}
        self.update(apps)

    def update(self, apps) -> None:
        hosts: dict[str, tuple[str, str] | None] = {}
        for group, app in apps:
            host = host_of(app_origin(self.template, group, app))
            hosts[host] = None if host in hosts and hosts[host] != (group, app) else (group, app)
        self.hosts = {h: key for h, key in hosts.items() if key is not None}

    def find(self, host: str) -> tuple[str, str] | None:
        return self.hosts.get(host_of(host)) if host else None

    def origin(self, group: str, app: str) -> str:
        return app_origin(self.template, group, app)
