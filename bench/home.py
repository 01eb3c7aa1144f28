"""``home``: p50/p99 latency of GET /hub/home for a logged-in user.

Both hubs hold the same population (default 1,000 users, 100 groups, the
measured user in 5 groups); Hubfront also gets the seeders of bench/seed.py.
After a warm-up, rounds alternate A/B and B/A, each round timing a run of
requests on a keep-alive session through the proxy.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from . import hubs
from .population import Population, mirror_groups, populate
from .seed import seed_hubfront
from .stats import Line, alternate, ms, percentile, ratio, summary

TARGET = 1.5  # p50 and p99 ratio hubfront/stock (issue 2; later issues tighten it)


def add_arguments(parser) -> None:
    g = parser.add_argument_group("home")
    g.add_argument("--home-rounds", type=int, help="A/B rounds (default 5, quick 2)")
    g.add_argument("--home-requests", type=int, help="requests per hub per round (default 200, quick 25)")
    g.add_argument("--home-budget", type=float, default=300,
                   help="seconds of measuring at most; rounds stop early past it (default 300)")


def settings(args) -> dict:
    quick = args.quick
    return {
        "rounds": args.home_rounds or (2 if quick else 5),
        "requests": args.home_requests or (25 if quick else 200),
        "warmup": 10 if quick else 100,
        "budget_s": args.home_budget,
    }


def run(args) -> str:
    conf = settings(args)
    pop = Population.make(args.users, args.groups, args.user_groups)
    with tempfile.TemporaryDirectory(prefix="hubfront-bench-") as root:
        with hubs.side_by_side(Path(root)) as (hf, st):
            for hub in (hf, st):
                populate(hub, pop)
            mirrored = mirror_groups(hf, st)
            seeded = seed_hubfront(hf.data_dir, pop)
            sessions = {}
            for hub in (hf, st):
                hub.set_local_password(pop.measured, hubs.USER_PASSWORD)
                sessions[hub] = hub.login(pop.measured, hubs.USER_PASSWORD)
                check_home(hub, sessions[hub], pop)
                sample_home(sessions[hub], conf["warmup"])
            deadline = time.monotonic() + conf["budget_s"]
            samples = alternate(conf["rounds"], [hf, st],
                                lambda hub, _r: sample_home(sessions[hub], conf["requests"], deadline))
    hf_s, st_s = samples[hf], samples[st]
    p50 = ratio(percentile(hf_s, 50), percentile(st_s, 50))
    p99 = ratio(percentile(hf_s, 99), percentile(st_s, 99))
    text = (f"home: hubfront={fmt(hf_s)} stock={fmt(st_s)} "
            f"ratio=p50 {p50:.2f}/p99 {p99:.2f} target<={TARGET}")
    return Line(text, {
        "hubfront": summary(hf_s), "stock": summary(st_s),
        "ratio": {"p50": p50, "p99": p99}, "target": TARGET,
        "settings": conf, "users": len(pop.users), "groups": len(pop.groups) + len(mirrored),
        "measured_user_groups": len(pop.measured_groups), "seeders": seeded,
    })


def fmt(samples) -> str:
    return f"p50 {ms(percentile(samples, 50))}/p99 {ms(percentile(samples, 99))}"


def check_home(hub, session, pop: Population) -> None:
    """The page measured is the user's home, not a login redirect or an error."""
    r = session.get(session.url("/hub/home"), allow_redirects=False, timeout=30)
    if r.status_code != 200:
        raise RuntimeError(f"{hub.kind}: GET /hub/home gave {r.status_code}")
    if pop.measured not in r.text:
        raise RuntimeError(f"{hub.kind}: /hub/home does not show {pop.measured}")


def sample_home(session, n: int, deadline: float | None = None) -> list[float]:
    url = session.url("/hub/home")
    out = []
    for _ in range(n):
        if deadline is not None and time.monotonic() > deadline and out:
            break
        t0 = time.perf_counter()
        r = session.get(url, allow_redirects=False, timeout=30)
        elapsed = time.perf_counter() - t0
        if r.status_code != 200:
            raise RuntimeError(f"GET /hub/home gave {r.status_code}")
        out.append(elapsed)
    return out
