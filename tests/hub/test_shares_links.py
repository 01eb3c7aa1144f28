"""Share links on a MockHub: a member makes one, anyone opens it without logging in; revoked or
expired -> 410 with a page that says so; unknown tokens -> 404; a password is asked for; a share
reaches nothing outside its file or folder; other groups' members see nothing (404)."""

from __future__ import annotations

import asyncio
import io
import re
import secrets
import zipfile
from datetime import datetime, timedelta, timezone
from urllib.parse import urljoin

from jupyterhub.tests.utils import async_requests, public_url
from sqlalchemy import update

from conftest_helpers import login, make_user
from support import REPO
from test_accounts_login import client, clock  # noqa: F401 - the fixture, shared
from hub_ext import activity
from hub_ext.settings import Hubfront
from hub_ext.storage.tree import group_root
from hub_ext.store import session_scope
from hub_ext.store.models_storage import Share

GROUP = "hfsh-lab"
CSV = b"name,score\nada,3\nbob,5\n"


def tree():
    root = group_root(Hubfront.instance().data_dir, GROUP)
    (root / "reports" / "q1").mkdir(parents=True, exist_ok=True)
    (root / "reports" / "summary.csv").write_bytes(CSV)
    (root / "reports" / "q1" / "notes.txt").write_text("first quarter\n")
    (root / "secret.txt").write_text("members only\n")
    link = root / "reports" / "escape"
    if not link.is_symlink():
        link.symlink_to(root / "secret.txt")
    return root


async def anonymous(app, path, method="GET", **kw):
    """A request without login; ``path`` is absolute (the links' ``url``: under the hub's prefix)."""
    kw.setdefault("allow_redirects", False)
    return await async_requests.request(method, urljoin(public_url(app), path), **kw)


async def members(app):
    await make_user(app, "hfsh-ann", groups=[GROUP])
    await make_user(app, "hfsh-bob", groups=[GROUP])
    await make_user(app, "hfsh-eve", groups=["hfsh-other"])
    tree()
    return await login(app, "hfsh-ann")


async def make_share(ann, path, **fields):
    r = await ann.api("POST", f"/portal/groups/{GROUP}/shares", json={"path": path, **fields})
    assert r.status_code == 201, r.text
    data = r.json()
    assert data["url"] == f"{ann.app.hub.base_url}share/{data['token']}" and len(data["token"]) == 22
    return data


def title_of(html: str) -> str:
    return re.search(r'id="hf-share-title">([^<]*)<', html).group(1)


async def test_anonymous_download_then_revoked_410(app):
    ann = await members(app)
    share = await make_share(ann, "reports/summary.csv")
    page = await anonymous(app, share["url"])
    assert page.status_code == 200 and "summary.csv" in page.text and 'id="hf-share-download"' in page.text
    r = await anonymous(app, share["url"] + "?download=1")
    assert r.status_code == 200 and r.content == CSV
    assert r.headers["Content-Disposition"].startswith('attachment; filename="summary.csv"')
    assert r.headers["X-Content-Type-Options"] == "nosniff"
    listed = (await ann.api("GET", f"/portal/groups/{GROUP}/shares")).json()["shares"]
    mine = next(s for s in listed if s["id"] == share["id"])
    assert mine["downloads"] == 1 and mine["state"] == "active" and "token" not in mine
    assert not any(share["token"] in str(s) for s in listed)
    # a link to one file reaches nothing below it
    assert (await anonymous(app, share["url"] + "/x")).status_code == 404

    r = await ann.api("DELETE", f"/portal/groups/{GROUP}/shares/{share['id']}")
    assert r.status_code == 204
    for path in (share["url"], share["url"] + "?download=1"):
        gone = await anonymous(app, path)
        assert gone.status_code == 410 and "This share link was revoked." in gone.text
        assert CSV.decode() not in gone.text
    events = [(a.action, a.username) for a in activity.recent(Hubfront.instance().db_url, group=GROUP)]
    assert ("share-revoked", "hfsh-ann") in events and ("share-created", "hfsh-ann") in events


async def test_expired_link_410(app):
    ann = await members(app)
    soon = (datetime.now(timezone.utc) + timedelta(days=1)).isoformat()
    share = await make_share(ann, "reports", expires=soon)
    assert (await anonymous(app, share["url"])).status_code == 200
    with session_scope(Hubfront.instance().db_url) as s:
        s.execute(update(Share).where(Share.id == share["id"]).values(expires=datetime(2021, 3, 4, 5, 6)))
    for path in (share["url"], share["url"] + "/summary.csv?download=1", share["url"] + "?download=zip"):
        gone = await anonymous(app, path)
        assert gone.status_code == 410, path
        assert title_of(gone.text) == "Share link expired"
        assert "This share link expired on 2021-03-04 05:06 UTC." in gone.text


