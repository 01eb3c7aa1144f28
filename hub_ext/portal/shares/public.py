"""The public side of share links: ``/hub/share/<token>[/<subpath>]``, no login, read-only.

A file link shows the file's name, size and a Download button (``?download=1`` sends it);
a folder link lists the folder read-only, with breadcrumbs inside it, file downloads and the
whole folder (or any folder below it) as a streamed zip (``?download=zip``). A password link
asks for the password first; the right one sets a signed, HttpOnly cookie scoped to the link's
path, so the browser is not asked again for a day. The one state change is that form's POST
(XSRF-checked like every hub form). Unknown token: 404; revoked or expired: 410, with a page
that says which. Paths are confined to the shared file or folder (``..`` -> 400).

Password guesses are slowed by the sign-in throttle (``auth.throttle``), counted per link
(``share link #<id>``, a name no user can have) and client address, never by a lock: a lock
would let anyone holding the link shut it for its rightful users. A guess made before its wait
is over gets 429 with ``Retry-After`` and the throttle's words, the password not even checked.
"""

from __future__ import annotations

import asyncio
import math
from datetime import datetime, timezone
from pathlib import Path
from urllib.parse import quote

from jupyterhub.handlers.base import BaseHandler

from ...auth.addresses import networks, request_address
from ...auth.throttle import LoginThrottle, retry_message
from ...policy import format_memory
from ...storage import zipstream
from ...storage.shares import Share, ShareStore, gone_message, password_mark, password_matches, state
from ..common.base import _PortalMixin
from ..files.service import TreeFiles

COOKIE = "hubfront-share"
COOKIE_DAYS = 1


def utc_text(iso: str) -> str:
    """``2030-06-01 14:00``: an ISO time (UTC) as the public pages show it."""
    return datetime.fromisoformat(iso).astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M")


class _Refused(Exception):
    def __init__(self, status: int, title: str, message: str):
        super().__init__(message)
        self.status, self.title, self.message = status, title, message


