"""The SSH keys page and /hub/api/portal/me/ssh-keys (issue 26): add, list with fingerprints, remove; bad keys
named in plain words; one's own keys only; XSRF; each change an activity; the gateway's command and host keys."""

import json

import asyncssh

from conftest_helpers import login, make_user
from hub_ext import activity
from hub_ext.settings import Hubfront


def public(comment: str = "ann@laptop") -> str:
    return asyncssh.generate_private_key("ssh-ed25519", comment=comment).export_public_key("openssh").decode()


async def test_keys_are_added_listed_and_removed_through_the_api_as_activities(app):
    await make_user(app, "sshk-ann", groups=["sshk-lab"])
    await make_user(app, "sshk-bob", groups=["sshk-lab"])
    s = await login(app, "sshk-ann")
    line = public()
    r = await s.api("POST", "/portal/me/ssh-keys", data=json.dumps({"name": "laptop", "public_key": line}))
    assert r.status_code == 201, r.text
    key = r.json()
    assert key["fingerprint"] == asyncssh.import_public_key(line).get_fingerprint("sha256")
    assert (key["name"], key["type"], key["last_used"]) == ("laptop", "ssh-ed25519", None)
    listing = (await s.api("GET", "/portal/me/ssh-keys")).json()
    assert listing["keys"] == [key]
    gateway = listing["gateway"]
    assert gateway["enabled"] and gateway["port"] > 0
    assert {k["type"] for k in gateway["host_keys"]} == {"ssh-ed25519", "ecdsa-sha2-nistp256", "ssh-rsa"}
    # bad and repeated keys are refused naming the field; nothing is stored
    r = await s.api("POST", "/portal/me/ssh-keys", data=json.dumps({"name": "x", "public_key": "hello"}))
    assert r.status_code == 400
    assert r.json()["errors"]["public_key"].startswith("Public key: not an OpenSSH public key")
    r = await s.api("POST", "/portal/me/ssh-keys", data=json.dumps({"name": "again", "public_key": line}))
    assert r.status_code == 400 and "added this key already (as laptop)" in r.json()["message"]
    r = await s.api("POST", "/portal/me/ssh-keys", xsrf=False, data=json.dumps({"name": "x", "public_key": public()}))
    assert r.status_code == 403
    assert len((await s.api("GET", "/portal/me/ssh-keys")).json()["keys"]) == 1
    # another user sees none of them and cannot remove them
    bob = await login(app, "sshk-bob")
    assert (await bob.api("GET", "/portal/me/ssh-keys")).json()["keys"] == []
    assert (await bob.api("DELETE", f"/portal/me/ssh-keys/{key['id']}")).status_code == 404
    assert (await s.api("DELETE", "/portal/me/ssh-keys/nope")).status_code == 404
    assert (await s.api("DELETE", f"/portal/me/ssh-keys/{key['id']}")).status_code == 204
    assert (await s.api("GET", "/portal/me/ssh-keys")).json()["keys"] == []
    events = [(a.action, a.message) for a in activity.recent(Hubfront.instance().db_url, username="sshk-ann")
              if a.kind == "ssh"]
    assert events == [("key-removed", f"SSH key laptop removed ({key['fingerprint']})"),
                      ("key-added", f"SSH key laptop added ({key['fingerprint']})")]


async def test_the_page_adds_lists_and_removes_keys_and_shows_how_to_connect(app):
    await make_user(app, "sshk-cy", groups=["sshk-lab"])
    s = await login(app, "sshk-cy")
    page = (await s.get("hub/portal/ssh-keys")).text
    assert "No keys yet." in page and "ssh -p " in page and "sshk-cy@" in page and "sshk-cy+sshk-lab@" in page
    assert page.count('class="font-monospace hf-host-fingerprint">SHA256:') == 3
    assert "Host hubfront-sshk-lab\n    HostName " in page and "    User sshk-cy+sshk-lab</code>" in page
    r = await s.post("hub/portal/ssh-keys", {"name": "", "public_key": "ssh-rsa AAAA"})
    assert r.status_code == 400 and "Public key: not an OpenSSH public key" in r.text
    assert 'value="ssh-rsa AAAA"' not in r.text and "ssh-rsa AAAA</textarea>" in r.text  # kept for fixing
    r = await s.post("hub/portal/ssh-keys", {"name": "desk", "public_key": public("cy@desk")})
    assert r.status_code == 200 and "SSH key desk added." in r.text and "never" in r.text
    [key] = (await s.api("GET", "/portal/me/ssh-keys")).json()["keys"]
    assert key["fingerprint"] in r.text
    r = await s.post(f"hub/portal/ssh-keys/{key['id']}/remove", {}, xsrf=False)
    assert r.status_code == 403
    r = await s.post(f"hub/portal/ssh-keys/{key['id']}/remove", {})
    assert r.status_code == 200 and "SSH key removed." in r.text and "No keys yet." in r.text
