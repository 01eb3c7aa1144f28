"""The gateway's host keys: generated once into the hub's data dir (mode 0600, root's) and reused, so a
client's ``known_hosts`` stays right across restarts. The hub (which shows their fingerprints on the SSH
keys page) and the gateway (which serves them) both call :func:`ensure_host_keys`; whichever is first
makes them, atomically (a key file appears whole or not at all).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import asyncssh

ALGORITHMS = ("ssh-ed25519", "ecdsa-sha2-nistp256", "ssh-rsa")
FILE_NAMES = {"ssh-ed25519": "ssh_host_ed25519_key", "ecdsa-sha2-nistp256": "ssh_host_ecdsa_key",
              "ssh-rsa": "ssh_host_rsa_key"}


@dataclass(frozen=True)
class HostKey:
    algorithm: str
    fingerprint: str  # SHA256:…
    path: str

    def as_json(self) -> dict:
        return {"type": self.algorithm, "fingerprint": self.fingerprint}


def key_dir(data_dir: str) -> Path:
    return Path(data_dir) / "ssh"


def _make(path: Path, algorithm: str) -> None:
    key = asyncssh.generate_private_key(algorithm, key_size=3072) if algorithm == "ssh-rsa" else \
        asyncssh.generate_private_key(algorithm)
    key.set_comment(f"hubfront-ssh-gateway {algorithm}")
    tmp = path.with_name(f".{path.name}.{os.getpid()}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(key.export_private_key("openssh"))
    try:
        os.link(tmp, path)  # never over a key another process made meanwhile
    except FileExistsError:
        pass
    finally:
        tmp.unlink()


def ensure_host_keys(data_dir: str, algorithms=ALGORITHMS) -> list[HostKey]:
    """The host keys (made where missing), with their fingerprints."""
    folder = key_dir(data_dir)
    folder.mkdir(mode=0o700, exist_ok=True)
    os.chmod(folder, 0o700)
    keys = []
    for algorithm in algorithms:
        path = folder / FILE_NAMES[algorithm]
        if not path.exists():
            _make(path, algorithm)
        os.chmod(path, 0o600)
        key = asyncssh.read_private_key(str(path))
        keys.append(HostKey(algorithm, key.get_fingerprint("sha256"), str(path)))
    return keys


def fingerprints(data_dir: str) -> list[HostKey]:
    """The host keys' fingerprints from their public halves, without making any (empty: none made yet)."""
    out = []
    for algorithm in ALGORITHMS:
        path = key_dir(data_dir) / FILE_NAMES[algorithm]
        try:
            key = asyncssh.read_private_key(str(path))
        except (OSError, asyncssh.KeyImportError):
            continue
        out.append(HostKey(algorithm, key.get_fingerprint("sha256"), str(path)))
    return out
