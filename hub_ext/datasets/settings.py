"""The operator's settings of datasets (traitlets, read by the hub and by the runner)."""

from __future__ import annotations

from traitlets import Bool, Float, Int, List, TraitError, Unicode, validate
from traitlets.config import SingletonConfigurable

from .addresses import parse_networks


class Datasets(SingletonConfigurable):
    allow_local_git_urls = Bool(
        False,
        help="""Whether a git dataset may name a repository by a local path on the hub's machine
        (e.g. /srv/git/data.git). Off by default: a member could otherwise clone any repository the
        cloning account may read (with isolation on, the group's service account; off, the hub's own
        account: another group's datasets included). Turn it on for a machine whose users may all read
        its repositories. ``file::``, ``ext::`` and other transport helpers are refused whatever this says.""",
    ).tag(config=True)

    git_protocols = List(
        Unicode(), ["https", "http", "ssh", "git"],
        help="Transports git may use for git datasets (GIT_ALLOW_PROTOCOL); 'file' is added for "
             "local paths when allow_local_git_urls is True.",
    ).tag(config=True)

    git_timeout = Int(
        600, help="Seconds one clone or fetch of a git dataset may take; then every process of it is killed.",
    ).tag(config=True)

    refused_networks = List(
        Unicode(), [],
        help="""Networks a git dataset's URL may not point at, besides those always refused (loopback
        127.0.0.0/8 and ::1, link-local 169.254.0.0/16 (the cloud's metadata service) and fe80::/10, the
        unspecified 0.0.0.0/8 and ::, and IPv4 addresses inside IPv6 forms of those), e.g. ["10.0.0.0/8",
        "172.16.0.0/12", "192.168.0.0/16", "fd00::/8"] where internal services live on private networks.
        Checked when a dataset is saved and again, with the name resolved then, at every sync.""",
    ).tag(config=True)

    resolve_timeout = Float(
        5.0, help="Seconds the hub waits for DNS when a git dataset's host name is checked on save.",
    ).tag(config=True)

    sync_concurrency = Int(
        4,
        help="""Most git syncs running at once on the runner. Each group syncs one dataset at a time, in
        its own queue, so a group's hung clone delays only that group's other datasets (until
        git_timeout), and at most this many groups' syncs run together.""",
    ).tag(config=True)

    git_memory = Int(
        1 << 30, help="Memory limit (bytes) of one git sync's cgroup when workloads are isolated (0: none).",
    ).tag(config=True)

    git_cpu = Float(
        1.0, help="CPU limit (cores) of one git sync's cgroup when workloads are isolated (0: none).",
    ).tag(config=True)

    @validate("refused_networks")
    def _check_networks(self, proposal):
        try:
            parse_networks(proposal["value"])
        except ValueError as exc:
            raise TraitError(f"Datasets.refused_networks: {exc}") from None
        return proposal["value"]

    def networks(self):
        """The operator's extra refused networks, parsed."""
        return parse_networks(self.refused_networks)

    sync_poll = Float(
        2.0, help="Seconds between the runner's looks for git datasets to sync (on demand or due).",
    ).tag(config=True)

    min_sync_interval = Int(
        60, help="Shortest schedule (seconds) a git dataset may be synced on (0 = on demand only).",
    ).tag(config=True)
