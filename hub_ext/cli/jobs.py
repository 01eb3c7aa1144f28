"""``hubfront jobs submit|list|logs|cancel``: the jobs REST API from a shell or a script.

Standard library only (urllib): it runs inside a user's notebook environment,
where ``$JUPYTERHUB_API_TOKEN`` and ``$JUPYTERHUB_API_URL`` are set, so a
notebook can submit a job.

Where it talks to: ``--url``, else ``$HUBFRONT_URL``, else ``$JUPYTERHUB_API_URL``,
else http://127.0.0.1:8000/hub/api. Its token: ``--token``, else
``$HUBFRONT_TOKEN``, else ``$JUPYTERHUB_API_TOKEN``. Its group: ``--group``,
else ``$HUBFRONT_GROUP`` (set inside a notebook server), else the user's
working group (``GET /hub/api/portal/me/context``).

Exit status: 0 done (``submit --wait/--follow``: the job succeeded), 1 the job
failed or was cancelled, 2 an error (refused by the API, hub unreachable, no
token, bad arguments).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shlex
import sys
import time
from urllib.parse import quote

from .client import DEFAULT_URL, CLIError, Client, Unreachable, api_token, api_url, error_message  # noqa: F401

DONE = ("Succeeded", "Failed", "Cancelled")
PHASES = ("Pending", "Preparing", "Running", *DONE)
OK, JOB_FAILED, ERROR = 0, 1, 2
POLL_MAX = 5.0  # seconds between looks at a job, at most, while waiting
RECONNECTS = 10  # a followed log or a wait survives this many failed requests in a row (hub restart)
_DROPPED = re.compile(rb"^\[\.\.\. (\d+) earlier bytes not kept \.\.\.\]\n")


def client_of(args) -> Client:
    return Client(api_url(args.url), api_token(args.token))


def job_id_of(text: str) -> str:
    text = text.strip().lstrip("#")
    if not text.isdigit():
        raise CLIError(f"not a job id: {text!r} (a number, as `hubfront jobs list` shows)")
    return text


def group_of(client: Client, args) -> str:
    if args.group:
        return args.group
    if os.environ.get("HUBFRONT_GROUP"):  # inside a notebook server: the server's group
        return os.environ["HUBFRONT_GROUP"]
    context = client.json("GET", "/me/context") or {}
    if not context.get("group"):
        raise CLIError("you are in no group: ask an administrator to add you to one, or pass --group")
    return context["group"]


def command_of(words: list[str]) -> str:
    """One word is a shell command line as it is; several are quoted and joined (``-- python3 -c ...``)."""
    if not words:
        raise CLIError("no command: give it after `--`, e.g. `hubfront jobs submit --name x -- python3 run.py`")
    return words[0] if len(words) == 1 else shlex.join(words)


def env_of(pairs: list[str]) -> dict[str, str]:
    env = {}
    for pair in pairs or ():
        name, sep, value = pair.partition("=")
        if not sep or not name:
            raise CLIError(f"--env {pair!r}: expected NAME=VALUE")
        env[name] = value
    return env


def timeout_of(text: str | None):
    """Seconds as a number, anything else (30m, 2h, 1d) as the API reads it."""
    if text is None:
        return None
    text = text.strip()
    return int(text) if text.isdigit() else text


def ending(job: dict) -> str:
    """``job 12 Failed (OOMKilled): ...``: the line printed to stderr when a waited-for job ends."""
    line = f"job {job['id']} {job['phase']}"
    if job.get("reason") and job["reason"] != job["phase"]:
        line += f" ({job['reason']})"
    if job.get("exit_code") not in (None, 0):
        line += f", exit code {job['exit_code']}"
    if job.get("message") and job["message"] not in (job["phase"], job.get("reason")):
        line += f": {job['message']}"
    return line


def outcome(job: dict) -> int:
    print(ending(job), file=sys.stderr)
    return OK if job["phase"] == "Succeeded" else JOB_FAILED


def _retrying(step, what: str):
    """``step()``, tried again (with a pause) while the hub is unreachable, up to RECONNECTS times."""
    failures = 0
    while True:
        try:
            return step()
        except Unreachable as exc:
            failures += 1
            if failures > RECONNECTS:
                raise CLIError(f"{exc} (gave up {what})") from None
            time.sleep(min(2.0 * failures, 10.0))


def wait_for(client: Client, job_id) -> dict:
    """Poll the job until it has ended; return it."""
    pause = 0.5
    while True:
        job = _retrying(lambda: client.job(job_id), f"waiting for job {job_id}")
        if job["phase"] in DONE:
            return job
        time.sleep(pause)
        pause = min(pause * 1.5, POLL_MAX)


def follow_log(client: Client, job_id, out) -> dict:
    """Stream the job's log to ``out`` until the job ends (resuming where it broke off); return the job."""
    offset = 0
    first = True
    while True:
        def stream():
            nonlocal offset, first
            path = f"/jobs/{quote(str(job_id), safe='')}/log"
            query = {"follow": "1", "offset": str(offset) if offset else None}
            with client.open("GET", path, query=query, timeout=None) as resp:
                head = b""
                while True:
                    try:
                        chunk = resp.read1(65536)
                    except (OSError, ValueError) as exc:
                        raise Unreachable(f"the log stream broke off: {exc}") from None
                    if not chunk:
                        break
                    if first:  # absolute offsets count bytes no longer kept: learn them from the notice
                        head += chunk
                        if b"\n" not in head and len(head) < 100 and b"[... ".startswith(head[:5]):
                            continue  # it may still be the notice
                        first = False
                        m = _DROPPED.match(head)
                        offset -= len(m.group(0)) - int(m.group(1)) if m else 0
                        chunk = head
                    offset += len(chunk)
                    out.write(chunk)
                    out.flush()
                if first and head:
                    first = False
                    offset += len(head)
                    out.write(head)
                    out.flush()

        _retrying(stream, f"following the log of job {job_id}")
        job = _retrying(lambda: client.job(job_id), f"following job {job_id}")
        if job["phase"] in DONE and offset >= (job.get("log_size") or 0):
            return job
        time.sleep(0.5)  # the stream ended early (hub restart, proxy): pick it up where it was


