"""The SSH gateway on the real hub, with Debian's own OpenSSH client (issue 26): a key added through the API
signs in, the session runs as the user's OS account in their running notebook (home, ~/shared), the host
key is the one the API shows, SFTP puts and gets files as that account, wrong keys and tokens are refused
(and counted by the login throttle), another group's member cannot read the group's storage, and the hub's
stop ends the gateway.
"""

from __future__ import annotations

import grp
import hashlib
import os
import pwd
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from hub_ext.isolation.names import unix_group_name
from support import (
    ACCOUNT_PREFIX, catalog_hub, free_port, leftover_processes, make_groups, need, proxy_command, stop_leftover_servers,
    thaw, until, user_token, wait_for_server,
)

pytestmark = [pytest.mark.e2e, pytest.mark.isolation]

PASSWORD = "ssh-Passw0rd!"
TINY = {"name": "ssh-tiny", "display_name": "Tiny", "cpu": "500m", "memory": "768Mi"}
SFTP_SERVER = "/usr/lib/openssh/sftp-server"


@pytest.fixture(scope="module")
def hub(tmp_path_factory):
    need(proxy_command() is not None, "configurable-http-proxy is not installed (run `make test`)")
    need(os.geteuid() == 0, "SSH sessions run as the users' OS accounts: the hub must run as root (CI does)")
    need(all(shutil.which(b) for b in ("ssh", "sftp", "ssh-keygen", "scp")),
         "Debian's openssh-client is not installed (make os-tools)")
    need(os.path.exists(SFTP_SERVER), "Debian's openssh-sftp-server is not installed (make os-tools)")
    work = tmp_path_factory.mktemp("ssh-e2e")
    # a slowed address waits long enough that no test sees its wait end
    hub = catalog_hub(work, [TINY], config="c.LoginThrottle.pair_base_seconds = 600.0\n"
                      "c.SSHGateway.allow_remote_forwarding = True\nc.SSHGateway.allow_agent_forwarding = True\n"
                      "c.QuotaGuard.interval = 1.0\n")
    hub.ssh_port = free_port()
    hub.extra_env["HUBFRONT_SSH_PORT"] = str(hub.ssh_port)
    hub.work = work
    hub.start()
    try:
        make_groups(hub, {"sshg": {"instance_types": ["ssh-tiny"]}, "sshg-other": {"instance_types": ["ssh-tiny"]},
                          "sshg-full": {"instance_types": ["ssh-tiny"], "quota": {"sessions": 0}},
                          "sshg-small": {"instance_types": ["ssh-tiny"], "quota": {"storage": "20Mi"}}})
        hub.add_user("sa-ann", PASSWORD, ["sshg", "sshg-full"])
        hub.add_user("sa-bob", PASSWORD, ["sshg-other"])
        hub.add_user("sa-eve", PASSWORD, ["sshg"])
        hub.add_user("sa-cy", PASSWORD, ["sshg"])
        hub.add_user("sa-dee", PASSWORD, ["sshg-small"])
        yield hub
    finally:
        hub.close()
        thaw(hub.data_dir)


def keygen(path: Path) -> str:
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", f"{path.name}@e2e", "-f", str(path)],
                   check=True)
    return (path.with_suffix(".pub")).read_text()


def fingerprint(pub: Path) -> str:
    return subprocess.run(["ssh-keygen", "-lf", str(pub)], capture_output=True, text=True, check=True).stdout.split()[1]


def ssh_options(hub, known_hosts: Path) -> list[str]:
    return ["-o", "BatchMode=yes", "-o", f"UserKnownHostsFile={known_hosts}", "-o", "StrictHostKeyChecking=accept-new",
            "-o", "IdentitiesOnly=yes", "-o", "ConnectTimeout=30", "-F", "/dev/null"]


def ssh(hub, login: str, key: Path, command: str, known_hosts: Path, timeout: float = 120):
    return subprocess.run(["ssh", "-p", str(hub.ssh_port), "-i", str(key), *ssh_options(hub, known_hosts),
                           f"{login}@127.0.0.1", command], capture_output=True, text=True, timeout=timeout)


