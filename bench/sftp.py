"""``sftp``: uploading a file through Hubfront's SSH gateway against plain OpenSSH on the same machine (issue 26).

One Hubfront hub (``bench.jobhub``; as root its SSH gateway lands in the admin's notebook, started on the first
connection, as the admin's workload account in the notebook's cgroup and network namespace). The admin's key
is registered through the REST API. Each round uploads one file of ``--sftp-mib`` MiB (256 by default, random
bytes) with Debian's ``sftp -b`` client into the notebook's home, timed from the client's start to its exit.

Baseline, alternated with it (A/B, the order flipping each round): the same ``sftp`` put, same client and
options, to an OpenSSH ``sshd`` the bench starts on a free loopback port (its own config, host key and
authorized key; Debian's ``/usr/sbin/sshd``, or the one ``make bench`` unpacks into ``bench/.sshd`` without
installing a service), as root into a temporary folder. Where no sshd is found the baseline is a direct file
copy (``shutil.copyfile``) and the line says so. Reported: throughput of both in MiB/s (p50 of the rounds) and
their ratio (gateway / plain); the target is ``>= 0.8``.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

from spawner.plan import server_name_for

from . import hubs, jobhub
from .hubs import REPO, free_port
from .stats import Line, alternate, percentile

TARGET_RATIO = 0.8
SSHD_PATHS = ("/usr/sbin/sshd", str(REPO / "bench" / ".sshd" / "usr" / "sbin" / "sshd"))
SFTP_SERVER = "/usr/lib/openssh/sftp-server"
LOGIN = f"admin+{jobhub.GROUP}"  # the bench's own group (unlimited quota), not the admin's working group


def add_arguments(parser) -> None:
    g = parser.add_argument_group("sftp")
    g.add_argument("--sftp-rounds", type=int, help="uploads measured on each side (default 5, quick 2)")
    g.add_argument("--sftp-mib", type=int, help="size of the uploaded file in MiB (default 256, quick 32)")


def client(port: int, key: Path, login: str, batch: Path, timeout: float = 600) -> float:
    """Seconds one ``sftp -b`` run takes (it must succeed)."""
    t0 = time.perf_counter()
    out = subprocess.run(["sftp", "-q", "-P", str(port), "-i", str(key), "-o", "BatchMode=yes", "-o",
                          "IdentitiesOnly=yes", "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
                          "-o", "LogLevel=ERROR", "-F", "/dev/null", "-b", str(batch), f"{login}@127.0.0.1"],
                         capture_output=True, text=True, timeout=timeout)
    took = time.perf_counter() - t0
    if out.returncode != 0:
        raise RuntimeError(f"sftp to port {port} as {login} failed: {out.stderr.strip()[-500:]}")
    return took


def cipher(port: int, key: Path, login: str) -> str:
    """The cipher the client and that server agree on (``ssh -v``'s kex line)."""
    out = subprocess.run(["ssh", "-v", "-p", str(port), "-i", str(key), "-o", "BatchMode=yes", "-o",
                          "IdentitiesOnly=yes", "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
                          "-F", "/dev/null", f"{login}@127.0.0.1", "true"], capture_output=True, text=True, timeout=300)
    found = re.search(r"kex: client->server cipher: (\S+)", out.stderr)
    return found.group(1) if found else "?"


def start_notebook(port: int, key: Path) -> None:
    """The first connection starts the admin's notebook (not counted); its words if it cannot."""
    deadline = time.monotonic() + 60
    while True:  # the hub starts its gateway beside it: listening a moment later
        try:
            socket.create_connection(("127.0.0.1", port), 5).close()
            break
        except OSError:
            if time.monotonic() > deadline:
                raise RuntimeError(f"the SSH gateway is not listening on port {port}") from None
            time.sleep(0.2)
    out = subprocess.run(["ssh", "-p", str(port), "-i", str(key), "-o", "BatchMode=yes", "-o", "IdentitiesOnly=yes",
                          "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR",
                          "-F", "/dev/null", f"{LOGIN}@127.0.0.1", "true"], capture_output=True, text=True, timeout=600)
    if out.returncode != 0:
        raise RuntimeError(f"the admin's notebook did not start through the gateway: {out.stderr.strip()[-500:]}")


class PlainSSHD:
    """OpenSSH's sshd on a loopback port, for root with one key, in ``work`` (stopped on exit)."""

    def __init__(self, binary: str, work: Path, public_key: str):
        self.port = free_port()
        (work / "authorized").write_text(public_key)
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(work / "host")], check=True)
        config = work / "sshd_config"
        config.write_text("\n".join([
            f"Port {self.port}", "ListenAddress 127.0.0.1", f"HostKey {work / 'host'}",
            f"AuthorizedKeysFile {work / 'authorized'}", "PermitRootLogin prohibit-password",
            "PasswordAuthentication no", "KbdInteractiveAuthentication no", "UsePAM no", "StrictModes no",
            f"Subsystem sftp {SFTP_SERVER}", "PidFile none", ""]))
        os.makedirs("/run/sshd", mode=0o755, exist_ok=True)  # its privilege separation folder
        self.proc = subprocess.Popen([binary, "-D", "-e", "-f", str(config)], stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 30
        while subprocess.run(["ssh-keyscan", "-p", str(self.port), "127.0.0.1"], capture_output=True).returncode != 0 \
                or self.proc.poll() is not None:
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"sshd did not start (exit status {self.proc.poll()})")
            time.sleep(0.2)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.proc.terminate()
        self.proc.wait(10)


