"""``cold-start``: a request to a deployment scaled to zero → its answer's first byte, against starting the same
model server by hand and asking it until it answers (issue 25).

One Hubfront hub (``bench.jobhub``: its runner serves the deployment with the local executor; as root each
replica runs as the admin's workload account in a cgroup and a network namespace of its own, watched by a
keeper). The admin deploys ``MODEL`` (the linear model server of ``bench.endpoint``, Python's
``http.server``: a model that loads in no time, so what is measured is what the platform adds) with
``min_replicas`` 0 and ``scale_down_after`` 1 s. Each round waits until the runner has scaled it to zero
(the API says ``ScaledToZero``; no request meanwhile), then sends one ``POST /deployments/<id>/invocations``
through the proxy and takes the time until the first byte of the answer: the wake (admission in the
ledger, the replica's start, its first health check), the held request's forwarding and the model's answer.
The runner's own cold start (wake → ready replica, stored with the deployment) goes to the JSON beside it.

Baseline, alternated with it (A/B, the order flipping each round): the same command started by hand with
``subprocess.Popen(["/bin/bash", "-c", MODEL])`` and ``$PORT``, asked the same request every 10 ms until one
answer's first byte arrives. Reported: both p50/p99 and their ratio (at zero / by hand); the target is the
ratio, ``<= 3``: a cold start costs at most three times what starting the server yourself does (Knative's
cold start is about 15 s).
"""

from __future__ import annotations

import os
import shlex
import signal
import socket
import subprocess
import time

from . import jobhub
from .hubs import free_port
from .stats import Line, alternate, percentile, ratio, summary

DEPLOYMENT = "bench-cold"
TARGET_RATIO = 3.0
SERVER = r"""
import json, os
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
WEIGHTS = (0.4, -1.2, 2.5, 0.7)
class Model(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_GET(self):
        self.send_response(200); self.send_header("Content-Length", "0"); self.end_headers()
    def do_POST(self):
        rows = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)))["inputs"]
        body = json.dumps({"predictions": [sum(w * x for w, x in zip(WEIGHTS, r)) for r in rows]}).encode()
        self.send_response(200); self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body))); self.end_headers(); self.wfile.write(body)
    def log_message(self, *args):
        pass
ThreadingHTTPServer((os.environ.get("HOST", "127.0.0.1"), int(os.environ["PORT"])), Model).serve_forever()
"""
MODEL = f"exec python3 -c {shlex.quote(SERVER)}"
PAYLOAD = b'{"inputs": [[5.1, 3.5, 1.4, 0.2]]}'


def add_arguments(parser) -> None:
    g = parser.add_argument_group("cold-start")
    g.add_argument("--cold-start-rounds", type=int, help="cold starts measured (default 10, quick 3)")
    g.add_argument("--cold-start-timeout", type=float, default=120, help="seconds one state may take (default 120)")


def first_byte(port: int, path: str, timeout: float) -> tuple[float, int]:
    """Seconds from sending ``POST path`` until the answer's first byte, and its status."""
    request = (f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\n"
               f"Content-Length: {len(PAYLOAD)}\r\nConnection: close\r\n\r\n").encode() + PAYLOAD
    t0 = time.perf_counter()
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(request)
        first = sock.recv(1)
        t = time.perf_counter() - t0
        rest = b""
        while chunk := sock.recv(65536):
            rest += chunk
            if b"\r\n\r\n" in first + rest and len(rest) > 64:
                break
    head = (first + rest).split(b"\r\n", 1)[0].split()
    return t, int(head[1]) if len(head) > 1 and head[1].isdigit() else 0


def by_hand(timeout: float) -> float:
    """Start the model server with bash as the deployment would, ask it until it answers: seconds to its first byte."""
    port = free_port()
    t0 = time.perf_counter()
    proc = subprocess.Popen(["/bin/bash", "-c", MODEL], env={**os.environ, "PORT": str(port)}, start_new_session=True)
    try:
        while time.perf_counter() - t0 < timeout:
            try:
                sent = time.perf_counter()
                t, status = first_byte(port, "/invocations", timeout)
                if status == 200:
                    return sent - t0 + t
            except OSError:
                pass
            time.sleep(0.01)
        raise RuntimeError(f"the model server started by hand did not answer within {timeout}s")
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(10)