def sftp(hub, login: str, key: Path, batch: str, known_hosts: Path, timeout: float = 180):
    script = hub.work / f"batch-{time.monotonic_ns()}"
    script.write_text(batch)
    return subprocess.run(["sftp", "-P", str(hub.ssh_port), "-i", str(key), *ssh_options(hub, known_hosts),
                           "-b", str(script), f"{login}@127.0.0.1"], capture_output=True, text=True, timeout=timeout)


def with_token(hub, login: str, token: str, command: str, known_hosts: Path):
    """``ssh`` signing in with ``token`` as the password (handed over by SSH_ASKPASS, as a script would)."""
    askpass = hub.work / f"askpass-{time.monotonic_ns()}"
    askpass.write_text(f"#!/bin/sh\necho '{token}'\n")
    askpass.chmod(0o700)
    env = {**os.environ, "SSH_ASKPASS": str(askpass), "SSH_ASKPASS_REQUIRE": "force", "DISPLAY": ":0"}
    return subprocess.run(
        ["ssh", "-p", str(hub.ssh_port), "-o", f"UserKnownHostsFile={known_hosts}", "-o",
         "StrictHostKeyChecking=accept-new", "-o", "PubkeyAuthentication=no", "-o", "PreferredAuthentications=password",
         "-o", "NumberOfPasswordPrompts=1", "-o", "ConnectTimeout=30", "-F", "/dev/null", f"{login}@127.0.0.1", command],
        capture_output=True, text=True, timeout=120, env=env, stdin=subprocess.DEVNULL)


def launch(hub, session, user: str, group: str) -> None:
    r = session.api("POST", f"/users/{user}/servers/{group}",
                    json={"group": group, "instance_type": "ssh-tiny", "image": "base"})
    assert r.status_code in (201, 202), r.text
    wait_for_server(session, user, group, timeout=300, hub=hub)


@pytest.fixture(scope="module")
def ann(hub):
    """sa-ann with a key added through the API, and her notebook in sshg running."""
    session = hub.login("sa-ann", PASSWORD)
    key = hub.work / "ann_key"
    public = keygen(key)
    r = session.api("POST", "/portal/me/ssh-keys", json={"name": "laptop", "public_key": public})
    assert r.status_code == 201, r.text
    assert r.json()["fingerprint"] == fingerprint(key.with_suffix(".pub"))
    return session, key


@pytest.fixture(scope="module")
def cy(hub):
    """sa-cy, another member of sshg, with a key and her notebook there running; her key's path."""
    session = hub.login("sa-cy", PASSWORD)
    key = hub.work / "cy_key"
    assert session.api("POST", "/portal/me/ssh-keys", json={"name": "cy", "public_key": keygen(key)}).status_code == 201
    launch(hub, session, "sa-cy", "sshg")
    return key


def test_a_key_signs_in_and_starts_the_notebook_or_says_why_it_cannot(hub, ann):
    session, key = ann
    known = hub.work / "kh-ann"
    out = ssh(hub, "sa-ann+sshg-full", key, "id -un", known, timeout=300)
    assert out.returncode == 1, out
    assert "Your notebook in sshg-full could not start: Sessions: used 0 + requested 1 > limit 0" in out.stderr, out
    out = ssh(hub, "sa-ann", key, "id -un", known, timeout=300)
    assert out.returncode == 0, out
    assert "Starting your notebook in sshg..." in out.stderr and out.stdout.strip() == f"{ACCOUNT_PREFIX}sa-ann", out
    assert session.api("GET", "/users/sa-ann").json()["servers"]["sshg"]["ready"]


