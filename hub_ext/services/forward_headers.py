"""The headers a forwarded request and its answer carry (deployments' endpoints and apps alike): what the
forwarder strips (hop-by-hop headers, the hub's cookies), writes (``X-Forwarded-*``, the caller's identity
for private endpoints) and confines (a sandboxing Content-Security-Policy on answers served from the hub's
origin)."""

from __future__ import annotations

from tornado import httputil


# Headers about one connection, not the message (RFC 9110 7.6.1); ``Proxy-*`` too.
HOP_BY_HOP = frozenset({"connection", "keep-alive", "te", "trailer", "transfer-encoding", "upgrade"})
# request headers the forwarder writes itself (Host and framing per replica, X-Forwarded-* below)
_OWN = HOP_BY_HOP | {"host", "content-length", "expect", "x-forwarded-for", "x-forwarded-proto", "x-forwarded-host"}


def strip_hub_cookies(value: str, keep_xsrf: bool = False) -> str:
    """A ``Cookie`` value without the hub's cookies (``jupyterhub-*`` and, unless ``keep_xsrf``, ``_xsrf``)
    and the apps' credential (``hubfront-apps*``, :mod:`.app_access`); other cookies stay. (The hub's own
    ``_xsrf`` is scoped to its prefix, so one sent to an app is the app's: apps keep it.)"""
    kept = [c for c in value.split(";")
            if not ((name := c.split("=", 1)[0].strip()).startswith(("jupyterhub-", "hubfront-apps"))
                    or (name == "_xsrf" and not keep_xsrf))]
    return ";".join(kept).strip()


def connection_tokens(headers) -> frozenset:
    """The lower-case names the ``Connection`` header lists (hop-by-hop for this message)."""
    value = headers.get("Connection")
    return frozenset(t.strip().lower() for t in value.split(",")) if value else frozenset()


def strip_hop_by_hop(headers) -> None:
    """Remove a message's hop-by-hop headers (``tornado.httputil.HTTPHeaders``, in place)."""
    named = connection_tokens(headers)
    for name in list(headers):
        low = name.lower()
        if low in HOP_BY_HOP or low in named or low.startswith("proxy-"):
            del headers[name]


def request_fields(headers, private: bool, remote_ip: str, protocol: str, app_cookies: bool = False) -> str:
    """The request's header lines for a replica (each ``Name: value`` and CRLF), less Host and framing.

    Dropped: hop-by-hop headers, cookies (``app_cookies``: an app at its own origin keeps the
    browser's cookies of its host, less the hub's and the apps' credential) and, for a private
    deployment, ``Authorization`` (it carried the client's token). Added:
    ``X-Forwarded-For`` (appended to what the proxy sent), ``X-Forwarded-Proto``
    and ``-Host`` (the proxy's when it sent them: it saw the browser).
    """
    named = connection_tokens(headers)
    xff = proto = xhost = None
    lines = []
    for name, value in headers.get_all():
        low = name.lower()
        if low in _OWN or low in named or low.startswith("proxy-"):
            if low == "x-forwarded-for":
                xff = value if xff is None else f"{xff}, {value}"
            elif low == "x-forwarded-proto":
                proto = proto or value
            elif low == "x-forwarded-host":
                xhost = xhost or value
            continue
        if low == "authorization" and private:
            continue
        if low == "cookie" and not (app_cookies and (value := strip_hub_cookies(value, keep_xsrf=True))):
            continue
        lines.append(f"{name}: {value}\r\n")
    lines.append(f"X-Forwarded-For: {xff + ', ' if xff else ''}{remote_ip}\r\n")
    lines.append(f"X-Forwarded-Proto: {proto or protocol}\r\n")
    if xhost or "Host" in headers:
        lines.append(f"X-Forwarded-Host: {xhost or headers['Host']}\r\n")
    return "".join(lines)


SANDBOX = "sandbox"  # the page gets an opaque origin: no script of it runs as the hub's origin


def confine_answer(headers, sandbox: bool) -> None:
    """What every forwarded answer gets (``tornado.httputil.HTTPHeaders``, in place): ``nosniff``, and
    the upstream's cookies for our credentials dropped (an app cannot set or shadow them). With
    ``sandbox`` (deployment endpoints, on the hub's origin): ``Content-Security-Policy: sandbox`` as a
    header of its own, which browsers enforce together with any policy the upstream sent (it cannot be
    loosened or dropped by the upstream), and no ``Set-Cookie`` at all (none may land on the hub's origin)."""
    headers["X-Content-Type-Options"] = "nosniff"
    cookies = headers.get_list("Set-Cookie")
    if cookies:
        del headers["Set-Cookie"]
        for cookie in cookies:
            name = cookie.split("=", 1)[0].strip()
            if not sandbox and not name.startswith(("jupyterhub-", "hubfront-apps")):
                headers.add("Set-Cookie", cookie)
    if sandbox:
        headers.add("Content-Security-Policy", SANDBOX)


def answer_fields(text: str) -> httputil.HTTPHeaders:
    """An answer's header lines, as strict as tornado's parser but without its regular expressions (per call)."""
    headers = httputil.HTTPHeaders()
    if text:
        for line in text.split("\r\n"):
            name, colon, value = line.partition(":")
            if not colon or not name or name != name.strip() or "\n" in line or "\r" in line:
                raise httputil.HTTPInputError(f"bad header line {line[:80]!r}")
            headers.add(name, value.strip(" \t"))
    return headers
