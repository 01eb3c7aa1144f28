"""An app's restarts in plain words: what its card, its log and the Models page say about them.

The runner records on the app's row how many times its process was restarted in a row and why the last
one ended (``App.restarts``, ``restart_reason`` one of ``OOMKilled``/``ExitCode``/``Error``,
``restart_message`` "Out of memory (limit 1 GiB)"); after ``c.Apps.max_restarts`` it stops restarting it
(``Failed``, the reason the last restart's). These words are the one wording of it.
"""

from __future__ import annotations

from ..restart_words import LARGER, OOM, note, times  # noqa: F401 - the apps' words, imported from here


def given_up(restarts: int, reason: str, message: str) -> str:
    """The Failed message once it is no longer restarted, with what to do."""
    what = "change its instance type in Settings" if reason == OOM else "look at its log"
    return f"{note(restarts, reason, message)}. No longer restarted: {what}, then Start it again."


def not_answering(phase: str, reason: str, restarts: int, restart_reason: str) -> str:
    """Why an app does not answer, for a page that needs it ("restarting after running out of memory")."""
    if phase == "Failed":
        if reason == OOM or (restarts and restart_reason == OOM):
            return "failed: it ran out of memory; a group admin chooses a larger instance type on the Apps page"
        return "failed; the Apps page says why"
    if phase in ("Stopped", "Stopping"):
        return "stopped; a group admin starts it on the Apps page"
    if phase == "Installing":
        return "being installed"
    if restarts and restart_reason == OOM:
        return "restarting after running out of memory"
    if restarts:
        return "restarting after its process ended"
    return "starting"
