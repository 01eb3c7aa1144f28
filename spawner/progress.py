"""What the spawn-pending page shows while a notebook starts: two phases, each with its share of the bar.

JupyterHub's progress bar runs from 0 to 100 (its own "ready" event is the 100). A launch goes through:

- ``prepare``, "Preparing the environment" (0-60): the image's environment, built when it is not yet
  (local: the venv, measured by ``EnvironmentBuilder``'s steps: the venv, each package pip collects,
  installing); one already built passes at once;
- ``start``, "Starting the server" (60-95): the quota reservation, the workload's account, limits and
  storage, the server process (or the pod, with the cluster's own events), waiting for it to answer.

Each event is JupyterHub's ``{progress, message}`` plus ``phase``; a raw line (pip's output, a pod event)
comes as ``detail``, which the page folds under "Details", while ``message`` stays what the phase is doing.
The bar never goes back.
"""

from __future__ import annotations

PHASES = {"prepare": ("Preparing the environment", 0, 60), "start": ("Starting the server", 60, 95)}
DETAIL_LENGTH = 300  # a raw line longer than this is cut


class LaunchProgress:
    """The events of one launch, in order (the page may connect at any time and reads them all)."""

    def __init__(self):
        self.events: list[dict] = []
        self.phase: str | None = None
        self.percent = 0
        self.message = ""

    def step(self, phase: str, fraction: float | None = None, message: str | None = None,
             detail: str | None = None) -> dict:
        """Record that ``phase`` is ``fraction`` done (0-1; None: unchanged), now doing ``message``."""
        title, low, high = PHASES[phase]
        if phase != self.phase:
            self.phase, self.message = phase, ""
            fraction = 0.0 if fraction is None else fraction
        if fraction is not None:
            self.percent = max(self.percent, round(low + (high - low) * min(max(fraction, 0.0), 1.0)))
        if message:
            self.message = message
        event = {"progress": self.percent, "phase": phase, "message": self.message or title}
        if detail:
            event["detail"] = detail[:DETAIL_LENGTH]
        self.events.append(event)
        return event

    def platform(self, event: dict, low: float = 0.4, high: float = 0.85) -> dict:
        """An event of the platform's own progress (KubeSpawner's pod events, out of 90) as a step of the
        start phase between ``low`` and ``high``: its text becomes a detail line."""
        raw = event.get("progress")
        fraction = None if raw is None else low + (high - low) * min(max(float(raw), 0.0), 90.0) / 90.0
        step = self.step("start", fraction, detail=str(event.get("message") or ""))
        self.events.pop()  # the caller yields it; the page that connects later gets the platform's replay
        return step