def test_ssh_runs_as_the_users_account_in_their_notebook_with_the_host_key_the_page_shows(hub, ann):
    session, key = ann
    known = hub.work / "kh-ann"
    out = ssh(hub, "sa-ann", key, "id -un; pwd; ls -d ~/shared && echo $HUBFRONT_GROUP", known)
    assert out.returncode == 0, out
    account, home, shared, group = out.stdout.split()
    assert account == f"{ACCOUNT_PREFIX}sa-ann"
    assert home == str(hub.data_dir / "homes" / "sa-ann")
    assert shared.endswith("/shared") and group == "sshg"
    # the host key ssh saved is one the API (and so the page) shows
    saved = subprocess.run(["ssh-keygen", "-lf", str(known)], capture_output=True, text=True, check=True).stdout
    listing = session.api("GET", "/portal/me/ssh-keys").json()
    shown = {k["fingerprint"] for k in listing["gateway"]["host_keys"]}
    assert saved.split()[1] in shown
    assert listing["gateway"]["port"] == hub.ssh_port
    [row] = listing["keys"]
    assert row["name"] == "laptop" and row["type"] == "ssh-ed25519" and row["last_used"]
    # user+group picks the group; a group she is not in is refused in words
    out = ssh(hub, "sa-ann+sshg", key, "id -un", known)
    assert out.returncode == 0 and out.stdout.strip() == f"{ACCOUNT_PREFIX}sa-ann", out
    out = ssh(hub, "sa-ann+sshg-other", key, "id -un", known)
    assert out.returncode == 1 and "You are not a member of group sshg-other" in out.stderr, out


def test_sftp_puts_and_gets_files_in_shared_storage_as_the_user(hub, ann, cy):
    _, key = ann
    local = hub.work / "payload.bin"
    local.write_bytes(os.urandom(50 * 1024 * 1024))
    back = hub.work / "payload-back.bin"
    out = sftp(hub, "sa-ann", key, f"put {local} shared/payload.bin\nget shared/payload.bin {back}\n", hub.work / "kh-ann")
    assert out.returncode == 0, out
    assert back.read_bytes() == local.read_bytes()
    stored = hub.data_dir / "groups" / "sshg" / "payload.bin"
    assert stored.stat().st_uid == pwd.getpwnam(f"{ACCOUNT_PREFIX}sa-ann").pw_uid
    assert stored.stat().st_gid == grp.getgrnam(unix_group_name(ACCOUNT_PREFIX, "sshg")).gr_gid
    # another member of the group reads it at once, over SSH from their own notebook
    out = ssh(hub, "sa-cy", cy, "sha256sum < ~/shared/payload.bin", hub.work / "kh-cy")
    assert out.returncode == 0 and out.stdout.split()[0] == hashlib.sha256(local.read_bytes()).hexdigest(), out
    # scp (SFTP underneath) the other way round
    scp_back = hub.work / "payload-scp.bin"
    out = subprocess.run(["scp", "-P", str(hub.ssh_port), "-i", str(key), *ssh_options(hub, hub.work / "kh-ann"),
                          "sa-ann@127.0.0.1:shared/payload.bin", str(scp_back)], capture_output=True, text=True,
                         timeout=180)
    assert out.returncode == 0, out
    assert scp_back.read_bytes() == local.read_bytes()


def test_an_interactive_shell_gets_a_terminal_of_its_own_and_its_exit_status(hub, ann):
    _, key = ann
    out = subprocess.run(["ssh", "-tt", "-p", str(hub.ssh_port), "-i", str(key), *ssh_options(hub, hub.work / "kh-ann"),
                          "sa-ann@127.0.0.1"], input="tty; echo term=$TERM; stty size; id -un; exit 3\n",
                         capture_output=True, text=True, timeout=120, env={**os.environ, "TERM": "xterm-256color"})
    assert out.returncode == 3, out
    assert "/dev/pts/" in out.stdout and "term=xterm-256color" in out.stdout, out
    assert f"{ACCOUNT_PREFIX}sa-ann" in out.stdout


def test_an_ssh_session_is_activity_of_the_notebook_for_the_idle_culler(hub, ann):
    from datetime import datetime, timezone

    session, key = ann
    before = datetime.now(timezone.utc)
    out = ssh(hub, "sa-ann", key, "sleep 1", hub.work / "kh-ann")
    assert out.returncode == 0, out

    def last_activity():
        server = session.api("GET", "/users/sa-ann").json()["servers"]["sshg"]
        return datetime.fromisoformat(server["last_activity"].replace("Z", "+00:00"))

    until(lambda: last_activity() >= before, timeout=60, what="the hub to see the SSH session as activity")


