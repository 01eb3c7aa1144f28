"""Where an SSH login lands on Kubernetes: the user's notebook pod (KubeSpawner's), whose ``notebook`` container
a session runs in through the pod's exec API and ``ssh -L`` reaches through its port-forward API.

The pod is the one the hub's model of the signed-in user names (its server's spawner state, read with
``admin:server_state``: ``pod_name`` and ``namespace``), never one the client names. Before a session runs
there the gateway reads the pod and checks it is that user's (KubeSpawner's ``hub.jupyter.org/username``
annotation) and running: the user's identity is the gateway's to check, since the exec API runs whatever it is
asked as the container's user. ``c.KubeSSH`` holds the settings.
"""

from __future__ import annotations

from dataclasses import dataclass

from traitlets import Bool, Unicode
from traitlets.config import Configurable

from .target import Unavailable, running_server

USERNAME_ANNOTATION = "hub.jupyter.org/username"  # KubeSpawner's, the user's name as the hub has it


class KubeSSH(Configurable):
    enabled = Bool(
        False, help="""Sessions land in the user's notebook pod (through the Kubernetes exec and port-forward APIs)
        instead of a local notebook's sandbox. The hub sets it when its spawner is a KubeSpawner.""",
    ).tag(config=True)

    container = Unicode(
        "notebook", help="The container of a notebook pod sessions run in (KubeSpawner's is named notebook).",
    ).tag(config=True)

    sftp_server = Unicode(
        "/usr/lib/openssh/sftp-server",
        help="""OpenSSH's sftp-server inside the notebook image, run in the user's pod for the sftp subsystem (and
        so scp's SFTP mode). The image must have it (Debian and Ubuntu: package openssh-sftp-server); where it
        does not, SFTP sessions are refused with a message saying so.""",
    ).tag(config=True)


@dataclass
class PodLanding:
    username: str
    group: str
    server: str
    namespace: str
    pod: str
    container: str


def resolve_pod(user: dict, asked_group: str | None, db_url: str, container: str) -> PodLanding:
    """Which pod ``user`` (the hub's model, with groups and servers' state) lands in. Raises :class:`Unavailable`."""
    group, server_name, server = running_server(user, asked_group, db_url)
    state = server.get("state") or {}
    pod, namespace = state.get("pod_name"), state.get("namespace")
    if not isinstance(pod, str) or not pod or not isinstance(namespace, str) or not namespace:
        raise Unavailable(f"Your notebook in {group} is not a Kubernetes pod: SSH into it is not available")
    return PodLanding(user["name"], group, server_name, namespace, pod, container)


def check_pod(landing: PodLanding, pod: dict) -> None:
    """That ``pod`` (Kubernetes JSON, as read now) is ``landing``'s user's, running, with the container sessions
    run in. Raises :class:`Unavailable`."""
    meta, status = pod.get("metadata") or {}, pod.get("status") or {}
    owner = (meta.get("annotations") or {}).get(USERNAME_ANNOTATION)
    if owner != landing.username or meta.get("name") != landing.pod:
        raise Unavailable(f"Your notebook in {landing.group} is not running: start it on the Notebooks page")
    if status.get("phase") != "Running" or meta.get("deletionTimestamp"):
        raise Unavailable(f"Your notebook in {landing.group} is not running: start it on the Notebooks page")
    names = [c.get("name") for c in (pod.get("spec") or {}).get("containers") or []]
    if landing.container not in names:
        raise Unavailable(f"Your notebook's pod has no container {landing.container!r} (c.KubeSSH.container)")
