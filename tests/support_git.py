"""Servers for git dataset tests: this machine's non-loopback address, a smart-HTTP git server (git
http-backend) that counts what it is asked, a git daemon, and a listener that accepts and never answers
(a hung remote)."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import threading
import time
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Iterator

from support import free_port, need


def non_loopback_address() -> str:
    """This machine's own address on its default route (what a member could name instead of 127.0.0.1)."""
    try:
        out = subprocess.run(["ip", "-4", "route", "get", "1.1.1.1"], capture_output=True, text=True,
                             timeout=10).stdout
    except OSError:
        out = ""
    m = re.search(r"\bsrc (\d+\.\d+\.\d+\.\d+)", out)
    need(m is not None, "no non-loopback IPv4 address on this machine (ip -4 route get 1.1.1.1)")
    return m.group(1)


class _GitHTTP(BaseHTTPRequestHandler):
    """Smart HTTP through ``git http-backend`` (CGI) for every repository under ``root``."""

    root: str = ""
    hits: list[str] = []
    redirect: str | None = None

    def _serve(self):
        self.hits.append(self.path)
        if self.redirect is not None:
            self.send_response(302)
            self.send_header("Location", self.redirect + self.path)
            self.end_headers()
            return
        path, _, query = self.path.partition("?")
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "GIT_PROJECT_ROOT": self.root,
               "GIT_HTTP_EXPORT_ALL": "1", "PATH_INFO": path, "QUERY_STRING": query,
               "REQUEST_METHOD": self.command, "CONTENT_TYPE": self.headers.get("Content-Type", ""),
               "CONTENT_LENGTH": str(len(body)), "REMOTE_ADDR": self.client_address[0],
               "GIT_PROTOCOL": self.headers.get("Git-Protocol", ""),
               "GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": os.devnull}
        out = subprocess.run(["git", "http-backend"], input=body, env=env, capture_output=True, timeout=60).stdout
        head, _, payload = out.partition(b"\r\n\r\n")
        headers = [line.split(":", 1) for line in head.decode().splitlines() if ":" in line]
        status = next((v.strip() for k, v in headers if k.lower() == "status"), "200 OK")
        self.send_response(int(status.split()[0]))
        for key, value in headers:
            if key.lower() != "status":
                self.send_header(key, value.strip())
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    do_GET = do_POST = _serve

    def log_message(self, *args):
        pass


@contextmanager
def http_server(root: Path, host: str, redirect: str | None = None) -> Iterator[tuple[int, list[str]]]:
    """git's smart HTTP for the repositories under ``root``, on ``host``; yields (port, paths asked for).
    With ``redirect``, every request is sent there instead."""
    hits: list[str] = []
    handler = type("Handler", (_GitHTTP,), {"root": str(root), "hits": hits, "redirect": redirect})
    server = ThreadingHTTPServer((host, 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1], hits
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)


@contextmanager
def hanging_listener(host: str) -> Iterator[tuple[int, list[socket.socket]]]:
    """A TCP port on ``host`` that accepts connections and never says a word (an ssh server that hangs)."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, 0))
    sock.listen(16)
    sock.settimeout(0.2)
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept():
        while not stop.is_set():
            try:
                accepted.append(sock.accept()[0])
            except (TimeoutError, OSError):
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield sock.getsockname()[1], accepted
    finally:
        stop.set()
        thread.join(10)
        for conn in accepted:
            conn.close()
        sock.close()


@contextmanager
def git_daemon(base: Path, host: str) -> Iterator[int]:
    """``git daemon`` serving every repository under ``base`` on ``host``; yields its port."""
    port = free_port()
    proc = subprocess.Popen(["git", "daemon", "--export-all", "--reuseaddr", f"--base-path={base}",
                             f"--listen={host}", f"--port={port}", str(base)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
                            env={**os.environ, "GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": os.devnull})
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection((host, port), timeout=1).close()
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("git daemon did not start") from None
                time.sleep(0.05)
        yield port
    finally:
        os.killpg(proc.pid, 9)
        proc.wait(10)