async def test_random_tokens_are_404(app):
    await members(app)
    tokens = [secrets.token_urlsafe(16) for _ in range(1000)]
    statuses = []
    for i in range(0, len(tokens), 50):
        batch = await asyncio.gather(*(anonymous(app, f"{app.hub.base_url}share/{t}") for t in tokens[i:i + 50]))
        statuses += [r.status_code for r in batch]
    assert statuses == [404] * 1000
    r = await anonymous(app, f"{app.hub.base_url}share/{tokens[0]}")
    assert title_of(r.text) == "No such share link"


async def test_folder_listing_downloads_and_zip(app):
    ann = await members(app)
    share = await make_share(ann, "reports")
    page = await anonymous(app, share["url"])
    assert page.status_code == 200
    assert 'data-name="summary.csv"' in page.text and 'data-name="q1"' in page.text
    assert 'data-name="escape"' not in page.text  # links are not listed
    sub = await anonymous(app, share["url"] + "/q1")
    assert sub.status_code == 200 and 'data-name="notes.txt"' in sub.text
    assert f'href="{share["url"]}">reports</a>' in sub.text  # breadcrumbs lead back inside the share
    r = await anonymous(app, share["url"] + "/q1/notes.txt?download=1")
    assert r.status_code == 200 and r.content == b"first quarter\n"
    r = await anonymous(app, share["url"] + "?download=zip")
    assert r.status_code == 200 and r.headers["Content-Type"] == "application/zip"
    names = set(zipfile.ZipFile(io.BytesIO(r.content)).namelist())
    assert {"summary.csv", "q1/", "q1/notes.txt"} <= names and not any("escape" in n for n in names)


async def test_a_share_reaches_nothing_outside_its_folder(app):
    ann = await members(app)
    share = await make_share(ann, "reports")
    for sub in ("/..%2Fsecret.txt?download=1", "/%2E%2E/secret.txt?download=1", "/q1/%2e%2e/%2e%2e/secret.txt",
                "/escape?download=1", "/%00?download=1", "/nothing.txt?download=1"):
        r = await anonymous(app, share["url"] + sub)
        assert r.status_code in (400, 404), (sub, r.status_code)
        assert "members only" not in r.text, sub
    # a client that does not normalise ".." is answered inside the share too
    r = await anonymous(app, share["url"] + "/../../secret.txt")
    assert "members only" not in r.text


async def test_password_is_asked_for(app):
    ann = await members(app)
    share = await make_share(ann, "reports/summary.csv", password="tulip-42")
    assert (await ann.api("GET", f"/portal/groups/{GROUP}/shares")).json()["shares"][0]["password"] is True
    page = await anonymous(app, share["url"])
    assert page.status_code == 200 and 'name="password"' in page.text and "summary.csv" not in page.text
    r = await anonymous(app, share["url"] + "?download=1")
    assert CSV not in r.content and 'name="password"' in r.text
    cookies = dict(page.cookies)
    xsrf = re.search(r'name="_xsrf" value="([^"]+)"', page.text).group(1)
    # no XSRF token: refused
    r = await anonymous(app, share["url"], "POST", data={"password": "tulip-42"}, cookies=cookies)
    assert r.status_code == 403 and "hubfront-share" not in r.cookies
    wrong = await anonymous(app, share["url"], "POST", data={"password": "tulip", "_xsrf": xsrf}, cookies=cookies)
    assert wrong.status_code == 403 and "Wrong password." in wrong.text and "hubfront-share" not in wrong.cookies
    right = await anonymous(app, share["url"], "POST", data={"password": "tulip-42", "_xsrf": xsrf}, cookies=cookies)
    assert right.status_code == 303
    cookie = next(c for c in right.cookies if c.name == "hubfront-share")
    assert cookie.path == share["url"] and cookie.has_nonstandard_attr("HttpOnly")
    cookies["hubfront-share"] = cookie.value
    r = await anonymous(app, share["url"] + "?download=1", cookies=cookies)
    assert r.status_code == 200 and r.content == CSV
    # the cookie opens this link only
    other = await make_share(ann, "reports", password="tulip-42")
    r = await anonymous(app, other["url"], cookies={"hubfront-share": cookie.value})
    assert 'name="password"' in r.text and 'data-name="summary.csv"' not in r.text


async def guess(app, session, url, password):
    """One password POST on a share link's form from ``session``'s address."""
    def run():
        page = session.get(urljoin(public_url(app), url))
        xsrf = re.search(r'name="_xsrf" value="([^"]+)"', page.text).group(1)
        return session.post(urljoin(public_url(app), url), data={"password": password, "_xsrf": xsrf},
                            allow_redirects=False)

    return await asyncio.to_thread(run)


