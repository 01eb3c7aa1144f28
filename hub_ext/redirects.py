"""The one check of a redirect target a request supplies (``next=``, a return URL).

Only a path on the hub's own origin passes, inside the hub's ``base_url``.
Browsers are lenient where servers are strict: they drop tabs and newlines
anywhere in a URL (``/\\t/evil.example`` becomes ``//evil.example``, another
host), treat ``\\`` as ``/``, and resolve ``..``; so a target is refused, not
repaired, when it has any control or white-space character or a backslash, a
scheme, or a prefix-escaping ``..``, or when it (or its percent-decoding:
``/%09/evil``, ``/%2F%2Fevil``, ``/%5Cevil``) starts like ``//host``.

Absolute URLs are accepted only where JupyterHub itself makes them: the hub's
own origin (turned into its path), and, with ``subdomain_host``, a user
server's subdomain of it.

Every handler of the hub gets this check as its ``_validate_next_url`` (what
JupyterHub's ``get_next_url`` and spawn pages call; see ``auth.gate``);
portal handlers and the apps' login call :func:`safe_next` themselves.
"""

from __future__ import annotations

import posixpath
import unicodedata
from urllib.parse import unquote, urlsplit


def _clean(text: str) -> bool:
    """No control, format or white-space character (browsers strip or mangle them)."""
    return not any(_dropped(ch) for ch in text)


def _dropped(ch: str) -> bool:
    return ch.isspace() or unicodedata.category(ch)[0] == "C"


def _same_origin_path(form: str) -> bool:
    """``form`` read as a browser would (controls dropped) starts a path, not ``//host``."""
    seen = "".join(ch for ch in form if not _dropped(ch)).replace("\\", "/")
    return seen.startswith("/") and not seen.startswith("//")


def _decoded_forms(text: str) -> list[str]:
    """``text`` and its percent-decodings, until they stop changing (at most 3 deep)."""
    forms = [text]
    for _ in range(3):
        decoded = unquote(forms[-1])
        if decoded == forms[-1]:
            break
        forms.append(decoded)
    return forms


def _origin(scheme: str, netloc: str) -> str:
    return f"{scheme.lower()}://{netloc.lower()}"


def _safe_path(target: str, base_url: str) -> bool:
    if not (_clean(target) and "\\" not in target and all(map(_same_origin_path, _decoded_forms(target)))):
        return False
    path = unquote(urlsplit(target).path)
    if {".", ".."} & set(path.split("/")):
        path = posixpath.normpath(path)  # where the browser will go
    return (path.rstrip("/") + "/").startswith(unquote(base_url))


def safe_next(target: str | None, *, base_url: str = "/", fallback: str = "", own_origins=(),
              subdomain_host: str = "") -> str:
    """``target`` if it may be redirected to, else ``fallback``.

    ``base_url``: the hub's prefix (JupyterHub's ``base_url``, e.g. ``/`` or ``/jhub/``);
    ``own_origins``: ``scheme://host[:port]`` of the hub (an absolute URL there becomes its path);
    ``subdomain_host``: JupyterHub's ``subdomain_host`` (``https://hub.example``), if used.
    """
    if not isinstance(target, str) or not target or len(target) > 8192:
        return fallback
    base_url = "/" + base_url.strip("/") + "/" if base_url.strip("/") else "/"
    if not _clean(target) or "\\" in target:
        return fallback
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        if parts.scheme.lower() not in ("http", "https") or not parts.netloc or "@" in parts.netloc:
            return fallback
        if _origin(parts.scheme, parts.netloc) in {o.lower().rstrip("/") for o in own_origins}:
            query, fragment = (f"?{parts.query}" if parts.query else ""), (f"#{parts.fragment}" if parts.fragment else "")
            target = (parts.path or "/") + query + fragment
        else:
            sub = urlsplit(subdomain_host) if subdomain_host else None
            if sub and sub.netloc and parts.scheme.lower() == sub.scheme.lower() \
                    and parts.netloc.lower().endswith("." + sub.netloc.lower()):
                return target if _safe_path(parts.path or "/", base_url) else fallback
            return fallback
    return target if _safe_path(target, base_url) else fallback


def checked_next(handler, target: str | None, fallback: str = "") -> str:
    """:func:`safe_next` with a hub handler's own origin, ``base_url`` and ``subdomain_host``."""
    public = handler.settings.get("public_url")
    origins = []
    if public is not None and getattr(public, "netloc", ""):
        origins.append(_origin(public.scheme, public.netloc))
    request = handler.request
    origins.append(_origin(request.protocol, request.host))
    return safe_next(target, base_url=handler.base_url, fallback=fallback, own_origins=origins,
                     subdomain_host=getattr(handler, "subdomain_host", "") or "")


class NextUrlCheck:
    """Mixin for hub handlers: JupyterHub's ``next`` validation replaced by :func:`safe_next`."""

    def _validate_next_url(self, next_url):
        return checked_next(self, next_url, "")
