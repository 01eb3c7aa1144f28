"""Print a Python interpreter that workload OS accounts can run (``make`` builds .venv with it).

Workloads run as their owners' accounts with the hub's environment, so the
interpreter and its standard library must sit where every account may pass
(a Python under /root, as pyenv installs it, would not do). The first of the
candidates on the command line that is Python 3.10+ and reachable wins; if
none is, the first one that runs is printed and the hub reports at start what
workloads cannot reach.
"""

import os
import stat
import subprocess
import sys

PROBE = "import ensurepip, sys, venv; print(sys.version_info >= (3, 10)); print(sys.base_prefix); print(sys.executable)"


def reachable(path: str) -> bool:
    path = os.path.realpath(path)
    parts = [path] + [os.path.dirname(path)]
    while parts[-1] != os.path.dirname(parts[-1]):
        parts.append(os.path.dirname(parts[-1]))
    try:
        return all(os.stat(p).st_mode & stat.S_IXOTH for p in parts)
    except OSError:
        return False


def main(candidates: list[str]) -> str:
    fallback = None
    for candidate in candidates:
        try:
            out = subprocess.run([candidate, "-c", PROBE], capture_output=True, text=True, timeout=30).stdout.split("\n")
        except OSError:
            continue
        if len(out) < 3 or out[0] != "True":
            continue
        fallback = fallback or candidate
        if reachable(out[1]) and reachable(out[2]):
            return candidate
    return fallback or "python3"


if __name__ == "__main__":
    print(main(sys.argv[1:] or ["/usr/bin/python3", "python3"]))