async def test_guessing_a_link_password_slows_the_guesser_and_shuts_out_nobody(app, clock):
    """Wrong passwords are throttled like sign-ins (per link and address), never a lock: whoever else
    holds the link still opens it, and the guesser gets in after the wait it was told."""
    ann = await members(app)
    share = await make_share(ann, "reports", password="tulip-42")
    other = await make_share(ann, "reports/summary.csv", password="tulip-42")
    throttle = app.authenticator.throttle
    guesser, holder = client("127.0.0.1"), client("127.0.0.2")
    counter = f"share link #{share['id']}"
    answers = [await guess(app, guesser, share["url"], f"guess-{i}") for i in range(6)]
    # five typos are free; the sixth wrong password says how long to wait
    assert [r.status_code for r in answers] == [403] * 6
    assert all("Wrong password." in r.text for r in answers)
    assert "Try again in" not in answers[4].text and "Try again in 1 second." in answers[5].text
    # inside the wait even the right password is refused unchecked: 429, Retry-After, the wait in words
    for _ in range(3):
        r = await guess(app, guesser, share["url"], "tulip-42")
        assert r.status_code == 429 and int(r.headers["Retry-After"]) == 1, r.status_code
        assert "Try again in 1 second." in r.text and "Wrong password" not in r.text
        assert "hubfront-share" not in r.cookies
    # more guesses, each once its wait is over: 12 in a row, past the 10 that used to shut the link
    for i in range(6):
        clock.advance(throttle.check(counter, "127.0.0.1"))
        assert (await guess(app, guesser, share["url"], f"more-{i}")).status_code == 403
    assert throttle.check(counter, "127.0.0.1") >= 32  # the guesser's own wait doubles
    # the link is not shut: another holder waits at most the small link-wide wait (12 - 10: 2 s), then opens it
    r = await guess(app, holder, share["url"], "tulip-42")
    assert r.status_code == 429 and int(r.headers["Retry-After"]) <= 2
    clock.advance(2)
    r = await guess(app, holder, share["url"], "tulip-42")
    assert r.status_code == 303 and "hubfront-share" in r.cookies
    # the guesser's other link was never slowed; after its wait the right password opens this one too
    assert (await guess(app, guesser, other["url"], "tulip-42")).status_code == 303
    clock.advance(throttle.check(counter, "127.0.0.1"))
    r = await guess(app, guesser, share["url"], "tulip-42")
    assert r.status_code == 303 and "hubfront-share" in r.cookies
    assert throttle.check(counter, "127.0.0.1") == 0


async def test_share_api_rules(app):
    ann = await members(app)
    api = f"/portal/groups/{GROUP}/shares"
    for body, field in (({"path": "../x"}, "path"), ({"path": "/etc"}, "path"), ({"path": "missing.txt"}, "path"),
                        ({"path": "reports", "colour": "red"}, "colour"), ({"path": "reports", "expires": "soon"},
                                                                            "expires"), ({}, "path")):
        r = await ann.api("POST", api, json=body)
        assert r.status_code == 400 and field in r.json()["errors"], (body, r.text)
    share = await make_share(ann, "reports")
    # another group's member: the group and its links do not exist for them
    eve = await login(app, "hfsh-eve")
    assert (await eve.api("GET", api)).status_code == 404
    assert (await eve.api("POST", api, json={"path": "reports"})).status_code == 404
    assert (await eve.api("DELETE", f"{api}/{share['id']}")).status_code == 404
    # a share of another group is not found through one's own group
    assert (await eve.api("DELETE", f"/portal/groups/hfsh-other/shares/{share['id']}")).status_code == 404
    # another member sees the link but does not revoke someone else's
    bob = await login(app, "hfsh-bob")
    assert any(s["id"] == share["id"] for s in (await bob.api("GET", api)).json()["shares"])
    assert (await bob.api("DELETE", f"{api}/{share['id']}")).status_code == 403
    assert (await ann.api("DELETE", f"{api}/abc")).status_code == 404
    # XSRF: a cookie-authenticated change without the token is refused
    assert (await ann.api("POST", api, json={"path": "reports"}, xsrf=False)).status_code == 403
    assert (await anonymous(app, share["url"])).status_code == 200


async def test_the_files_page_is_in_the_menu(app):
    ann = await members(app)
    r = await ann.get("hub/portal/files")
    assert r.status_code == 200 and 'id="hf-files-page"' in r.text and f'data-group="{GROUP}"' in r.text
    assert "Shared Files" in r.text and "portal/vendor/tus/tus.min.js" in r.text
    r = await ann.get("hub/portal/files/reports/q1")
    assert r.status_code == 200 and 'data-folder="reports/q1"' in r.text
    js = await async_requests.get(public_url(app) + "hub/portal/vendor/tus/tus.min.js")
    assert js.status_code == 200 and "tus" in js.text[:2000]
    assert (REPO / "node_modules" / "tus-js-client" / "dist" / "tus.min.js").stat().st_size == len(js.content)
