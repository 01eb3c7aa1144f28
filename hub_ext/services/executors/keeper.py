"""The keeper: one small supervisor process per local job (started by ``local.LocalExecutor``).

Why a process of its own: the runner can be killed at any moment, but a job
must go on. If the runner were the job's parent and held its output pipe, the
job would lose its exit code and get SIGPIPE on its next print. So the runner
starts a keeper (detached, in its own session, as the hub's user) and the
keeper starts the job and stays with it, like a container runtime's monitor:

- it runs ``/bin/bash -c <command>`` in a new session (its own process group),
  joined to the job's cgroup and dropped to the user's OS account before exec,
  in a per-job working directory ``<home>/jobs/<job id>`` created as the user;
- it copies the job's stdout and stderr into a hub-owned log file (0600),
  capped: past the cap, the oldest bytes go and at least 3/4 of the cap, the
  tail, is kept (cut at a line start when one is near);
- it enforces the deadline (SIGTERM to the group, SIGKILL after the grace), a
  stop request (the ``.stop`` file beside the state), and an out-of-memory
  kill (the whole job goes, as notebooks do);
- at the end it removes the cgroup and records the facts (exit status, OOM
  kills, what ended it) in the job's state file, which the runner reads. The
  runner maps facts to a ``Status``; the keeper imports only the standard
  library and ``hub_ext.isolation.process`` so that it starts fast
  (submit→Running is on the user's path).

Protocol: the job's config as JSON on stdin; one line back on stdout,
``ok <ref>`` or ``error <message>``, then stdout closes.

Started so, a keeper costs an interpreter and its imports (tens of milliseconds)
before the job starts. So the runner keeps one warm **keeper server**
(``--serve``, :func:`serve`) that has imported all a keeper needs and forks a
keeper per job: configs one per line on its stdin, the keepers' replies one per
line on its stdout, in order. Each keeper leaves the server's session at once
(it must outlive the runner and the server, which ends when the runner closes
its stdin). The last state a keeper records is also how the runner hears that
the job ended: it watches the state directory (``keepers.StateWatch``).
"""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
import time

from hub_ext.isolation.process import enter_workload

TICK = 0.1  # seconds between checks of deadline, stop request and memory
CHUNK = 65536
ALIGN = 4096  # how far a cut may move to start the kept tail at a line


def state_path(state_dir: str, ref: str) -> str:
    return os.path.join(state_dir, ref.replace(":", "-") + ".json")


def stop_path(state_file: str) -> str:
    """A stop request: the grace in seconds, written by the runner, read by the keeper."""
    return state_file[:-len(".json")] + ".stop"


def read_state(path: str) -> dict | None:
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def write_state(path: str, state: dict) -> None:
    """Atomically (readers never see half a file), readable by the hub only."""
    tmp = f"{path}.{os.getpid()}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(state, f)
    os.replace(tmp, path)


def read_log(path: str, offset: int, retries: int = 20) -> tuple[bytes, int]:
    """Output from logical byte ``offset`` on (offsets count every byte the job wrote,
    dropped ones included), and the offset to ask from next."""
    for _ in range(retries):
        state = read_state(path)
        if state is None:
            return b"", offset
        try:
            with open(state["log"], "rb") as f:
                if os.fstat(f.fileno()).st_ino != state["log_inode"]:
                    time.sleep(0.01)  # the keeper is between compacting the log and recording it
                    continue
                dropped = state["log_dropped"]
                f.seek(max(0, offset - dropped))
                data = f.read()
                return data, max(offset, dropped) + len(data)
        except FileNotFoundError:
            return b"", offset
    raise OSError(f"log of {path} kept changing while read")


class CappedLog:
    """An append-only file holding at most ``cap`` bytes: the tail of everything written."""

    def __init__(self, path: str, cap: int, on_compact):
        self.path, self.cap, self.on_compact = path, max(1, cap), on_compact
        # read and write: a compaction reads back the tail it keeps (pread on a write-only fd is EBADF)
        self.fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND, 0o600)
        self.size = self.dropped = 0
        self.inode = os.fstat(self.fd).st_ino

    def write(self, data: bytes) -> None:
        if self.size + len(data) <= self.cap:
            os.write(self.fd, data)
            self.size += len(data)
            return
        # compact: the kept tail is at least 3/4 of the cap (so this happens about once per cap/4 of
        # output) and at most the cap, starting at a line when one starts in the slack between
        floor = self.cap * 3 // 4
        want = max(floor + min(ALIGN, self.cap - floor), min(len(data), self.cap))
        if len(data) >= want:
            tail = data[-want:]
        else:
            need = min(want - len(data), self.size)
            tail = os.pread(self.fd, need, self.size - need) + data
        cut = tail.rfind(b"\n", 0, len(tail) - floor)  # the last line start that keeps the floor
        if 0 <= cut < len(tail) - 1:
            tail = tail[cut + 1:]
        tmp = f"{self.path}.tmp"
        fd = os.open(tmp, os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND, 0o600)
        os.write(fd, tail)
        os.replace(tmp, self.path)
        os.close(self.fd)
        self.dropped += self.size + len(data) - len(tail)
        self.fd, self.size, self.inode = fd, len(tail), os.fstat(fd).st_ino
        self.on_compact()

    def close(self) -> None:
        os.close(self.fd)


