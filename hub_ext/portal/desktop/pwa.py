"""The portal as an installable app (a Progressive Web App): its manifest and its service worker's rules.

- The manifest names the app, its icons (static/icons/, drawn by scripts/make_icons.py) and the portal's
  colours; it starts at the home page, and its scope is the hub's pages.
- The service worker (static/hubfront-sw.js) keeps the app shell only: the portal's own CSS, JS and icons,
  fetched from the network first and taken from its cache only when the hub is out of reach. Never a
  page (pages carry the user's data), an API answer, or anything of a user's server. :func:`worker_config`
  is the list it keeps and the prefixes it never touches; the script is served from ``portal/sw.js`` with
  ``Service-Worker-Allowed`` so that its scope covers every hub page.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

NAME = "Hubfront"
THEME_COLOR = "#2c7bb6"  # the hub's theme: Bootstrap's primary in JupyterHub's style.css
BACKGROUND_COLOR = "#ffffff"
ICONS = (("icons/hubfront-192.png", 192, "any"), ("icons/hubfront-512.png", 512, "any"),
         ("icons/hubfront-maskable-512.png", 512, "maskable"))
# the app shell, relative to portal/static/: what every portal page loads of the portal's own
SHELL = ("portal.css", "portal.js", "hubfront-live.js", "pwa.js", "confirm.js", "home.js",
         *(icon for icon, _, _ in ICONS))
WORKER = "hubfront-sw.js"
CACHE_PREFIX = "hubfront-shell-"


def static_url(hub_base: str, name: str) -> str:
    return f"{hub_base}portal/static/{name}"


def manifest(hub_base: str) -> dict:
    """The web app manifest; ``hub_base`` is the hub's prefix (``/hub/``)."""
    return {
        "id": f"{hub_base}home",
        "name": NAME,
        "short_name": NAME,
        "description": "Notebooks, jobs, deployments and files of your groups, in a window of its own.",
        "start_url": f"{hub_base}home",
        "scope": hub_base,
        "display": "standalone",
        "theme_color": THEME_COLOR,
        "background_color": BACKGROUND_COLOR,
        "icons": [{"src": static_url(hub_base, path), "sizes": f"{size}x{size}", "type": "image/png",
                   "purpose": purpose} for path, size, purpose in ICONS],
    }


def worker_config(hub_base: str, app_base: str, static_dir: str) -> dict:
    """What the service worker keeps (``shell``, in a cache named after their contents, so a new release's
    shell replaces the old one) and the prefixes it never answers for (the REST API, users' servers)."""
    digest = hashlib.sha256()
    for name in SHELL:
        path = Path(static_dir) / name
        digest.update(name.encode() + b"\0" + (path.read_bytes() if path.exists() else b""))
    return {"cache": CACHE_PREFIX + digest.hexdigest()[:16], "scope": hub_base,
            "shell": [static_url(hub_base, name) for name in SHELL],
            "never": [f"{hub_base}api/", f"{app_base}user/"]}


def worker_script(config: dict, static_dir: str) -> str:
    """The service worker: its config, then static/hubfront-sw.js."""
    body = (Path(static_dir) / WORKER).read_text()
    return f"self.HUBFRONT_SHELL = {json.dumps(config)};\n{body}"