def _stdout_bytes():
    return getattr(sys.stdout, "buffer", None) or _TextWriter(sys.stdout)


class _TextWriter:
    def __init__(self, stream):
        self.stream = stream

    def write(self, data: bytes) -> None:
        self.stream.write(data.decode("utf-8", "replace"))

    def flush(self) -> None:
        self.stream.flush()


# -- the commands -----------------------------------------------------------------------


def _submit(args) -> int:
    if args.json and args.follow:
        raise CLIError("--json does not go with --follow (the log is the output): use --wait --json")
    client = client_of(args)
    body = {"name": args.name, "command": command_of(args.command)}
    for key, value in (("image", args.image), ("instance_type", args.instance_type),
                       ("timeout", timeout_of(args.timeout))):
        if value is not None:
            body[key] = value
    env = env_of(args.env)
    if env:
        body["env"] = env
    group = group_of(client, args)
    job = client.json("POST", f"/groups/{quote(group, safe='')}/jobs", body)
    if args.follow:
        print(f"job {job['id']} submitted in group {job['group']} ({job['phase']})", file=sys.stderr)
        try:
            return outcome(follow_log(client, job["id"], _stdout_bytes()))
        except KeyboardInterrupt:
            print(f"\nstopped following; job {job['id']} goes on (`hubfront jobs cancel {job['id']}` stops it)",
                  file=sys.stderr)
            return 130
    if args.wait:
        print(job["id"] if not args.json else json.dumps(job, indent=2), flush=True)
        try:
            job = wait_for(client, job["id"])
        except KeyboardInterrupt:
            print(f"\nstopped waiting; job {job['id']} goes on", file=sys.stderr)
            return 130
        if args.json:
            print(json.dumps(job, indent=2))
        return outcome(job)
    print(json.dumps(job, indent=2) if args.json else job["id"])
    return OK


def _when(iso: str | None) -> str:
    """``2025-06-02T10:11:12.345+00:00`` → ``2025-06-02 10:11:12`` (UTC, as the API gives it)."""
    if not iso:
        return ""
    return iso.replace("T", " ")[:19]


def table(jobs: list[dict]) -> str:
    rows = [("ID", "NAME", "PHASE", "REASON", "OWNER", "CREATED (UTC)")]
    for j in jobs:
        name = j["name"] if len(j["name"]) <= 40 else j["name"][:39] + "…"
        rows.append((str(j["id"]), name, j["phase"], j.get("reason") or "", j.get("username") or "",
                     _when(j.get("created"))))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows)


def _list(args) -> int:
    client = client_of(args)
    group = group_of(client, args)
    data = client.json("GET", f"/groups/{quote(group, safe='')}/jobs",
                       query={"phase": args.phase, "user": args.user, "limit": args.limit})
    jobs = data.get("jobs", [])
    if args.json:
        print(json.dumps(jobs, indent=2))
    elif jobs:
        print(table(jobs))
    else:
        print(f"no jobs in group {group}" + (f" ({args.phase})" if args.phase else ""), file=sys.stderr)
    return OK


