"""``c.SSHGateway``: where the SSH gateway listens and what it allows (operators' settings, with help)."""

from __future__ import annotations

import os

from traitlets import Bool, Float, Int, Unicode, default, validate
from traitlets.config import SingletonConfigurable

from ..quantities import parse_lifetime

SERVICE_NAME = "hubfront-ssh"


class SSHGateway(SingletonConfigurable):
    port = Int(
        help="""TCP port the SSH gateway listens on (default: $HUBFRONT_SSH_PORT, else 8022). Users connect with
        ``ssh -p <port> <user>@<host>``.""",
    ).tag(config=True)

    @default("port")
    def _port_default(self):
        return int(os.environ.get("HUBFRONT_SSH_PORT") or 8022)

    bind_ip = Unicode(
        "0.0.0.0", help="Address the SSH gateway listens on (0.0.0.0: every interface; 127.0.0.1: this machine only).",
    ).tag(config=True)

    public_host = Unicode(
        "", help="""Host name users reach the gateway at, shown in the command line on the SSH keys page (a load
        balancer's name on Kubernetes). Default: the host the user's browser reached the hub at.""",
    ).tag(config=True)

    public_port = Int(
        0, help="Port users reach the gateway at, when it differs from port (a NodePort, a forwarded port). 0: port.",
    ).tag(config=True)

    login_grace_seconds = Float(
        60.0, help="Seconds a client has to sign in before the gateway closes its connection.",
    ).tag(config=True)

    keepalive_seconds = Float(
        30.0, help="Seconds between keep-alive probes of a quiet client; 3 unanswered probes close it (0: never).",
    ).tag(config=True)

    start_on_demand = Bool(
        True, help="""Start the user's notebook when they connect and it is not running (with their group's default
        instance type and image, admitted into the quota as a launch from the Notebooks page); a refusal is told
        to the client. False: they are told to start it on the Notebooks page.""",
    ).tag(config=True)

    start_timeout_seconds = Float(
        600.0, help="How long a connection waits for a notebook started on demand to be ready.",
    ).tag(config=True)

    allow_local_forwarding = Bool(
        True, help="""Let users forward local ports (``ssh -L 6006:localhost:6006``, ``ssh -W``, VS Code Remote-SSH) to
        ports inside their notebook server's network namespace (its own loopback, and what the notebook itself may
        reach). X11 forwarding is never allowed.""",
    ).tag(config=True)

    allow_remote_forwarding = Bool(
        False, help="""Let users forward remote ports (``ssh -R 9000:localhost:9000``): the port listens inside their
        notebook server's network namespace (never on the gateway's or the host's network), ports 1024 and up.""",
    ).tag(config=True)

    allow_agent_forwarding = Bool(
        False, help="""Let users forward their SSH agent (``ssh -A``): their sessions get ``SSH_AUTH_SOCK``, a socket
        only their OS account may open, relaying to the agent on their own machine (``git clone`` of a private
        repository without a key on the platform). Anyone who runs code as that account while the connection is
        open can use the agent's keys.""",
    ).tag(config=True)

    idle_timeout = Unicode(
        "never", help="""An SSH connection with no data in any of its channels for this long is closed (seconds or
        30m, 2h; "never": kept while the client answers keep-alives). Its notebook's own idle timeout is the
        lifecycle's (``c.Lifecycle.idle_timeout``).""",
    ).tag(config=True)

    @validate("idle_timeout")
    def _idle_timeout(self, proposal):
        parse_lifetime(proposal["value"])
        return proposal["value"]

    def idle_timeout_seconds(self) -> int:
        return parse_lifetime(self.idle_timeout)

    activity_seconds = Float(
        60.0, help="""While a user has an SSH session open in a notebook, tell the hub it is in use this often (the
        idle culler then counts it as active, as it does a JupyterLab terminal).""",
    ).tag(config=True)

    sftp_server = Unicode(
        "/usr/lib/openssh/sftp-server",
        help="""The OpenSSH sftp-server binary the gateway runs, as the user inside their notebook's sandbox, for
        the sftp subsystem (Debian: package openssh-sftp-server).""",
    ).tag(config=True)

    shell = Unicode(
        "/bin/bash", help="The shell commands and interactive sessions run in (as a JupyterLab terminal: a login shell).",
    ).tag(config=True)

    def shown_port(self) -> int:
        return self.public_port or self.port
