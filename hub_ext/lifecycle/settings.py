"""The platform's defaults of the notebooks' lifecycle (``c.Lifecycle.…``), read by the hub and the runner.

A group's policy overrides each (``idle_timeout``, ``warn_before``, ``max_age``, ``max_extensions``), and an
instance type of the catalog overrides ``idle_timeout`` and ``max_age`` for its notebooks (GPU types are
typically stopped sooner).
"""

from __future__ import annotations

from traitlets import Float, Int, Unicode, validate
from traitlets.config import Configurable

from ..quantities import parse_duration, parse_lifetime


class Lifecycle(Configurable):
    idle_timeout = Unicode(
        "never", help="""A notebook server with no activity the hub sees (and, where measured, CPU and GPU use
        below the thresholds) is stopped after this long: seconds or 30m, 1h, 7d; "never" keeps it. A group's
        policy and an instance type may set their own.""",
    ).tag(config=True)

    warn_before = Unicode(
        "10m", help="How long before a notebook is stopped its owner is warned (and offered Keep running).",
    ).tag(config=True)

    max_age = Unicode(
        "never", help="""A notebook server is stopped at this age however busy it is (seconds or 12h, 7d;
        "never": no limit). A group's policy and an instance type may set their own.""",
    ).tag(config=True)

    max_extensions = Int(
        3, help="How many times an owner may press Keep running on one server (each extends by the idle timeout).",
    ).tag(config=True)

    cpu_percent = Float(
        2.0, help="""A notebook using less than this share of its CPU limit (in percent) between two looks of the
        culler counts as idle; more keeps it busy even with no browser open (a training loop in a kernel).""",
    ).tag(config=True)

    gpu_percent = Float(
        5.0, help="A notebook whose GPUs are used less than this (percent, NVML) counts as idle.",
    ).tag(config=True)

    interval = Float(
        30.0, help="Seconds between the culler's looks at the running notebooks (the runner's loop; at most 30).",
    ).tag(config=True)

    @validate("idle_timeout", "max_age")
    def _lifetime(self, proposal):
        parse_lifetime(proposal["value"])
        return proposal["value"]

    @validate("warn_before")
    def _duration(self, proposal):
        parse_duration(proposal["value"])
        return proposal["value"]

    @validate("interval")
    def _interval(self, proposal):
        return max(1.0, min(30.0, float(proposal["value"])))


def lifecycle_settings(config=None) -> Lifecycle:
    """The platform's defaults, from ``config`` or the hub's."""
    if config is None:
        from ..settings import Hubfront

        config = Hubfront.instance().config
    return Lifecycle(config=config)