def _logs(args) -> int:
    client = client_of(args)
    job_id = job_id_of(args.job_id)
    out = _stdout_bytes()
    if args.follow:
        try:
            job = follow_log(client, job_id, out)
        except KeyboardInterrupt:
            return 130
        print(ending(job), file=sys.stderr)
        return OK
    try:
        with client.open("GET", f"/jobs/{job_id}/log") as resp:
            while chunk := resp.read1(65536):
                out.write(chunk)
    except (OSError, ValueError) as exc:
        raise CLIError(f"the log broke off: {exc}") from None
    out.flush()
    return OK


def _cancel(args) -> int:
    client = client_of(args)
    job_id = job_id_of(args.job_id)
    job = client.json("POST", f"/jobs/{job_id}/cancel")
    if args.wait:
        job = wait_for(client, job_id)
    print(f"job {job['id']} {job['phase']}" + ("" if job["phase"] in DONE else " (cancel requested)"))
    return OK


def _guarded(func):
    def run(args) -> int:
        try:
            return func(args)
        except CLIError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return ERROR
        except BrokenPipeError:  # `hubfront jobs logs 12 | head`
            try:
                sys.stdout = open(os.devnull, "w")
            except OSError:
                pass
            return OK
    return run


def _connection_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--url", help="the hub's API URL (default: $HUBFRONT_URL, $JUPYTERHUB_API_URL, "
                                 f"else {DEFAULT_URL})")
    p.add_argument("--token", help="API token (default: $HUBFRONT_TOKEN, else $JUPYTERHUB_API_TOKEN)")


def add_parser(sub) -> None:
    jobs = sub.add_parser("jobs", help="submit, list, follow and cancel jobs through the hub's REST API",
                          description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    cmds = jobs.add_subparsers(dest="jobs_command", required=True)

    submit = cmds.add_parser(
        "submit", help="submit a job; prints its id",
        usage="hubfront jobs submit [options] --name NAME -- COMMAND [ARG ...]",
        description="Submit a job in a group. The command runs with /bin/bash -c: give one shell line "
                    "as one argument (\"python3 train.py > out.txt\"), or several words after `--`, "
                    "which are quoted for you.")
    submit.add_argument("--group", help="the group (default: $HUBFRONT_GROUP, else your working group)")
    submit.add_argument("--name", required=True, help="the job's display name")
    submit.add_argument("--image", help="image (default: the group's first)")
    submit.add_argument("--instance-type", help="instance type (default: the group's default)")
    submit.add_argument("--env", action="append", metavar="NAME=VALUE", help="an environment variable (repeatable)")
    submit.add_argument("--timeout", help="seconds, or 30m, 2h, 1d (default: the group's default job timeout)")
    how = submit.add_mutually_exclusive_group()
    how.add_argument("--wait", action="store_true",
                     help="wait for the job to end; exit 0 if it succeeded, 1 if it failed or was cancelled")
    how.add_argument("--follow", "-f", action="store_true",
                     help="stream the job's log until it ends; exit status as --wait")
    submit.add_argument("--json", action="store_true", help="print the job as JSON (not with --follow)")
    submit.add_argument("command", nargs="*", metavar="COMMAND", help="the command (after `--`)")
    _connection_options(submit)
    submit.set_defaults(func=_guarded(_submit))

    ls = cmds.add_parser("list", help="list a group's jobs, newest first")
    ls.add_argument("--group", help="the group (default: $HUBFRONT_GROUP, else your working group)")
    ls.add_argument("--phase", choices=PHASES, help="only jobs in this phase")
    ls.add_argument("--user", help="only this user's jobs")
    ls.add_argument("--limit", type=int, help="at most this many (API default 50, at most 500)")
    ls.add_argument("--json", action="store_true", help="print the jobs as JSON")
    _connection_options(ls)
    ls.set_defaults(func=_guarded(_list))

    logs = cmds.add_parser("logs", help="print a job's log")
    logs.add_argument("job_id", metavar="JOB_ID")
    logs.add_argument("--follow", "-f", action="store_true", help="stream the log until the job ends")
    _connection_options(logs)
    logs.set_defaults(func=_guarded(_logs))

    cancel = cmds.add_parser("cancel", help="cancel a job")
    cancel.add_argument("job_id", metavar="JOB_ID")
    cancel.add_argument("--wait", action="store_true", help="wait until it has stopped")
    _connection_options(cancel)
    cancel.set_defaults(func=_guarded(_cancel))