def _preexec(config: dict):
    """In the job's child, before exec: ``hub_ext.isolation.enter_workload`` (join the cgroup as
    root, enter its sandbox, drop to the account, no_new_privs, go to ``<home>/jobs/<id>``), and a
    clear message if that fails (the job then never runs, least of all unconfined)."""
    group = config.get("cgroup") or {"dirs": {}}
    procs = [os.path.join(d, "cgroup.procs") for d in dict.fromkeys(group["dirs"].values())]
    account = config.get("account")
    identity = (account["uid"], account["gid"], tuple(account["groups"])) if account else None

    def preexec():
        try:
            enter_workload(cgroup_procs=procs, identity=identity, home=config["home"], workdir=config["workdir"],
                           sandbox=config.get("sandbox"))
        except Exception as exc:  # noqa: BLE001 - whatever it was, the job must not run
            os.write(2, f"hubfront: the job could not start: {exc}\n".encode())
            os._exit(126)

    return preexec


class Keeper:
    def __init__(self, config: dict):
        self.config = config
        self.path = state_path(config["state_dir"], "pending")
        self.cgroup = None
        self.ended_by: str | None = None
        self.kill_at: float | None = None

    # -- start -----------------------------------------------------------

    def start(self) -> str:
        c = self.config
        read_end, write_end = os.pipe()
        self.proc = subprocess.Popen(
            ["/bin/bash", "-c", c["command"]], stdin=subprocess.DEVNULL, stdout=write_end, stderr=write_end,
            env=c["env"], preexec_fn=_preexec(c), start_new_session=True, close_fds=True)
        os.close(write_end)
        self.pipe = read_end
        os.set_blocking(read_end, False)
        self.started = time.monotonic()
        import psutil

        ref = f"{self.proc.pid}:{psutil.Process(self.proc.pid).create_time()!r}"
        self.path = state_path(c["state_dir"], ref)
        self.log = CappedLog(c["log"], c["log_cap"], self.save)
        me = psutil.Process()
        self.state = {"job_id": c["job_id"], "kind": c.get("kind", "job"), "workload": c.get("workload"),
                      "ref": ref, "pid": self.proc.pid, "keeper": me.pid,
                      "keeper_start": me.create_time(), "log": c["log"], "log_dropped": 0,
                      "log_inode": self.log.inode, "memory": c.get("memory"), "timeout": c.get("timeout"),
                      "started": time.time(), "done": False, "address": c.get("address", "")}
        self.save()
        return ref

    def save(self) -> None:
        self.state.update(log_dropped=self.log.dropped, log_inode=self.log.inode)
        write_state(self.path, self.state)

    # -- watch -----------------------------------------------------------

    def pump(self, timeout: float) -> bool:
        """Copy what the job wrote into the log; False at end of output."""
        ready, _, _ = select.select([self.pipe], [], [], timeout)
        if not ready:
            return True
        try:
            data = os.read(self.pipe, CHUNK)
        except BlockingIOError:
            return True
        if data:
            self.log.write(data)
        return bool(data)

    def signal_group(self, sig: int) -> None:
        try:
            os.killpg(self.proc.pid, sig)
        except (ProcessLookupError, PermissionError):
            pass

    def end(self, why: str, grace: float) -> None:
        if self.ended_by is None:
            self.ended_by, self.kill_at = why, time.monotonic() + grace
            self.signal_group(signal.SIGTERM)

    def check(self) -> None:
        c, now = self.config, time.monotonic()
        if self.ended_by is None:
            stop = stop_path(self.path)
            if os.path.exists(stop):
                try:
                    grace = float(open(stop).read() or 0)
                except (OSError, ValueError):
                    grace = 0.0
                self.end("stop", grace)
            elif c.get("timeout") is not None and now - self.started >= c["timeout"]:
                self.end("deadline", c["grace"])
        if self.cgroup is not None and self.ended_by in (None, "deadline", "stop") and self.cgroup.oom_kills():
            self.ended_by, self.kill_at = "oom", now  # the whole job goes at once
        if self.kill_at is not None and now >= self.kill_at:
            self.signal_group(signal.SIGKILL)
            if self.cgroup is not None:
                self.cgroup.kill(timeout=1)

    def watch(self) -> int:
        group = self.config.get("cgroup")
        if group:
            from pathlib import Path

            from hub_ext.isolation.cgroups import Cgroup  # after the job started: off the user's path

            dirs = {controller: Path(d) for controller, d in group["dirs"].items()}
            self.cgroup = Cgroup(group["name"], dirs, group["version"])
        open_output = True
        while self.proc.poll() is None:
            if open_output:
                open_output = self.pump(TICK)
            else:  # its output ended (most often: it is exiting): its end is seen within a millisecond or so
                try:
                    self.proc.wait(TICK / 2)
                except subprocess.TimeoutExpired:
                    pass
            self.check()
        return self.proc.returncode

    def finish(self, returncode: int | None) -> None:
        """Clean up and record the outcome. The record comes whatever the clean-up meets: without it
        the job would read as lost (Failed/ServiceRestart) though it ended normally."""
        self.signal_group(signal.SIGKILL)  # what the job left behind in its group goes with it
        oom = 0
        try:
            if self.cgroup is not None:
                oom = self.cgroup.oom_kills()
                self.cgroup.remove(timeout=5)  # and anything that left the group
            if self.config.get("netns"):  # its network namespace (and veth) go with it
                subprocess.run(["ip", "netns", "delete", self.config["netns"]], capture_output=True, timeout=30)
            drain_until = time.monotonic() + 2  # a process outside any cgroup may hold the pipe open
            while time.monotonic() < drain_until and self.pump(0.2):
                pass
            os.close(self.pipe)
            self.log.close()
        except Exception as exc:  # noqa: BLE001 - the outcome is what matters now
            self.state.setdefault("cleanup_error", repr(exc))
        self.state.update(done=True, returncode=returncode, oom_kills=oom, ended_by=self.ended_by,
                          ended=time.time())
        self.save()