def test_legacy_scp_and_rsync_copy_directories_both_ways_as_the_user(hub, ann):
    _, key = ann
    source = hub.work / "results"
    (source / "sub").mkdir(parents=True)
    (source / "a.txt").write_text("alpha\n")
    (source / "sub" / "b.bin").write_bytes(os.urandom(300_000))
    ssh_cmd = " ".join(["ssh", "-p", str(hub.ssh_port), "-i", str(key), *ssh_options(hub, hub.work / "kh-ann")])
    out = subprocess.run(["rsync", "-a", "-e", ssh_cmd, f"{source}/", "sa-ann@127.0.0.1:shared/results/"],
                         capture_output=True, text=True, timeout=180)
    assert out.returncode == 0, out
    back = hub.work / "results-back"
    out = subprocess.run(["rsync", "-a", "-e", ssh_cmd, "sa-ann@127.0.0.1:shared/results/", f"{back}/"],
                         capture_output=True, text=True, timeout=180)
    assert out.returncode == 0, out
    assert (back / "sub" / "b.bin").read_bytes() == (source / "sub" / "b.bin").read_bytes()
    copied = hub.data_dir / "groups" / "sshg" / "results" / "sub" / "b.bin"
    assert copied.stat().st_uid == pwd.getpwnam(f"{ACCOUNT_PREFIX}sa-ann").pw_uid
    # legacy scp (-O: the scp protocol, a command run by the user's shell) both ways
    scp = ["scp", "-O", "-r", "-P", str(hub.ssh_port), "-i", str(key), *ssh_options(hub, hub.work / "kh-ann")]
    out = subprocess.run([*scp, str(source), "sa-ann@127.0.0.1:shared/by-scp"], capture_output=True, text=True,
                         timeout=180)
    assert out.returncode == 0, out
    out = subprocess.run([*scp, "sa-ann@127.0.0.1:shared/by-scp", str(hub.work / "scp-back")], capture_output=True,
                         text=True, timeout=180)
    assert out.returncode == 0, out
    assert (hub.work / "scp-back" / "a.txt").read_text() == "alpha\n"
    assert (hub.data_dir / "groups" / "sshg" / "by-scp" / "a.txt").stat().st_uid == copied.stat().st_uid


def test_each_ssh_sign_in_is_an_activity_naming_where_from_and_which_notebook(hub, ann):
    from hub_ext import activity

    logins = [a for a in activity.recent(hub.portal_db_url, username="sa-ann") if a.kind == "ssh"]
    assert any(a.action == "login" and a.group == "sshg" and "from 127.0.0.1 into your notebook in sshg" in a.message
               for a in logins), logins
    assert any(a.action == "key-added" for a in logins)


def test_wrong_keys_and_tokens_are_refused_and_counted_a_right_token_signs_in(hub, ann):
    from hub_ext.auth.throttle import LoginThrottle

    session, _ = ann
    stranger = hub.work / "stranger_key"
    keygen(stranger)
    known = hub.work / "kh-wrong"
    out = ssh(hub, "sa-ann", stranger, "id -un", known)
    assert out.returncode == 255 and "Permission denied" in out.stderr, out
    out = with_token(hub, "sa-ann", "not-a-token", "id -un", known)
    assert out.returncode == 255 and "Permission denied" in out.stderr, out
    throttle = LoginThrottle(db_url=hub.portal_db_url)
    assert throttle.state("sa-ann").failures == 2  # one per refused connection: the login page's count
    token = user_token(session, "sa-ann", "ssh")
    out = with_token(hub, "sa-ann", token, "id -un", known)
    assert out.returncode == 0 and out.stdout.strip() == f"{ACCOUNT_PREFIX}sa-ann", out
    assert throttle.state("sa-ann").failures == 0
    # a token made only to read her name opens no shell
    r = session.api("POST", "/users/sa-ann/tokens", json={"note": "narrow", "scopes": ["read:users:name!user=sa-ann"]})
    assert r.status_code == 201, r.text
    out = with_token(hub, "sa-ann", r.json()["token"], "id -un", known)
    assert out.returncode == 255 and "Permission denied" in out.stderr, out
    # another user's token is no password of sa-ann's
    bob_token = user_token(hub.login("sa-bob", PASSWORD), "sa-bob", "ssh")
    out = with_token(hub, "sa-ann", bob_token, "id -un", known)
    assert out.returncode == 255 and "Permission denied" in out.stderr, out


