"""The runner's settings (``c.Runner.…``): read by the runner process, and by the hub where it shows
them (Maintenance's retention)."""

from __future__ import annotations

from traitlets import Float, Int, Unicode
from traitlets.config import LoggingConfigurable


class Runner(LoggingConfigurable):
    """Settings of the runner service (``c.Runner.…``, read by the runner process)."""

    executor = Unicode(
        "local", help="Where jobs run: 'local' (processes on this machine) or 'kubernetes' (batch/v1 Jobs).",
    ).tag(config=True)

    reconcile_interval = Float(5.0, help="Seconds between reconcile passes when nothing wakes the runner.").tag(config=True)

    watch_interval = Float(
        0.5, help="Seconds between looks at running jobs (output, exit) while any runs.",
    ).tag(config=True)

    log_cap = Int(10 * 2**20, help="Most bytes of output kept per job (the latest are kept).").tag(config=True)

    artifacts_max_bytes = Int(100 * 2**20, help="Most bytes of artifacts kept per job.").tag(config=True)

    artifacts_max_files = Int(1000, help="Most artifact files kept per job.").tag(config=True)

    retention_days = Float(30.0, help="Finished jobs older than this are removed (beyond keep_per_group).").tag(config=True)

    keep_per_group = Int(100, help="The newest finished jobs of each group kept past the retention.").tag(config=True)

    cancel_grace = Float(10.0, help="Seconds a cancelled job gets between SIGTERM and SIGKILL.").tag(config=True)

    barrier_after = Float(
        300.0,
        help="""Seconds a job refused by the group's quota lets later, smaller jobs of its group
        start ahead of it; after that nothing later in the group starts before it.""",
    ).tag(config=True)

    missed_grace = Float(
        3600.0, help="A scheduled run missed while the runner was down starts on restart if at most this many "
                     "seconds late; older ones are recorded as missed.",
    ).tag(config=True)

    env_dir = Unicode(help="Where image environments are built (shared with notebooks). Default: <data_dir>/envs.").tag(config=True)

    hub_prefix = Unicode("/hub/", help="The hub's URL prefix, for links in activities.").tag(config=True)
    hub_changes = Unicode(help="""The change stamps of the hub's own database (set by the hub: hub_ext.store.changes):
        the groups read from the hub's API are used again while its group tables are unchanged. Empty: read
        on every pass.""").tag(config=True)

    max_concurrent_builds = Int(
        2, help="Image builds run at once by this runner (one machine); later ones wait in order. "
                "0: this runner starts none (they wait until a runner that builds takes them).",
    ).tag(config=True)
