"""The portal REST API over HTTP for the ``hubfront`` command line: where, with which token, errors.

Standard library only (urllib): it runs inside a user's notebook environment.
Where it talks to: ``--url``, else ``$HUBFRONT_URL``, else ``$JUPYTERHUB_API_URL``,
else http://127.0.0.1:8000/hub/api. Its token: ``--token``, else
``$HUBFRONT_TOKEN``, else ``$JUPYTERHUB_API_TOKEN``.
"""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request
from urllib.parse import quote, urlencode

from ..field_messages import summary

DEFAULT_URL = "http://127.0.0.1:8000/hub/api"
REQUEST_TIMEOUT = 60.0  # seconds, for every request but a followed log


class CLIError(Exception):
    """One line for stderr; exit status 2."""


class Unreachable(CLIError):
    """The hub did not answer (worth retrying while following)."""


def api_url(given: str | None = None, environ=os.environ) -> str:
    """The hub API's base URL, ending in ``/api`` (a bare hub address gets ``/hub/api``)."""
    url = (given or environ.get("HUBFRONT_URL") or environ.get("JUPYTERHUB_API_URL") or DEFAULT_URL).strip()
    url = url.rstrip("/")
    if "://" not in url:
        raise CLIError(f"not a URL: {url!r} (e.g. http://127.0.0.1:8000/hub/api)")
    if url.endswith("/api"):
        return url
    if url.endswith("/hub"):
        return url + "/api"
    return url + "/hub/api"


def api_token(given: str | None = None, environ=os.environ) -> str:
    token = given or environ.get("HUBFRONT_TOKEN") or environ.get("JUPYTERHUB_API_TOKEN")
    if not token:
        raise CLIError("no token: set JUPYTERHUB_API_TOKEN or pass --token")
    return token


def error_message(status: int, body: bytes, reason: str = "") -> str:
    """The API's own message (``{"status", "message", "errors"}``), else the text, else the status."""
    text = body.decode("utf-8", "replace").strip()
    try:
        data = json.loads(text)
    except ValueError:
        data = None
    if isinstance(data, dict):
        if data.get("errors") and isinstance(data["errors"], dict):
            return summary({str(k): str(v) for k, v in data["errors"].items()})  # as the API words its message
        if data.get("message"):
            return str(data["message"])
    line = text.splitlines()[0][:300] if text and not text.lstrip().startswith("<") else ""
    return f"HTTP {status} {reason}".strip() + (f": {line}" if line else "")


class Client:
    """The portal API with a token: ``/hub/api/portal/...``."""

    def __init__(self, url: str, token: str):
        self.base = url.rstrip("/") + "/portal"
        self.token = token

    def open(self, method: str, path: str, body=None, query: dict | None = None,
             timeout: float | None = REQUEST_TIMEOUT):
        query = {k: v for k, v in (query or {}).items() if v is not None}
        url = self.base + path + (f"?{urlencode(query)}" if query else "")
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(url, data=data, method=method)
        req.add_header("Authorization", f"token {self.token}")
        req.add_header("Accept", "application/json")
        if data is not None:
            req.add_header("Content-Type", "application/json")
        try:
            return urllib.request.urlopen(req, timeout=timeout)
        except urllib.error.HTTPError as exc:
            with exc:
                raise CLIError(error_message(exc.code, exc.read(), exc.reason)) from None
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise Unreachable(f"cannot reach the hub at {self.base.rsplit('/portal', 1)[0]}: {reason}") from None

    def json(self, method: str, path: str, body=None, query: dict | None = None):
        try:
            with self.open(method, path, body, query) as resp:
                raw = resp.read()
        except (OSError, ValueError) as exc:  # the connection broke while reading
            raise Unreachable(f"the hub's answer broke off: {exc}") from None
        try:
            return json.loads(raw) if raw else None
        except ValueError:
            raise CLIError(f"the hub answered {method} {path} with something that is not JSON") from None

    def job(self, job_id) -> dict:
        return self.json("GET", f"/jobs/{quote(str(job_id), safe='')}")