def test_repeated_failures_slow_the_address_down_as_on_the_login_page(hub):
    eve = hub.login("sa-eve", PASSWORD)
    token = user_token(eve, "sa-eve", "ssh")
    known = hub.work / "kh-eve"
    for _ in range(6):  # 5 are free (typos), the 6th makes the next attempt wait
        out = with_token(hub, "sa-eve", "wrong-token", "true", known)
        assert out.returncode == 255, out
    out = with_token(hub, "sa-eve", token, "id -un", known)
    assert out.returncode == 255, out
    assert "Too many failed sign-in attempts. Try again in " in out.stderr, out
    # the login page keeps the same count: the right password is refused there too, for now
    r = eve.post(eve.url("/hub/login"), data={"username": "sa-eve", "password": PASSWORD,
                                              "_xsrf": eve.cookies.get("_xsrf", "")})
    assert "Too many failed sign-in attempts" in r.text


def test_two_factor_accounts_sign_in_with_keys_only(hub, ann):
    from hub_ext.store import session_scope
    from hub_ext.store.models_accounts import OtpCredential

    session, key = ann
    token = user_token(session, "sa-ann", "ssh-2fa")
    with session_scope(hub.portal_db_url) as s:
        s.add(OtpCredential(username="sa-ann", secret_encrypted="-", enabled=True))
    try:
        out = with_token(hub, "sa-ann", token, "id -un", hub.work / "kh-ann")
        assert out.returncode == 255 and "use an SSH key" in out.stderr, out
        out = ssh(hub, "sa-ann", key, "id -un", hub.work / "kh-ann")
        assert out.returncode == 0, out
    finally:
        with session_scope(hub.portal_db_url) as s:
            s.delete(s.get(OtpCredential, "sa-ann"))


def test_a_member_of_another_group_cannot_read_the_groups_storage_over_sftp(hub, ann):
    bob = hub.login("sa-bob", PASSWORD)
    key = hub.work / "bob_key"
    r = bob.api("POST", "/portal/me/ssh-keys", json={"name": "", "public_key": keygen(key)})
    assert r.status_code == 201 and r.json()["name"] == "bob_key@e2e", r.text
    launch(hub, bob, "sa-bob", "sshg-other")
    tree = hub.data_dir / "groups" / "sshg"
    out = sftp(hub, "sa-bob", key, f"ls {tree}\n", hub.work / "kh-bob")
    assert out.returncode != 0 and "Permission denied" in out.stderr, out
    out = sftp(hub, "sa-bob", key, f"get {tree}/payload.bin {hub.work / 'stolen.bin'}\n", hub.work / "kh-bob")
    assert out.returncode != 0 and not (hub.work / "stolen.bin").exists(), out
    out = ssh(hub, "sa-bob", key, f"cat {tree}/payload.bin", hub.work / "kh-bob")
    assert out.returncode == 1 and "Permission denied" in out.stderr, out


