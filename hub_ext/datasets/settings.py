"""The operator's settings of datasets (traitlets, read by the hub and by the runner)."""

from __future__ import annotations

from traitlets import Bool, Float, Int, List, Unicode
from traitlets.config import SingletonConfigurable


class Datasets(SingletonConfigurable):
    allow_local_git_urls = Bool(
        False,
        help="""Whether a git dataset may name a repository by a local path on the hub's machine
        (e.g. /srv/git/data.git). Off by default: the runner clones as root, so any member could
        otherwise read any repository on the hub's disk, another group's datasets included. Turn
        it on for a machine whose users may all read its repositories. ``file::``, ``ext::`` and
        other transport helpers are refused whatever this says.""",
    ).tag(config=True)

    git_protocols = List(
        Unicode(), ["https", "http", "ssh", "git"],
        help="Transports git may use for git datasets (GIT_ALLOW_PROTOCOL); 'file' is added for "
             "local paths when allow_local_git_urls is True.",
    ).tag(config=True)

    git_timeout = Int(600, help="Seconds one clone or fetch of a git dataset may take.").tag(config=True)

    sync_poll = Float(
        2.0, help="Seconds between the runner's looks for git datasets to sync (on demand or due).",
    ).tag(config=True)

    min_sync_interval = Int(
        60, help="Shortest schedule (seconds) a git dataset may be synced on (0 = on demand only).",
    ).tag(config=True)
