"""The desktop app (issue 26): the portal's web app manifest (Lighthouse's installability checks), its service
worker's rules (the app shell only, never the API or users' servers), the home's Desktop & SSH panel, and the
``hubfront.pyz`` client downloaded from the hub and run as a user would, against the hub, with a token."""

from __future__ import annotations

import asyncio
import json
import os
import re
import struct
import sys

import asyncssh
from conftest_helpers import login, make_user
from jupyterhub.tests.utils import async_requests, public_url

from hub_ext.ssh.settings import SSHGateway

WINDOWS = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36"


def png_size(data: bytes) -> tuple[int, int]:
    """A PNG's width and height, from its IHDR chunk (after checking it is a PNG at all)."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    assert data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


async def test_the_manifest_passes_the_installability_checks_and_every_page_links_it(app):
    base, hub = public_url(app), app.hub.base_url  # MockHub's prefix: /@/space%20word/hub/
    r = await async_requests.get(base + "hub/portal/manifest.webmanifest")  # no login: browsers send no cookies
    assert r.status_code == 200
    assert r.headers["Content-Type"].startswith("application/manifest+json")
    m = r.json()
    assert m["name"] == "Hubfront" and m["short_name"] and len(m["short_name"]) <= 12
    assert m["display"] == "standalone"
    assert m["scope"] == hub and m["start_url"] == f"{hub}home" and m["start_url"].startswith(m["scope"])
    assert re.fullmatch(r"#[0-9a-f]{6}", m["theme_color"]) and re.fullmatch(r"#[0-9a-f]{6}", m["background_color"])
    sizes = {}
    for icon in m["icons"]:
        assert icon["type"] == "image/png"
        assert icon["src"].startswith(f"{hub}portal/static/icons/")
        got = await async_requests.get(base + icon["src"].removeprefix(app.base_url))
        assert got.status_code == 200 and got.headers["Content-Type"] == "image/png", icon
        width, height = png_size(got.content)
        assert icon["sizes"] == f"{width}x{height}", icon  # declared as it really is
        sizes.setdefault(icon["purpose"], set()).add(width)
    assert {192, 512} <= sizes["any"]
    # linked from every page's head, the login page's too, with the same theme colour
    await make_user(app, "dsk-ann", groups=["dsk-lab"])
    s = await login(app, "dsk-ann")
    for page in [(await async_requests.get(base + "hub/login")).text, (await s.get("hub/home")).text,
                 (await s.get("hub/portal/ssh-keys")).text]:
        head = page.split("</head>")[0]
        assert f'<link rel="manifest" href="{hub}portal/manifest.webmanifest"' in head
        assert f'<meta name="theme-color" content="{m["theme_color"]}"' in head
        assert f"{hub}portal/static/pwa.js" in page


async def test_the_service_worker_keeps_the_app_shell_only(app):
    base, hub = public_url(app), app.hub.base_url
    r = await async_requests.get(base + "hub/portal/sw.js")
    assert r.status_code == 200 and r.headers["Content-Type"].startswith("text/javascript")
    assert r.headers["Service-Worker-Allowed"] == hub  # a scope over every hub page, the home included
    first, _, body = r.text.partition("\n")
    config = json.loads(first.removeprefix("self.HUBFRONT_SHELL = ").removesuffix(";"))
    assert config["scope"] == hub and config["cache"].startswith("hubfront-shell-")
    assert config["never"] == [f"{hub}api/", f"{app.base_url}user/"]
    assert f"{hub}portal/static/portal.css" in config["shell"] and f"{hub}portal/static/portal.js" in config["shell"]
    for path in config["shell"]:  # the portal's own static files, nothing else, and each one there
        assert path.startswith(f"{hub}portal/static/"), path
        assert "/api/" not in path and "/user/" not in path
        assert (await async_requests.get(base + path.removeprefix(app.base_url))).status_code == 200, path
    assert "caches.open" in body and "cache.put(url.pathname" in body  # what it puts: shell paths only
    assert body.count("cache.put(") == 2


async def test_the_home_shows_the_desktop_and_ssh_panel(app):
    await make_user(app, "dsk-bo", groups=["dsk-lab"])
    s = await login(app, "dsk-bo")
    port = SSHGateway.instance().shown_port()
    page = (await s.get("hub/home")).text
    panel = page.split('id="hf-desktop"')[1].split("</section>")[0]
    host = "127.0.0.1"
    assert f'>ssh -p {port} dsk-bo@{host}</pre>' in panel
    assert f'>ssh -p {port} dsk-bo+dsk-lab@{host}</pre>' in panel
    assert f'>sftp -P {port} dsk-bo+dsk-lab@{host}</pre>' in panel
    assert f'>scp -P {port} data.tar.gz dsk-bo+dsk-lab@{host}:shared/</pre>' in panel
    assert f">rsync -a -e &#39;ssh -p {port}&#39; results/ dsk-bo+dsk-lab@{host}:shared/results/</pre>" in panel
    assert f">Host hubfront-dsk-lab\n    HostName {host}\n    Port {port}\n    User dsk-bo+dsk-lab</pre>" in panel
    assert "No SSH key yet" in panel and f'href="{app.hub.base_url}portal/ssh-keys"' in panel
    assert 'id="hf-install-app" hidden' in panel  # shown by pwa.js only when the browser offers it
    pyz = f"{public_url(app)}hub/portal/desktop/hubfront.pyz"
    assert f"curl -fsSL &#39;{pyz}&#39; -o ~/.local/bin/hubfront" in panel
    assert f"Invoke-WebRequest -Uri &#39;{pyz}&#39; -OutFile hubfront.pyz" in panel
    assert panel.index('id="hf-install-unix"') < panel.index('id="hf-install-windows"')  # not a Windows browser
    # with a key, and from Windows: the key counted, the PowerShell lines first
    key = asyncssh.generate_private_key("ssh-ed25519").export_public_key("openssh").decode()
    r = await s.api("POST", "/portal/me/ssh-keys", data=json.dumps({"name": "laptop", "public_key": key}))
    assert r.status_code == 201, r.text
    page = (await s.get("hub/home", headers={"User-Agent": WINDOWS})).text
    panel = page.split('id="hf-desktop"')[1].split("</section>")[0]
    assert "You have 1 SSH key." in panel and "No SSH key yet" not in panel
    assert panel.index('id="hf-install-windows"') < panel.index('id="hf-install-unix"')


async def _run(*argv, env=None) -> tuple[int, str, str]:
    """A subprocess, waited for without blocking the hub's loop (it answers the client)."""
    proc = await asyncio.create_subprocess_exec(*argv, env=env, stdout=asyncio.subprocess.PIPE,
                                                stderr=asyncio.subprocess.PIPE)
    try:
        out, err = await asyncio.wait_for(proc.communicate(), 60)
    except asyncio.TimeoutError:
        proc.kill()
        await proc.wait()
        raise
    return proc.returncode, out.decode(), err.decode()