class SharePageHandler(_PortalMixin, BaseHandler):
    """GET: the link's page or download; POST: the password form."""

    @property
    def store(self) -> ShareStore:
        return ShareStore(self.db_url, self.hub.base_url)

    # -- what the token opens ---------------------------------------------------------

    def opened(self, token: str) -> Share:
        from ...storage.kube import UNREACHABLE, hub_reaches_group_storage

        if not hub_reaches_group_storage(self.hubfront.config):
            raise _Refused(404, "No share links on this deployment", UNREACHABLE)
        share = self.store.find(token)
        if share is None:
            raise _Refused(404, "No such share link", "This share link does not exist. Check that it was copied whole.")
        if state(share) != "active":
            title = "Share link revoked" if share.revoked is not None else "Share link expired"
            raise _Refused(410, title, gone_message(share))
        return share

    def unlocked(self, share: Share) -> bool:
        if not share.password_hash:
            return True
        mark = self.get_secure_cookie(COOKIE, max_age_days=COOKIE_DAYS)
        return mark is not None and mark.decode(errors="replace") == password_mark(share)

    def target(self, share: Share, subpath: str) -> tuple[Path, Path, str]:
        """(group root, real path, cleaned subpath) of ``subpath`` inside the shared file or folder."""
        from ...storage.paths import BadPath, resolve
        from ...storage.tree import group_root

        root = group_root(self.hubfront.data_dir, share.group)
        try:
            shared = resolve(root, share.path)
            real = resolve(shared, subpath)
        except BadPath as exc:
            raise _Refused(400, "Bad path", f"Path: {exc}") from None
        except (FileNotFoundError, NotADirectoryError):
            raise _Refused(404, "Not found", "There is no such file or folder in this share.") from None
        if subpath and not shared.is_dir():
            raise _Refused(404, "Not found", "This link shares one file only.")
        from ...storage.paths import clean

        return root, real, clean(subpath)

    def link_base(self, token: str) -> str:
        return f"{self.hub.base_url}share/{token}"

    async def refuse(self, exc: _Refused) -> None:
        self.set_status(exc.status)
        html = await self.render_template("portal/share_gone.html", title=exc.title, message=exc.message,
                                          status=exc.status)
        self.finish(html)

    # -- GET ------------------------------------------------------------------------------

    async def get(self, token, subpath=""):
        try:
            share = self.opened(token)
            if not self.unlocked(share):
                return await self.ask_password(share, token, wrong=False)
            root, real, sub = self.target(share, subpath or "")
            download = self.get_query_argument("download", "")
            if real.is_dir():
                if download == "zip":
                    return await self.send_zip(share, root, real, sub)
                return await self.show_folder(share, token, root, real, sub)
            if download:
                return await self.send_file(share, root, real)
            return await self.show_file(share, token, real, sub)
        except _Refused as exc:
            await self.refuse(exc)

    async def ask_password(self, share: Share, token: str, wrong: bool, wait: float = 0,
                           refused: bool = False) -> None:
        """The password form: 403 after a wrong one, 429 (``Retry-After``) for a guess made too soon."""
        self.set_status(429 if refused else 403 if wrong else 200)
        if refused:
            self.set_header("Retry-After", str(math.ceil(wait)))
        html = await self.render_template("portal/share_password.html", wrong=wrong, refused=refused,
                                          retry=retry_message(wait) if wait else "", action=self.request.path,
                                          xsrf=self.xsrf_token.decode("ascii"))
        self.finish(html)

    async def show_folder(self, share: Share, token: str, root: Path, real: Path, sub: str) -> None:
        listing = await asyncio.to_thread(TreeFiles(root).listing, real)
        await self.render_page(share, token, sub, kind="folder", entries=listing["entries"])

    async def show_file(self, share: Share, token: str, real: Path, sub: str) -> None:
        st = real.stat()
        await self.render_page(share, token, sub, kind="file", size=st.st_size,
                               mtime=datetime.fromtimestamp(st.st_mtime, timezone.utc).isoformat())

    async def render_page(self, share: Share, token: str, sub: str, **ns) -> None:
        base = self.link_base(token)
        top = share.path.rsplit("/", 1)[-1] or share.group
        crumbs = [(top, base)]
        parts = sub.split("/") if sub else []
        for i, part in enumerate(parts):
            crumbs.append((part, f"{base}/{quote('/'.join(parts[: i + 1]))}"))
        here = crumbs[-1][1]
        html = await self.render_template(
            "portal/share.html", crumbs=crumbs, here=here, shared_name=crumbs[-1][0], quote=quote,
            expires=share.expires, fmt_size=format_memory, utc_text=utc_text, **ns)
        self.finish(html)

    # -- downloads -------------------------------------------------------------------------

    async def send_file(self, share: Share, root: Path, real: Path) -> None:
        from ...storage.paths import BadPath

        try:
            fd = TreeFiles(root).open(real)
        except (BadPath, OSError):
            raise _Refused(404, "Not found", "There is no such file in this share.") from None
        self.store.count_download(share)
        await zipstream.send_file(self, fd, real.name)

    async def send_zip(self, share: Share, root: Path, real: Path, sub: str) -> None:
        name = (sub.rsplit("/", 1)[-1] if sub else share.path.rsplit("/", 1)[-1]) or share.group
        self.store.count_download(share)
        await zipstream.send_folder(self, root, real, name)

    # -- POST: the password ------------------------------------------------------------------

    def throttle(self) -> tuple[LoginThrottle, str]:
        """The one sign-in throttle and the client's address as it counts them (``auth.addresses``)."""
        auth = self.authenticator
        if isinstance(getattr(auth, "throttle", None), LoginThrottle):
            return auth.throttle, auth.client_address(self)
        # another authenticator: the same throttle's settings (c.LoginThrottle), one instance per hub
        throttle = self.settings.setdefault("hubfront_share_throttle", LoginThrottle(config=self.config,
                                                                                     db_url=self.db_url))
        downstream = networks(getattr(getattr(auth, "parent", None), "trusted_downstream_ips", None) or [])
        return throttle, request_address(self.request, throttle.trusted, downstream)

    async def post(self, token, subpath=""):
        try:
            share = self.opened(token)
        except _Refused as exc:
            return await self.refuse(exc)
        if share.password_hash:
            throttle, address = self.throttle()
            counter = f"share link #{share.id}"
            wait = await asyncio.to_thread(throttle.check, counter, address)
            if wait > 0:  # answered at once: the password is not even looked at
                return await self.ask_password(share, token, wrong=True, wait=wait, refused=True)
            password = self.get_body_argument("password", "")
            if not await asyncio.to_thread(password_matches, share, password):
                wait = await asyncio.to_thread(throttle.record_failure, counter, address)
                return await self.ask_password(share, token, wrong=True, wait=wait)
            await asyncio.to_thread(throttle.record_success, counter, address)
            self.set_secure_cookie(COOKIE, password_mark(share), expires_days=COOKIE_DAYS,
                                   path=self.link_base(token), httponly=True, samesite="Lax",
                                   secure=self.request.protocol == "https")
        self.redirect(self.request.path, status=303)


_TOKEN = r"([A-Za-z0-9_-]+)"
handlers = [
    (rf"/share/{_TOKEN}/?", SharePageHandler),
    (rf"/share/{_TOKEN}/(.+)", SharePageHandler),
]
