"""One SSH session channel: a shell, a command or the sftp subsystem, run as the user inside their notebook
server's sandbox (``target.Landing``) and bridged to the channel.

The child is started by the gateway (root) with the isolation module's ``preexec`` (the server's cgroup,
its network namespace, a private /tmp, the user's OS account, ``no_new_privs``, the home), never as root.
A shell or a command with a PTY gets one (owned by the user, the child's controlling terminal, resized as
the client's window is); without one, pipes. ``sftp`` is OpenSSH's ``sftp-server`` run the same way: the
file system's permissions decide what it may read and write. scp (both kinds) and rsync need nothing more:
legacy scp and rsync are commands (``scp -t``, ``rsync --server``), new scp speaks SFTP.

Flow control both ways: the child's output is read only while the channel takes more (``pause_writing``),
and the client's input is taken only while the child keeps up (``pause_reading``).
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import grp
import logging
import os
import re
import signal
import struct
import termios

import asyncssh

from .target import Landing

CHUNK = 65536
INPUT_LIMIT = 1 << 20  # bytes of the client's input held for a slow child before the channel is paused
SIGNALS = {"HUP": signal.SIGHUP, "INT": signal.SIGINT, "KILL": signal.SIGKILL, "QUIT": signal.SIGQUIT,
           "TERM": signal.SIGTERM, "USR1": signal.SIGUSR1, "USR2": signal.SIGUSR2}
_ENV_NAME = re.compile(r"LANG|LC_[A-Z_]{1,32}")  # the client's variables a session takes (sshd's AcceptEnv)
log = logging.getLogger("hubfront.ssh")


def _set_size(fd: int, width: int, height: int, pixwidth: int = 0, pixheight: int = 0) -> None:
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", height or 24, width or 80, pixwidth, pixheight))


class _Output:
    """The child's stdout or stderr (a pipe, or the PTY's master) copied to the channel."""

    def __init__(self, fd: int, write, gate: asyncio.Event):
        self.fd, self.write, self.gate = fd, write, gate
        os.set_blocking(fd, False)
        self.done = asyncio.get_running_loop().create_future()

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            while True:
                await self.gate.wait()  # the channel takes more
                ready = loop.create_future()
                loop.add_reader(self.fd, lambda: ready.done() or ready.set_result(None))
                try:
                    await ready
                finally:
                    loop.remove_reader(self.fd)
                try:
                    data = os.read(self.fd, CHUNK)
                except BlockingIOError:
                    continue
                except OSError:  # EIO: the PTY's last holder closed it
                    data = b""
                if not data:
                    break
                self.write(data)
        finally:
            if not self.done.done():
                self.done.set_result(None)


class GatewaySession(asyncssh.SSHServerSession):
    """What asyncssh drives for one session channel (``SSHServer.session_requested``)."""

    def __init__(self, connection):
        self.connection = connection  # the gateway's per-connection state (``server.GatewayServer``)
        self.chan = None
        self.argv_kind = ""  # shell, exec, sftp
        self.command = ""
        self.term = None  # (type, width, height, pixwidth, pixheight) when a PTY was asked for
        self.env: dict[str, str] = {}
        self.proc: asyncio.subprocess.Process | None = None
        self.stdin_fd: int | None = None
        self.master: int | None = None
        self.pending = bytearray()
        self.input_eof = False
        self.writable = asyncio.Event()
        self.writable.set()
        self.task: asyncio.Task | None = None

    # -- what the client asks for ------------------------------------------------

    def connection_made(self, chan) -> None:
        self.chan = chan

    def pty_requested(self, term_type, term_size, term_modes) -> bool:
        self.term = (term_type or "xterm", *term_size)
        return True

    def env_requested(self, name: str, value: str) -> bool:  # older asyncssh; newer read get_environment()
        return False

    def shell_requested(self) -> bool:
        self.argv_kind = "shell"
        return True

    def exec_requested(self, command: str) -> bool:
        self.argv_kind, self.command = "exec", command
        return True

    def subsystem_requested(self, subsystem: str) -> bool:
        if subsystem != "sftp":
            return False
        self.argv_kind = "sftp"
        return True

    def session_started(self) -> None:
        self.connection.sessions.add(self)
        self.task = asyncio.ensure_future(self._run())
        self.task.add_done_callback(self._ended)

    def _ended(self, task: asyncio.Task) -> None:
        """A fault of the gateway's own still ends the session (the client never hangs on it)."""
        self.connection.sessions.discard(self)
        if task.cancelled() or task.exception() is None:
            return
        log.error("SSH session of %s failed", self.connection.login, exc_info=task.exception())
        try:
            self.chan.exit(1)
        except (OSError, asyncssh.Error):
            pass

    # -- input from the client ---------------------------------------------------

    def data_received(self, data: bytes, datatype) -> None:
        self.connection.saw_data()
        self.pending += data
        if len(self.pending) > INPUT_LIMIT:
            self.chan.pause_reading()
        self._flush_input()

    def eof_received(self) -> bool:
        self.input_eof = True
        self._flush_input()
        return True  # half open: the child's output still goes out

    def terminal_size_changed(self, width, height, pixwidth, pixheight) -> None:
        if self.master is not None:
            _set_size(self.master, width, height, pixwidth, pixheight)
            if self.proc is not None and self.proc.returncode is None:
                self._signal(signal.SIGWINCH)

    def signal_received(self, name: str) -> None:
        if name in SIGNALS:
            self._signal(SIGNALS[name])

    def break_received(self, msec: int) -> bool:
        if self.master is not None:
            termios.tcsendbreak(self.master, 0)
            return True
        return False

    def pause_writing(self) -> None:
        self.writable.clear()

    def resume_writing(self) -> None:
        self.writable.set()

    def connection_lost(self, exc) -> None:
        self.input_eof = True
        self.writable.set()
        if self.proc is not None and self.proc.returncode is None:
            self._signal(signal.SIGHUP)
            asyncio.get_running_loop().call_later(5, self._signal, signal.SIGKILL)

    def _signal(self, sig) -> None:
        if self.proc is None or self.proc.returncode is not None:
            return
        try:
            os.killpg(self.proc.pid, sig)  # its session: the shell and what it runs in the foreground
        except ProcessLookupError:
            pass

    def _flush_input(self) -> None:
        fd = self.stdin_fd
        if fd is None:
            return
        loop = asyncio.get_running_loop()
        while self.pending:
            try:
                n = os.write(fd, self.pending[:CHUNK])
            except BlockingIOError:
                loop.add_writer(fd, self._writable_again)
                return
            except OSError:  # the child closed its input: what is left goes nowhere
                self.pending.clear()
                break
            del self.pending[:n]
        if len(self.pending) <= INPUT_LIMIT and self.chan is not None:
            self.chan.resume_reading()
        if self.input_eof and self.master is None and fd is not None:
            os.close(fd)
            self.stdin_fd = None

    def _writable_again(self) -> None:
        if self.stdin_fd is not None:
            asyncio.get_running_loop().remove_writer(self.stdin_fd)
        self._flush_input()

    def say(self, text: str) -> None:
        """A line for the person at the terminal, on stderr (never into an SFTP stream)."""
        self.chan.write_stderr(f"{text}\r\n".encode() if self.term else f"{text}\n".encode())

    # -- the child ---------------------------------------------------------------

    def _argv(self, landing: Landing) -> list[str]:
        settings = self.connection.gateway.settings
        if self.argv_kind == "sftp":
            return [settings.sftp_server]
        if self.argv_kind == "exec":
            return [settings.shell, "-c", self.command]
        return [settings.shell, "-l"]

    def _ssh_environment(self, landing) -> dict[str, str]:
        """What sshd sets for a session (local or in a pod): where the client is, the group, the client's
        LANG and LC_* (sshd's AcceptEnv; names and values checked), TERM with a terminal."""
        client, local = self.connection.peer, self.connection.local
        env = {"SSH_CONNECTION": f"{client[0]} {client[1]} {local[0]} {local[1]}",
               "SSH_CLIENT": f"{client[0]} {client[1]} {local[1]}", "HUBFRONT_GROUP": landing.group}
        for name, value in (self.chan.get_environment() or {}).items():
            if isinstance(name, str) and isinstance(value, str) and _ENV_NAME.fullmatch(name) and "\0" not in value:
                env[name] = value
        if self.term is not None:
            env["TERM"] = self.term[0]
        return env

    def _environment(self, landing: Landing, agent: str | None = None) -> dict[str, str]:
        env = {**landing.env, **({"SSH_AUTH_SOCK": agent} if agent else {}), **self._ssh_environment(landing)}
        if self.argv_kind == "exec" and self.command:
            env["SSH_ORIGINAL_COMMAND"] = self.command
        return env

    def _out(self, data: bytes) -> None:
        self.connection.saw_data()
        self.chan.write(data)

    def _err(self, data: bytes) -> None:
        self.connection.saw_data()
        self.chan.write_stderr(data)

    async def _start(self, landing: Landing):
        agent = await self.connection.agent_socket(landing, self.chan) if self.argv_kind != "sftp" else None
        argv, env = self._argv(landing), self._environment(landing, agent)
        enter = landing.preexec()
        if self.term is not None and self.argv_kind != "sftp":
            master, slave = os.openpty()
            _set_size(master, *self.term[1:])
            try:
                tty_gid = grp.getgrnam("tty").gr_gid
            except KeyError:
                tty_gid = -1
            if landing.uid is not None:
                os.fchown(slave, landing.uid, tty_gid)
                os.fchmod(slave, 0o620)

            def preexec():
                fcntl.ioctl(0, termios.TIOCSCTTY, 0)  # after setsid (start_new_session): its own terminal
                enter()

            try:
                proc = await asyncio.create_subprocess_exec(
                    *argv, stdin=slave, stdout=slave, stderr=slave, env=env, preexec_fn=preexec,
                    start_new_session=True, close_fds=True)
            finally:
                os.close(slave)
            self.master, self.stdin_fd = master, master
            os.set_blocking(master, False)
            return proc, [_Output(master, self._out, self.writable)]
        r_in, w_in = os.pipe()
        r_out, w_out = os.pipe()
        r_err, w_err = os.pipe()
        try:
            proc = await asyncio.create_subprocess_exec(
                *argv, stdin=r_in, stdout=w_out, stderr=w_err, env=env, preexec_fn=enter,
                start_new_session=True, close_fds=True)
        except BaseException:
            for fd in (w_in, r_out, r_err):
                os.close(fd)
            raise
        finally:
            for fd in (r_in, w_out, w_err):
                os.close(fd)
        os.set_blocking(w_in, False)
        self.stdin_fd = w_in
        outputs = [_Output(r_out, self._out, self.writable)]
        if self.argv_kind == "sftp":  # its log lines are nobody's business on the channel
            outputs.append(_Output(r_err, lambda data: None, asyncio.Event()))
            outputs[-1].gate.set()
        else:
            outputs.append(_Output(r_err, self._err, self.writable))
        return proc, outputs

    async def _landed(self):
        """Where this session runs (``connection.landing``); None once the person at the terminal was told why
        it cannot (exit status 1)."""
        try:
            return await self.connection.landing(self.say)
        except Exception as exc:  # a clear message, never a traceback to the client
            message = getattr(exc, "message", None) or "The SSH gateway could not reach your notebook; try again later"
            if not getattr(exc, "message", None):
                log.exception("SSH session of %s failed", self.connection.login)
            self.say(message)
            self._exit(1)
            return None

    def _exit(self, status: int) -> None:
        try:
            self.chan.exit(status)
        except (OSError, asyncssh.Error):
            pass

    @contextlib.contextmanager
    def _in_use(self, landing):
        """While the session's child runs: the notebook is in use (told to the hub), and a command keeps the
        connection from its SSH idle timeout."""
        gateway = self.connection.gateway
        gateway.session_opened(landing.username, landing.server)
        busy = self.argv_kind == "exec"
        self.connection.running_commands += busy
        try:
            yield
        finally:
            self.connection.running_commands -= busy
            self.connection.saw_data()
            gateway.session_closed(landing.username, landing.server)

    async def _run(self) -> None:
        landing = await self._landed()
        if landing is None:
            return
        try:
            self.proc, outputs = await self._start(landing)
        except Exception as exc:  # noqa: BLE001 - OSError, or SubprocessError from the sandbox's preexec
            log.warning("SSH session of %s could not start: %s", landing.username, exc)
            self.chan.write_stderr(b"Your session could not start in your notebook's environment\n")
            self._exit(1)
            return
        log.info("SSH %s of %s in %s (pid %s)", self.argv_kind, landing.username, landing.group, self.proc.pid)
        self._flush_input()
        readers = [asyncio.ensure_future(o.run()) for o in outputs]
        with self._in_use(landing):
            status = await self.proc.wait()
            if self.master is not None:
                # a PTY: what the shell wrote before it ended, not what background jobs keep writing
                await asyncio.wait(readers, timeout=1)
            else:
                await asyncio.wait(readers)
        for task in readers:
            task.cancel()
        await asyncio.gather(*readers, return_exceptions=True)
        for fd in {self.stdin_fd, self.master, *(o.fd for o in outputs)} - {None}:
            try:
                os.close(fd)
            except OSError:
                pass
        self.stdin_fd = self.master = None
        try:
            if status < 0:
                self.chan.exit_with_signal(signal.Signals(-status).name[3:])
            else:
                self.chan.exit(status)
        except (OSError, asyncssh.Error, ValueError):
            pass