async def test_the_downloaded_client_runs_on_its_own_against_the_hub(app, tmp_path):
    await make_user(app, "dsk-cy", groups=["dsk-lab"])
    s = await login(app, "dsk-cy")
    r = await async_requests.get(public_url(app) + "hub/portal/desktop/hubfront.pyz")  # as curl does: no cookie
    assert r.status_code == 200 and r.content.startswith(b"#!/usr/bin/env python3\n")
    again = await async_requests.get(public_url(app) + "hub/portal/desktop/hubfront.pyz")
    assert again.content == r.content  # built once per hub, then kept
    client = tmp_path / "hubfront"
    client.write_bytes(r.content)
    client.chmod(0o755)
    # -I -S: no site-packages, no hub_ext checkout on the path: the standard library and the archive only
    env = {k: v for k, v in os.environ.items() if not k.startswith(("JUPYTERHUB_", "HUBFRONT_", "PYTHON"))}
    rc, out, err = await _run(sys.executable, "-I", "-S", str(client), "--help", env=env)
    assert rc == 0 and "usage: hubfront" in out and "jobs" in out, err
    rc, out, err = await _run(sys.executable, "-I", "-S", str(client), "jobs", "list", "--help", env=env)
    assert rc == 0 and "--group" in out, err
    token = await s.api("POST", "/users/dsk-cy/tokens", data=json.dumps({"note": "pyz", "expires_in": 600}))
    assert token.status_code == 201, token.text
    env.update(HUBFRONT_URL=public_url(app).rstrip("/"), HUBFRONT_TOKEN=token.json()["token"])
    job = {"name": "from-the-pyz", "command": "true"}
    r = await s.api("POST", "/portal/groups/dsk-lab/jobs", data=json.dumps(job))
    assert r.status_code == 201, r.text
    rc, out, err = await _run(sys.executable, "-I", "-S", str(client), "jobs", "list", "--group", "dsk-lab", env=env)
    assert rc == 0, err
    assert out.splitlines()[0].split()[:3] == ["ID", "NAME", "PHASE"] and "from-the-pyz" in out
    rc, out, err = await _run(sys.executable, "-I", "-S", str(client), "jobs", "list", "--group", "dsk-lab",
                              env={**env, "HUBFRONT_TOKEN": "wrong"})
    assert rc == 2 and "from-the-pyz" not in out and err.strip()