def state(hub) -> dict:
    return jobhub._ok(hub.api("GET", f"/portal/deployments/{DEPLOYMENT}"), "read the deployment")


def wait_for(hub, phase: str, timeout: float) -> dict:
    deadline = time.monotonic() + timeout
    while (d := state(hub))["phase"] != phase:
        if time.monotonic() > deadline:
            raise RuntimeError(f"{DEPLOYMENT} still {d['phase']} ({d['message']}) after {timeout}s\n{hub.log_tail()}")
        time.sleep(0.2)
    return d


def at_zero(hub, port: int, timeout: float) -> tuple[float, float]:
    """One cold start: wait for zero, then the request's first byte, and the runner's own wake → ready."""
    wait_for(hub, "ScaledToZero", timeout)
    wakes = state(hub)["scale_to_zero"]["wakes"]
    t, status = first_byte(port, f"/deployments/{DEPLOYMENT}/invocations", timeout)
    if status != 200:
        raise RuntimeError(f"the request at zero was answered {status}\n{hub.log_tail()}")
    deadline = time.monotonic() + timeout
    while (z := state(hub)["scale_to_zero"])["wakes"] == wakes or z["last_cold_start_s"] is None:
        if time.monotonic() > deadline:
            raise RuntimeError(f"no cold start recorded\n{hub.log_tail()}")
        time.sleep(0.1)
    return t, z["last_cold_start_s"]


def fmt(samples) -> str:
    return f"p50 {percentile(samples, 50) * 1000:.0f}ms/p99 {percentile(samples, 99) * 1000:.0f}ms"


def run(args) -> str:
    n = args.cold_start_rounds or (3 if args.quick else 10)
    timeout = args.cold_start_timeout
    zero: list[float] = []
    runner: list[float] = []
    hand: list[float] = []
    with jobhub.jobs_hub("cold-start") as hub:
        jobhub._ok(hub.api("PATCH", f"/portal/groups/{jobhub.GROUP}/policy",
                           json={"policy": {"deployments_enabled": True}}), "enable deployments")
        jobhub._ok(hub.api("POST", f"/portal/groups/{jobhub.GROUP}/deployments", json={
            "id": DEPLOYMENT, "name": "Cold start", "command": MODEL, "health_path": "/", "min_replicas": 0,
            "scale_down_after": 1, "cold_start_timeout": int(timeout)}), "create the deployment")
        port = int(hub.base_url.rsplit(":", 1)[1])
        try:
            wait_for(hub, "Deployed", timeout)  # the first start (the image's environment, the account) is not counted
            by_hand(timeout)  # nor the first by hand (the page cache)

            def measure(kind, _):
                if kind == "zero":
                    t, cold = at_zero(hub, port, timeout)
                    zero.append(t)
                    runner.append(cold)
                else:
                    hand.append(by_hand(timeout))
                return []

            alternate(n, ["zero", "hand"], measure)
            isolated = "workloads run as their owners' OS accounts" in hub.log_path.read_text(errors="replace")
        finally:  # nothing may outlive the bench: stopped replicas, then the deployment gone
            hub.api("POST", f"/portal/deployments/{DEPLOYMENT}/stop")
            try:
                wait_for(hub, "Stopped", timeout)
            finally:
                hub.api("DELETE", f"/portal/deployments/{DEPLOYMENT}")
    r = ratio(percentile(zero, 50), percentile(hand, 50))
    ok = r <= TARGET_RATIO
    text = (f"cold-start: hubfront=request at zero to first byte {fmt(zero)} (runner: wake to ready {fmt(runner)}) "
            f"by-hand=start to first byte {fmt(hand)} ratio=p50 {r:.1f} target=ratio<={TARGET_RATIO:g} ok={ok} "
            f"(n={n}, model=linear http.server, isolated={'yes' if isolated else 'no'})")
    return Line(text, {
        "rounds": n, "model": "linear (http.server)", "isolated": isolated,
        "request_at_zero_to_first_byte": summary(zero), "runner_wake_to_ready": summary(runner),
        "by_hand_start_to_first_byte": summary(hand), "ratio_p50": r, "target_ratio": TARGET_RATIO, "ok": ok,
    })