def run(config: dict, reply) -> None:
    """Be the keeper of the job ``config`` describes: start it, answer on ``reply``, watch it to its end."""
    keeper = Keeper(config)
    try:
        ref = keeper.start()
    except Exception as exc:  # noqa: BLE001 - told to the runner, which tells the user
        reply.write(f"error {exc}".replace("\n", " ") + "\n")
        reply.flush()
        return
    reply.write(f"ok {ref}\n")
    reply.flush()
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):  # the runner may go away; nothing of it is kept open
        os.dup2(devnull, fd)
    if reply is not sys.stdout:  # the server's pipe for this answer
        reply.close()
    returncode = None
    try:
        returncode = keeper.watch()
    except BaseException as exc:  # recorded: the job then fails with reason Error
        keeper.state["error"] = f"The job's supervisor failed: {exc!r}"
        keeper.signal_group(signal.SIGKILL)
    keeper.finish(returncode)


def serve() -> None:
    """The keeper server: a keeper forked per config line on stdin, its reply relayed on stdout; EOF ends it.

    Only this process's one thread forks, so each keeper starts as a clean copy with everything imported.
    The keepers it forked are reaped by the kernel (SIGCHLD ignored here; a keeper waits for its own job,
    so it takes the default back at once)."""
    import psutil  # noqa: F401 - imported once here, for every keeper forked after

    from hub_ext.isolation import cgroups  # noqa: F401 - as Keeper.watch imports it

    signal.signal(signal.SIGCHLD, signal.SIG_IGN)
    for line in sys.stdin.buffer:
        read_end, write_end = os.pipe()
        pid = os.fork()
        if pid == 0:  # the keeper
            try:
                signal.signal(signal.SIGCHLD, signal.SIG_DFL)
                os.setsid()
                os.close(read_end)
                run(json.loads(line), os.fdopen(write_end, "w"))
            finally:
                os._exit(0)
        os.close(write_end)
        with os.fdopen(read_end) as answer:
            reply = answer.readline()
        sys.stdout.write(reply if reply.endswith("\n") else "error the job's keeper ended before it answered\n")
        sys.stdout.flush()


def main() -> None:
    if sys.argv[1:] == ["--serve"]:
        serve()
    else:
        run(json.loads(sys.stdin.read()), sys.stdout)


if __name__ == "__main__":
    main()