def test_forwarding_reaches_ports_of_the_users_own_notebook_only(hub, ann):
    _, key = ann
    known = hub.work / "kh-ann"
    # a web server the user starts inside their notebook, on its own loopback
    out = ssh(hub, "sa-ann", key, "nohup python3 -m http.server 8888 --bind 127.0.0.1 -d ~ </dev/null >/dev/null 2>&1 &", known)
    assert out.returncode == 0, out
    probe = "python3 -c \"import socket; socket.create_connection(('127.0.0.1', 8888), 5)\""
    until(lambda: ssh(hub, "sa-ann", key, probe, known).returncode == 0, timeout=60, what="the notebook's server")
    request = "GET / HTTP/1.0\r\n\r\n"
    out = subprocess.run(["ssh", "-p", str(hub.ssh_port), "-i", str(key), *ssh_options(hub, known),
                          "-W", "localhost:8888", "sa-ann@127.0.0.1"], input=request, capture_output=True, text=True,
                         timeout=60)
    assert out.stdout.startswith("HTTP/1.0 200"), out
    # -L, as for TensorBoard: a local port of the client's reaches it
    port = free_port()
    tunnel = subprocess.Popen(["ssh", "-N", "-p", str(hub.ssh_port), "-i", str(key), *ssh_options(hub, known),
                               "-o", "ExitOnForwardFailure=yes", "-L", f"{port}:localhost:8888", "sa-ann@127.0.0.1"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        until(lambda: answers(f"http://127.0.0.1:{port}/"), timeout=60, what="the tunnel to the notebook's port 8888")
    finally:
        tunnel.terminate()
        tunnel.wait(10)
    # sa-bob's namespace has its own loopback: ann's port is not there
    out = subprocess.run(["ssh", "-p", str(hub.ssh_port), "-i", str(hub.work / "bob_key"),
                          *ssh_options(hub, hub.work / "kh-bob"), "-W", "localhost:8888", "sa-bob@127.0.0.1"],
                         input=request, capture_output=True, text=True, timeout=60)
    assert out.returncode == 255 and "open failed" in out.stderr and "HTTP" not in out.stdout, out


def answers(url: str) -> bool:
    import requests

    try:
        return requests.get(url, timeout=5).status_code == 200
    except requests.RequestException:
        return False


def test_a_remote_port_listens_inside_the_users_notebook_only(hub, ann):
    _, key = ann
    known = hub.work / "kh-ann"
    laptop = subprocess.Popen([sys.executable, "-m", "http.server", str(free_port()), "--bind", "127.0.0.1",
                               "-d", str(hub.work)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    port = int(laptop.args[3])
    fetch = ("python3 -c \"import urllib.request as u; "
             "print(u.urlopen('http://127.0.0.1:19555/', timeout=10).status)\"")
    try:
        until(lambda: answers(f"http://127.0.0.1:{port}/"), timeout=30, what="the laptop's web server")
        held = subprocess.Popen(["ssh", "-N", "-p", str(hub.ssh_port), "-i", str(key), *ssh_options(hub, known),
                                 "-o", "ExitOnForwardFailure=yes", "-R", f"19555:localhost:{port}", "sa-ann@127.0.0.1"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            until(lambda: ssh(hub, "sa-ann", key, fetch, known).stdout.strip() == "200", timeout=60,
                  what="the remote-forwarded port inside ann's notebook")
            out = ssh(hub, "sa-ann", key, "ss -ltnH", known)  # on her notebook's own loopback
            listening = [line.split()[3] for line in out.stdout.splitlines() if len(line.split()) > 3]
            assert out.returncode == 0 and "127.0.0.1:19555" in listening, (out, held.poll())
            # neither the host nor another user's notebook has that port
            assert not answers("http://127.0.0.1:19555/")
            out = ssh(hub, "sa-bob", hub.work / "bob_key", fetch, hub.work / "kh-bob")
            assert out.returncode != 0 and "Connection refused" in out.stderr, out
            # privileged ports are refused
            out = subprocess.run(["ssh", "-p", str(hub.ssh_port), "-i", str(key), *ssh_options(hub, known),
                                  "-o", "ExitOnForwardFailure=yes", "-R", f"80:localhost:{port}", "sa-ann@127.0.0.1",
                                  "true"], capture_output=True, text=True, timeout=120)
            assert out.returncode == 255 and "remote port forwarding failed for listen port 80" in out.stderr, out
        finally:
            held.terminate()
            held.wait(10)
    finally:
        laptop.terminate()
        laptop.wait(10)


def test_a_forwarded_agent_is_the_users_own(hub, ann, cy):
    _, key = ann
    sock = hub.work / "laptop-agent.sock"
    agent = subprocess.Popen(["ssh-agent", "-D", "-a", str(sock)], stdout=subprocess.DEVNULL)
    try:
        until(sock.exists, timeout=30, what="ssh-agent's socket")
        env = {**os.environ, "SSH_AUTH_SOCK": str(sock)}
        laptop_key = hub.work / "laptop_agent_key"
        keygen(laptop_key)
        subprocess.run(["ssh-add", str(laptop_key)], env=env, check=True, capture_output=True)
        held = subprocess.Popen(["ssh", "-A", "-p", str(hub.ssh_port), "-i", str(key), *ssh_options(hub, hub.work / "kh-ann"),
                                 "sa-ann@127.0.0.1", "id -un; ssh-add -l; echo sock=$SSH_AUTH_SOCK; sleep 120"],
                                stdout=subprocess.PIPE, text=True, env=env)
        try:
            lines = [held.stdout.readline() for _ in range(3)]
            assert lines[0].strip() == f"{ACCOUNT_PREFIX}sa-ann" and "laptop_agent_key@e2e" in lines[1], lines
            path = lines[2].strip().removeprefix("sock=")
            # another member running code on the platform cannot use ann's agent
            out = ssh(hub, "sa-cy", cy, f"SSH_AUTH_SOCK={path} ssh-add -l", hub.work / "kh-cy")
            assert out.returncode == 2 and "Permission denied" in out.stderr, out
        finally:
            held.terminate()
            held.wait(10)
    finally:
        agent.terminate()
        agent.wait(10)


def test_sftp_uploads_count_against_the_groups_storage_quota(hub):
    dee = hub.login("sa-dee", PASSWORD)
    key = hub.work / "dee_key"
    assert dee.api("POST", "/portal/me/ssh-keys", json={"name": "dee", "public_key": keygen(key)}).status_code == 201
    launch(hub, dee, "sa-dee", "sshg-small")
    listing = dee.api("GET", "/portal/groups/sshg-small/files/").json()
    assert listing["storage"] == {"read_only": False, "reason": None}, listing
    time.sleep(3)  # the runner reads the groups' quotas every QuotaGuard.interval (1 s here)
    big = hub.work / "forty.bin"
    big.write_bytes(os.urandom(40 * 1024 * 1024))
    out = sftp(hub, "sa-dee", key, f"put {big} shared/forty.bin\n", hub.work / "kh-dee")
    assert out.returncode != 0, out  # twice the quota does not land
    listing = until(lambda: (lambda got: got if got["storage"]["read_only"] else None)(
        dee.api("GET", "/portal/groups/sshg-small/files/").json()), timeout=30, what="the group's tree locked")
    assert listing["storage"]["reason"].startswith("Storage over quota: used "), listing
    stored = hub.data_dir / "groups" / "sshg-small" / "forty.bin"
    assert stored.stat().st_size <= 36 * 1024 * 1024  # the quota plus the guard's documented margin
    out = sftp(hub, "sa-dee", key, f"put {hub.work / 'dee_key.pub'} shared/small.pub\n", hub.work / "kh-dee")
    assert out.returncode != 0 and not (stored.parent / "small.pub").exists(), out
    # deleted on Shared Files: writable again
    assert dee.api("DELETE", "/portal/groups/sshg-small/files/forty.bin").status_code == 204
    until(lambda: not dee.api("GET", "/portal/groups/sshg-small/files/").json()["storage"]["read_only"], timeout=30,
          what="the group's tree unlocked")
    out = sftp(hub, "sa-dee", key, f"put {hub.work / 'dee_key.pub'} shared/small.pub\n", hub.work / "kh-dee")
    assert out.returncode == 0 and (stored.parent / "small.pub").exists(), out


def test_stopping_the_hub_ends_the_gateway(hub):
    root = str(hub.data_dir.resolve())
    gateways = [p for p in leftover_processes(root) if "hub_ext.ssh" in " ".join(p.cmdline())]
    assert gateways, "the gateway runs while the hub does"
    hub.close()
    until(lambda: not [p for p in gateways if p.is_running() and p.status() != "zombie"], timeout=60,
          what="the SSH gateway to end with the hub")
    stop_leftover_servers(hub.data_dir)