def find_sshd() -> str | None:
    if os.geteuid() != 0 or not os.path.exists(SFTP_SERVER):
        return None
    return next((p for p in SSHD_PATHS if os.access(p, os.X_OK)), None)


def stop_notebook(hub, timeout: float = 120) -> None:
    """Stop the notebook the gateway started, and wait until it has ended."""
    server = server_name_for(jobhub.GROUP)
    hub.api("DELETE", f"/users/{hubs.ADMIN}/servers/{server}")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        servers = jobhub._ok(hub.api("GET", f"/users/{hubs.ADMIN}"), "read the admin").get("servers") or {}
        if server not in servers:
            return
        time.sleep(0.5)
    raise RuntimeError(f"the admin's notebook {server} did not stop within {timeout}s")


def measured(hub, key: Path, sshd: str | None, work: Path, n: int) -> tuple[dict, tuple[str, str]]:
    """The rounds, alternated: seconds per upload of each side, and the ciphers the two sides agreed on."""
    payload, landed = work / "payload.bin", work / "landed"
    to_gateway, to_plain = work / "gateway.batch", work / "plain.batch"
    plain = PlainSSHD(sshd, work, (work / "key.pub").read_text()) if sshd else None
    try:
        def measure(kind, _):
            if kind == "gateway":
                return [client(hub.ssh_port, key, LOGIN, to_gateway)]
            if plain is not None:
                return [client(plain.port, key, "root", to_plain)]
            t0 = time.perf_counter()
            shutil.copyfile(payload, landed / "upload.bin")
            os.remove(landed / "upload.bin")
            return [time.perf_counter() - t0]

        samples = alternate(n, ["gateway", "plain"], measure)
        return samples, (cipher(hub.ssh_port, key, LOGIN), cipher(plain.port, key, "root") if plain else "-")
    finally:
        if plain is not None:
            plain.__exit__()


def run(args) -> str:
    if os.geteuid() != 0:
        return "sftp: not run (the SSH gateway lands as the users' OS accounts: run the bench as root)"
    n = args.sftp_rounds or (2 if args.quick else 5)
    mib = args.sftp_mib or (32 if args.quick else 256)
    sshd = find_sshd()
    with tempfile.TemporaryDirectory(prefix="hubfront-bench-sftp-") as tmp:
        work = Path(tmp)
        payload = work / "payload.bin"
        with open(payload, "wb") as f:
            for _ in range(mib):
                f.write(os.urandom(1 << 20))
        key = work / "key"
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "bench", "-f", str(key)], check=True)
        (work / "gateway.batch").write_text(f"put {payload} bench-upload.bin\nrm bench-upload.bin\n")
        landed = work / "landed"
        landed.mkdir()
        (work / "plain.batch").write_text(f"put {payload} {landed / 'upload.bin'}\nrm {landed / 'upload.bin'}\n")
        with jobhub.jobs_hub("sftp") as hub:
            jobhub._ok(hub.api("POST", "/portal/me/ssh-keys",
                               json={"name": "bench", "public_key": (work / "key.pub").read_text()}), "register the key")
            try:
                start_notebook(hub.ssh_port, key)
                samples, ciphers = measured(hub, key, sshd, work, n)
            finally:  # a notebook outlives its hub (servers are kept across a hub's restart): stopped here
                stop_notebook(hub)
    gateway = [mib / s for s in samples["gateway"]]
    baseline = [mib / s for s in samples["plain"]]
    r = percentile(gateway, 50) / percentile(baseline, 50)
    ok = r >= TARGET_RATIO
    against = "OpenSSH sshd" if sshd else "a direct file copy (no sshd found)"
    text = (f"sftp: hubfront=upload through the gateway p50 {percentile(gateway, 50):.0f} MiB/s "
            f"plain={against} p50 {percentile(baseline, 50):.0f} MiB/s ratio=throughput {r:.2f} "
            f"target=ratio>={TARGET_RATIO:g} ok={ok} (n={n}, {mib} MiB file, client sftp, ciphers {ciphers[0]} / "
            f"{ciphers[1]})")
    return Line(text, {"rounds": n, "mib": mib, "baseline": against, "gateway_mib_s": gateway,
                       "plain_mib_s": baseline, "ciphers": list(ciphers), "ratio_p50": r, "target_ratio": TARGET_RATIO, "ok": ok})
