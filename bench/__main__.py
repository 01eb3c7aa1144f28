"""``python -m bench``: Hubfront against stock JupyterHub, one line per benchmark.

Each benchmark is a module ``bench/<name>.py`` listed in BENCHMARKS, with
``run(args) -> str`` returning its line ``NAME: hubfront=... stock=... ratio=...``
and, optionally, ``add_arguments(parser)`` for its own options. A ``bench.stats.Line``
return value also carries numbers, which go to bench/results/latest.json.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import traceback
from datetime import datetime, timezone
from importlib import import_module
from pathlib import Path

BENCHMARKS = ["home", "pages", "spawn", "admission", "job-latency", "cron", "endpoint", "cold-start", "sftp"]
RESULTS = Path(__file__).resolve().parent / "results" / "latest.json"


def load(name: str):
    """The benchmark module (``job-latency`` is ``bench/job_latency.py``), or None while it is not written yet."""
    module = name.replace("-", "_")
    try:
        return import_module(f"{__package__ or 'bench'}.{module}")
    except ModuleNotFoundError as exc:
        if exc.name == f"bench.{module}":
            return None
        raise


def parser(modules: dict) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    p.add_argument("--only", action="append", choices=BENCHMARKS, metavar="NAME",
                   help=f"run only this benchmark (repeatable): {', '.join(BENCHMARKS)}")
    p.add_argument("--quick", action="store_true", help="few samples: a smoke test, not a measurement")
    p.add_argument("--users", type=int, default=1000, help="users on each hub (default 1000)")
    p.add_argument("--groups", type=int, default=100, help="groups on each hub (default 100)")
    p.add_argument("--user-groups", type=int, default=5, help="groups of the measured user (default 5)")
    p.add_argument("--json", type=Path, default=RESULTS, help=f"results file (default {RESULTS.name})")
    for mod in modules.values():
        if mod is not None and hasattr(mod, "add_arguments"):
            mod.add_arguments(p)
    return p


def main(argv: list[str] | None = None) -> int:
    modules = {name: load(name) for name in BENCHMARKS}
    args = parser(modules).parse_args(argv)
    selected = args.only or BENCHMARKS
    results, failed = {}, False
    for name in selected:
        mod = modules[name]
        if mod is None:
            line = f"{name}: not run (bench/{name.replace('-', '_')}.py is not written yet)"
            print(line, flush=True)
            results[name] = {"line": line, "skipped": True}
            failed = failed or bool(args.only)
            continue
        t0 = time.monotonic()
        try:
            line = mod.run(args)
        except Exception as exc:  # noqa: BLE001 - report and go on with the next benchmark
            traceback.print_exc()
            line = f"{name}: failed: {exc.__class__.__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
            failed = True
            results[name] = {"line": line, "failed": True}
        else:
            results[name] = {"line": str(line), **getattr(line, "data", {})}
        results[name]["seconds"] = round(time.monotonic() - t0, 1)
        print(line, flush=True)
    write(args, results)
    return 1 if failed else 0


def write(args, results: dict) -> None:
    args.json.parent.mkdir(parents=True, exist_ok=True)
    doc = {"date": datetime.now(timezone.utc).isoformat(timespec="seconds"), "quick": args.quick,
           "argv": sys.argv[1:], "results": results}
    args.json.write_text(json.dumps(doc, indent=2, default=str) + "\n")


if __name__ == "__main__":
    sys.exit(main())
