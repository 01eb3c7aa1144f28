"""``endpoint``: model calls through a deployment endpoint against the same model server called directly (issue 11).

Three processes on 127.0.0.1, the real path of a deployment's traffic:

- **model**, one of (``--endpoint-model``):
  ``mlflow`` (default): what a model deployment runs, ``mlflow models serve
  --env-manager local`` (uvicorn) over a scikit-learn LogisticRegression saved
  with ``mlflow.sklearn``, answering ``POST /invocations``;
  ``linear``: a tiny model server (Python's threaded ``http.server``, HTTP/1.1
  keep-alive) answering with a linear model's predictions: a model that costs
  almost nothing, the worst case for the endpoint's share of the work;
- **runner**: a tornado process that mounts :func:`hub_ext.services.forward.handlers`
  with a private Route to the model (one client token), as the runner does;
- **proxy**: configurable-http-proxy from ``node_modules``, with the route
  ``/deployments/`` → runner, as the hub adds it.

The client, in the bench process, is ``--endpoint-clients`` (32) asyncio
connections, each sending its next request as soon as the last answer is in
(keep-alive, a minimal HTTP/1.1 client so it takes little CPU from the
servers). Each round measures, for ``--endpoint-seconds`` each and in an
order that flips every round (A/B): **direct** (client → model),
**endpoint** (client → proxy → runner → model), and for the breakdown
**proxy_only** (client → proxy → model) and **runner_only** (client → runner
→ model), plus direct and endpoint with **one client** (half as long): the
latency a request pays when nothing queues. A warm-up (a second, at most a
round) per side first. Reported: requests/s and p50/p99 per request, the throughput ratio
(endpoint / direct) and the p50 the endpoint adds. Targets: ratio >= 0.7,
added p50 <= 3 ms, every answer a 200. CPU time per request of each process
(the client included) goes to the JSON: where the endpoint's cost lies; the line says the runner's and the
proxy's, and how much CPU other processes of the machine used meanwhile (cores, and what a virtual machine's
host took: steal), since a busy machine's noise is in every figure.

``python -m bench.endpoint model PORT`` (the linear one) and ``python -m bench.endpoint runner
PORT MODEL_URL TOKEN`` run the two servers alone.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

from .hubs import REPO, free_port, proxy_dir

DEPLOYMENT = "bench-model"
TARGET_RATIO = 0.7
TARGET_ADDED_P50_S = 0.003
WEIGHTS = (0.4, -1.2, 2.5, 0.7)
MODELS = ("mlflow", "linear")
SERIAL = {"one_client_direct": "direct", "one_client_endpoint": "endpoint"}
PAYLOAD = json.dumps({"inputs": [[5.1, 3.5, 1.4, 0.2], [6.2, 2.9, 4.3, 1.3], [7.7, 3.0, 6.1, 2.3]]}).encode()


def add_arguments(parser) -> None:
    g = parser.add_argument_group("endpoint")
    g.add_argument("--endpoint-clients", type=int, default=32, help="concurrent keep-alive clients (default 32)")
    g.add_argument("--endpoint-seconds", type=float, help="seconds per measured round (default 5, quick 1)")
    g.add_argument("--endpoint-rounds", type=int, help="rounds of direct + endpoint (default 4, quick 1)")
    g.add_argument("--endpoint-shared-cores", action="store_true",
                   help="let the model server share the cores with the proxies and the client (default: "
                        "the model has a core of its own)")
    g.add_argument("--endpoint-model", choices=MODELS, action="append",
                   help="model server(s) behind the endpoint: mlflow (the default) and/or linear")


# -- the two servers ----------------------------------------------------------------------------
def serve_model(port: int) -> None:
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    class Model(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as model servers do
        disable_nagle_algorithm = True  # as model servers do: its head and body go in two writes

        def do_POST(self):
            data = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)))
            preds = [sum(w * x for w, x in zip(WEIGHTS, row)) for row in data["inputs"]]
            body = json.dumps({"predictions": preds}).encode()
            self.send_response(200 if self.path == "/invocations" else 404)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    ThreadingHTTPServer.daemon_threads = True
    ThreadingHTTPServer(("127.0.0.1", port), Model).serve_forever()


def serve_runner(port: int, model_url: str, token: str) -> None:
    from tornado import ioloop, web

    from hub_ext.services.forward import ClientCredential, Route, RouteTable, handlers, token_digest

    table = RouteTable()
    clients = {"bench": ClientCredential(token_digest(token))}
    table.set(Route(DEPLOYMENT, "private", (model_url,), time.monotonic(), clients))
    web.Application(handlers(table)).listen(port, "127.0.0.1")
    ioloop.IOLoop.current().start()


NO_TELEMETRY = {"MLFLOW_DISABLE_TELEMETRY": "true", "DO_NOT_TRACK": "true"}


def save_mlflow_model(path: Path) -> str:
    """A LogisticRegression over four features, saved as an MLflow model (what a deployment serves)."""
    os.environ.update(NO_TELEMETRY)
    import mlflow.sklearn
    import numpy as np
    import sklearn
    from sklearn.linear_model import LogisticRegression

    rows = np.array(json.loads(PAYLOAD)["inputs"] * 2)
    model = LogisticRegression().fit(rows, np.array([0, 1, 1, 0, 1, 1]))
    mlflow.sklearn.save_model(model, str(path), pip_requirements=[f"scikit-learn=={sklearn.__version__}"])
    return str(path)


# -- the client ---------------------------------------------------------------------------------
async def _client(port: int, request: bytes, stop_at: float, samples: list, bad: list) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    clock = time.perf_counter
    try:
        while clock() < stop_at:
            t0 = clock()
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            low = head.lower()
            i = low.find(b"\r\ncontent-length:")
            if i >= 0:
                await reader.readexactly(int(low[i + 17:low.index(b"\r\n", i + 2)]))
            else:  # chunked
                while (size := int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)):
                    await reader.readexactly(size + 2)
                await reader.readuntil(b"\r\n")
            samples.append(clock() - t0)
            if head[9:12] != b"200":
                bad.append(head[:12].decode("latin1"))
    finally:
        writer.close()


def measure(port: int, path: str, token: str, clients: int, seconds: float) -> dict:
    request = (f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\n"
               f"Authorization: Bearer {token}\r\nContent-Length: {len(PAYLOAD)}\r\n\r\n").encode() + PAYLOAD
    samples: list[float] = []
    bad: list[str] = []

    async def run():
        stop_at = time.perf_counter() + seconds
        await asyncio.gather(*(_client(port, request, stop_at, samples, bad) for _ in range(clients)))

    t0 = time.perf_counter()
    asyncio.run(run())
    return {"samples": samples, "bad": bad, "seconds": time.perf_counter() - t0}


# -- the rig ------------------------------------------------------------------------------------
def wait_port(port: int, proc: subprocess.Popen, what: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with {proc.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"{what} did not listen on {port} within {timeout}s")


def proxy_command() -> str:
    from shutil import which

    local = proxy_dir() / "configurable-http-proxy"
    found = str(local) if local.exists() else which("configurable-http-proxy")
    if not found:
        raise RuntimeError("configurable-http-proxy is not installed (run `make test` or `npm ci`)")
    return found


def placement() -> dict[str, set[int]]:
    """The model server on a core of its own, everything else (proxy, runner, client) on the others.

    As a deployment's replica has its instance type's CPU to itself and the proxies run elsewhere:
    on a small machine this measures what the endpoint adds, not the fight for the model's core.
    Empty (no pinning) with fewer than two usable cores.
    """
    cores = sorted(os.sched_getaffinity(0))
    if len(cores) < 2:
        return {}
    rest = set(cores[1:])
    return {"model": {cores[0]}, "runner": rest, "proxy": rest, "client": rest}


@contextmanager
def pinned(cpus: set[int] | None):
    """This process (the client) on ``cpus`` for a while."""
    before = os.sched_getaffinity(0)
    if cpus:
        os.sched_setaffinity(0, cpus)
    try:
        yield
    finally:
        os.sched_setaffinity(0, before)


class Rig:
    """The model server, the runner and the proxy, started in that order and stopped together."""

    def __init__(self, log_dir: Path, model: str = "mlflow", pin: bool = True):
        self.model = model
        self.cpus = placement() if pin else {}
        self.ports = {name: free_port() for name in ("model", "runner", "proxy", "api")}
        self.token = os.urandom(32).hex()
        self.log_dir = log_dir
        self.procs: dict[str, subprocess.Popen] = {}

    def spawn(self, name: str, argv: list[str], env: dict | None = None, timeout: float = 30) -> None:
        with open(self.log_dir / f"{name}.log", "wb") as log:
            cpus = self.cpus.get(name)
            self.procs[name] = subprocess.Popen(argv, cwd=REPO, stdout=log, stderr=subprocess.STDOUT,
                                                env={**os.environ, **(env or {})}, start_new_session=True,
                                                preexec_fn=(lambda: os.sched_setaffinity(0, cpus)) if cpus else None)
        wait_port(self.ports[name], self.procs[name], name, timeout)

    def __enter__(self) -> "Rig":
        import requests

        p = self.ports
        me = [sys.executable, "-m", "bench.endpoint"]
        try:
            if self.model == "mlflow":
                self.spawn("model", [sys.executable, "-m", "mlflow", "models", "serve", "-m",
                                     save_mlflow_model(self.log_dir / "model"), "--env-manager", "local",
                                     "--host", "127.0.0.1", "--port", str(p["model"])],
                           # mlflow runs `uvicorn` from PATH: the one beside this Python
                           env={**NO_TELEMETRY, "PATH": f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}"},
                           timeout=180)
            else:
                self.spawn("model", [*me, "model", str(p["model"])])
            self.spawn("runner", [*me, "runner", str(p["runner"]), f"http://127.0.0.1:{p['model']}", self.token])
            api_token = os.urandom(16).hex()
            self.spawn("proxy", [proxy_command(), "--ip", "127.0.0.1", "--port", str(p["proxy"]), "--api-ip",
                                 "127.0.0.1", "--api-port", str(p["api"]), "--log-level", "warn"],
                       env={"CONFIGPROXY_AUTH_TOKEN": api_token})
            wait_port(p["api"], self.procs["proxy"], "proxy API")
            for route, target in (("deployments", p["runner"]), ("invocations", p["model"])):
                r = requests.post(f"http://127.0.0.1:{p['api']}/api/routes/{route}", timeout=10,
                                  json={"target": f"http://127.0.0.1:{target}"},
                                  headers={"Authorization": f"token {api_token}"})
                r.raise_for_status()
        except BaseException:
            self.__exit__()
            raise
        return self

    def __exit__(self, *exc) -> None:
        for proc in reversed(self.procs.values()):
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in self.procs.values():
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(5)

    def cpu(self) -> dict[str, float]:
        """CPU seconds so far of each server process, and of this one (the client)."""
        import psutil

        def used(pid: int, children: bool) -> float:  # a server's workers count as the server
            procs = [psutil.Process(pid)]
            procs += procs[0].children(recursive=True) if children else []
            return sum(sum(p.cpu_times()[:2]) for p in procs)

        pids = {"client": os.getpid(), **{name: proc.pid for name, proc in self.procs.items()}}
        return {name: used(pid, name != "client") for name, pid in pids.items()}

    def log_tail(self) -> str:
        return "\n".join(f"--- {name}.log\n{(self.log_dir / f'{name}.log').read_text(errors='replace')[-1500:]}"
                         for name in self.procs)


def run(args):
    from .stats import Line

    models = list(dict.fromkeys(args.endpoint_model or ["mlflow"]))
    lines = [run_model(args, model) for model in models]
    if len(lines) == 1:
        return lines[0]
    return Line("\n".join(lines), {"models": {model: line.data for model, line in zip(models, lines)}})


def run_model(args, model: str):
    from .stats import Line, machine_cpu, percentile, ratio, summary

    clients = args.endpoint_clients
    seconds = args.endpoint_seconds or (1.0 if args.quick else 4.0)
    rounds = args.endpoint_rounds or (1 if args.quick else 4)
    pin = not args.endpoint_shared_cores
    with tempfile.TemporaryDirectory(prefix="bench-endpoint-") as tmp, Rig(Path(tmp), model, pin) as rig, \
            pinned(rig.cpus.get("client")):
        p, endpoint = rig.ports, f"/deployments/{DEPLOYMENT}/invocations"
        sides = {"direct": (p["model"], "/invocations"), "endpoint": (p["proxy"], endpoint),
                 # the breakdown: each hop of the endpoint alone in front of the model
                 "proxy_only": (p["proxy"], "/invocations"), "runner_only": (p["runner"], endpoint)}
        for port, path in sides.values():  # warm-up: connections, node's JIT
            measure(port, path, rig.token, clients, min(1.0, seconds))
        got = {name: {"samples": [], "bad": [], "seconds": 0.0, "cpu": {}, "others": 0.0, "steal": 0.0}
               for name in [*sides, *SERIAL]}
        for r in range(rounds):
            for name in (list(got) if r % 2 == 0 else list(reversed(got))):
                before, machine = rig.cpu(), machine_cpu()
                if name in SERIAL:  # one client: what a request pays on an idle path, without queueing
                    m = measure(*sides[SERIAL[name]], rig.token, 1, seconds / 2)
                else:
                    m = measure(*sides[name], rig.token, clients, seconds)
                after, machine_after = rig.cpu(), machine_cpu()
                g = got[name]
                g["others"] += machine_after[0] - machine[0] - sum(after[p] - before[p] for p in before)
                g["steal"] += machine_after[1] - machine[1]
                g["samples"] += m["samples"]
                g["bad"] += m["bad"]
                g["seconds"] += m["seconds"]
                for proc in before:
                    g["cpu"][proc] = g["cpu"].get(proc, 0.0) + after[proc] - before[proc]
        if not all(g["samples"] for g in got.values()):
            raise RuntimeError(f"no answers: {[(n, len(g['samples'])) for n, g in got.items()]}\n{rig.log_tail()}")
    errors = {name: len(g["bad"]) for name, g in got.items()}
    rps = {name: len(g["samples"]) / g["seconds"] for name, g in got.items()}
    p50 = {name: percentile(g["samples"], 50) for name, g in got.items()}
    p99 = {name: percentile(g["samples"], 99) for name, g in got.items()}
    throughput = {name: ratio(rps[name], rps["direct"]) for name in got if name not in SERIAL}
    added = {name: p50[name] - p50["direct"] for name in throughput}
    added["one_client"] = p50["one_client_endpoint"] - p50["one_client_direct"]
    ok = throughput["endpoint"] >= TARGET_RATIO and added["endpoint"] <= TARGET_ADDED_P50_S and not any(errors.values())

    cpu_ms = {name: {proc: round(t / len(got[name]["samples"]) * 1000, 4) for proc, t in g["cpu"].items()}
              for name, g in got.items()}
    # the CPU that processes outside the bench used meanwhile (cores): a busy machine's noise is in the figures
    others = {name: max(0.0, g["others"]) / g["seconds"] for name, g in got.items()}
    steal = sum(g["steal"] for g in got.values()) / sum(g["seconds"] for g in got.values())

    def side(name):
        return f"{rps[name]:.0f} req/s p50 {p50[name] * 1000:.2f}ms/p99 {p99[name] * 1000:.2f}ms"

    text = (f"endpoint: endpoint={side('endpoint')} direct={side('direct')} "
            f"ratio=throughput {throughput['endpoint']:.2f} added p50 {added['endpoint'] * 1000:.2f}ms "
            f"target=throughput>={TARGET_RATIO} added p50<={TARGET_ADDED_P50_S * 1000:.0f}ms ok={ok} "
            f"(model={model}, cores={'pinned' if rig.cpus else 'shared'}, clients={clients}, rounds={rounds}x{seconds:g}s, errors={sum(errors.values())}; "
            f"alone: proxy {throughput['proxy_only']:.2f}/{added['proxy_only'] * 1000:+.2f}ms, "
            f"runner {throughput['runner_only']:.2f}/{added['runner_only'] * 1000:+.2f}ms; "
            f"one client: added p50 {added['one_client'] * 1000:.2f}ms; "
            f"CPU a request: runner {cpu_ms['endpoint']['runner']:.2f}ms, proxy {cpu_ms['endpoint']['proxy']:.2f}ms; "
            f"others busy {others['direct']:.2f}/{others['endpoint']:.2f} cores, steal {steal:.2f})")
    return Line(text, {
        "model": model, "cores": {name: sorted(c) for name, c in rig.cpus.items()} or "shared",
        "clients": clients, "rounds": rounds, "seconds_per_round": seconds,
        "sides": {"direct": "client -> model", "endpoint": "client -> proxy -> runner -> model",
                  "proxy_only": "client -> proxy -> model", "runner_only": "client -> runner -> model",
                  "one_client_direct": "direct, one client", "one_client_endpoint": "endpoint, one client"},
        "requests_per_s": rps, "latency": {name: summary(g["samples"]) for name, g in got.items()},
        "ratio": {"throughput": throughput, "added_p50_s": added}, "errors": errors,
        "bad_statuses": sorted({b for g in got.values() for b in g["bad"]}),
        "cpu_ms_per_request": cpu_ms, "others_busy_cores": others, "steal_cores": steal, "target": {"throughput_ratio": TARGET_RATIO, "added_p50_s": TARGET_ADDED_P50_S},
        "ok": ok,
    })


if __name__ == "__main__":
    if sys.argv[1] == "model":
        serve_model(int(sys.argv[2]))
    elif sys.argv[1] == "runner":
        serve_runner(int(sys.argv[2]), sys.argv[3], sys.argv[4])
    else:
        sys.exit(f"usage: python -m bench.endpoint model PORT | runner PORT MODEL_URL TOKEN (not {sys.argv[1]!r})")
