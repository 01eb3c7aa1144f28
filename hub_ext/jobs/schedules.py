"""Recurrences of recurring jobs: parsing, next run times, due and missed runs, overlap.

Pure functions with an explicit ``now``: the runner's clock is passed in, so tests
(and the ``cron`` benchmark) control time. Nothing here touches the database; the
runner stores a schedule's recurrence text, zone name, overlap policy and the last
scheduled time it handled, and enforces at-most-once with a unique key on
``run_key(schedule_id, scheduled_time)``.

Recurrences
    ``inactive`` (never runs), PrimeHub's presets, all at 04:00 in the schedule's
    zone: ``daily`` (every day), ``weekly`` (Sundays), ``monthly`` (the 1st of the
    month); or a 5-field cron expression (minute hour day-of-month month
    day-of-week, as croniter reads it; 6-field and ``@daily``-style forms are
    refused so what users type means the same everywhere).

Daylight saving time
    Cron fields are wall-clock times in the schedule's zone, so a 04:00 daily run
    stays at 04:00 local on both sides of a change.
    - Spring forward: a wall time that does not exist that day (02:30 in
      Europe/Berlin on the last Sunday of March) runs once, at the first instant
      after the gap (03:00 local). Several skipped wall times collapse into that
      one run.
    - Fall back: a wall time that happens twice (02:30 on the last Sunday of
      October) runs once, at its first occurrence. Only an expression whose hour
      field is ``*`` (it runs every hour anyway) also runs in the repeated hour,
      because that hour really elapses a second time (Vixie cron's rule).

Missed runs
    ``due_runs`` looks at the scheduled times after the last one handled and up to
    ``now``. The latest of them starts if it is at most ``grace`` old (default
    1 h); every other one is recorded as missed, so an outage never produces a
    burst of catch-up jobs and no scheduled time is handled twice.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Iterator
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import CroniterBadDateError, CroniterError, croniter

from hub_ext.field_messages import labelled
from hub_ext.policy import PolicyError

PRESETS = {
    "daily": "0 4 * * *",  # every day at 04:00
    "weekly": "0 4 * * 0",  # Sundays at 04:00
    "monthly": "0 4 1 * *",  # the 1st of each month at 04:00
}
INACTIVE = "inactive"
OVERLAP_POLICIES = ("skip", "allow")
DEFAULT_GRACE = timedelta(hours=1)
# how far a zone's clocks move at one change, at most (2 h in some historical zones)
_MAX_SHIFT = timedelta(hours=3)
_MINUTE = timedelta(minutes=1)


class ScheduleError(PolicyError):
    """A schedule field refused: ``field`` names it (``recurrence``, ``time_zone``, ``overlap``).

    A ``ValueError`` (pydantic turns it into a field error when raised in a
    validator) and a ``PolicyError`` (the portal's handlers answer 400 with
    ``errors``).
    """

    def __init__(self, field: str, message: str):
        self.field = field
        self.message = labelled(field, message)  # "Recurrence: minute 61 is out of range 0–59"
        super().__init__({field: self.message})


@dataclass(frozen=True)
class Recurrence:
    text: str  # as stored and shown: a preset name, "inactive" or the cron expression
    cron: str | None  # the expression evaluated; None when inactive

    @property
    def active(self) -> bool:
        return self.cron is not None


@dataclass(frozen=True)
class Schedule:
    recurrence: Recurrence
    zone: ZoneInfo
    overlap: str = "skip"

    @classmethod
    def parse(cls, recurrence: str, time_zone: str, overlap: str = "skip") -> "Schedule":
        """Validate all three fields; raise ``ScheduleError`` naming the first bad one."""
        if overlap not in OVERLAP_POLICIES:
            raise ScheduleError("overlap", f"must be one of {', '.join(OVERLAP_POLICIES)}, not {overlap!r}")
        return cls(parse_recurrence(recurrence), parse_time_zone(time_zone), overlap)


# the five cron fields: name, range, and the names croniter takes for values
CRON_FIELDS = (
    ("minute", 0, 59, ()), ("hour", 0, 23, ()), ("day of month", 1, 31, ()),
    ("month", 1, 12, ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")),
    ("day of week", 0, 6, ("sun", "mon", "tue", "wed", "thu", "fri", "sat")),
)
_FIVE_FIELDS = "minute hour day-of-month month day-of-week, e.g. 30 2 * * 1-5"


def _refuse(message: str):
    return ScheduleError("recurrence", message)


def parse_recurrence(text: str) -> Recurrence:
    """``inactive``, a preset or a 5-field cron expression; ``ScheduleError("recurrence", …)`` otherwise,
    in plain words naming the cron field at fault and its range (``minute 61 is out of range 0–59``)."""
    if not isinstance(text, str) or not text.strip():
        raise _refuse("choose inactive, daily, weekly, monthly or give a cron expression")
    text = " ".join(text.split())
    key = text.lower()
    if key == INACTIVE:
        return Recurrence(INACTIVE, None)
    if key in PRESETS:
        return Recurrence(key, PRESETS[key])
    fields = text.split(" ")
    if len(fields) != 5:
        raise _refuse(f"a cron expression has 5 fields ({_FIVE_FIELDS}); '{text}' has {len(fields)}")
    problem = next(filter(None, (_field_problem(value, *spec) for value, spec in zip(fields, CRON_FIELDS))), "")
    if problem:
        raise _refuse(problem)
    try:
        # a valid but impossible date (0 0 31 2 *) fails only when looking for a run
        croniter(text, datetime(2000, 1, 1)).get_next(datetime)
    except CroniterBadDateError:
        raise _refuse(f"'{text}' never happens: no date matches it") from None
    except (CroniterError, ValueError, KeyError):
        raise _refuse(f"'{text}' is not a cron expression ({_FIVE_FIELDS})") from None
    return Recurrence(text, text)


def _field_problem(value: str, name: str, low: int, high: int, names: tuple[str, ...]) -> str:
    """What is wrong with one cron field (``*``, ``*/15``, ``1-5``, ``1,15``, ``mon-fri``), or ""."""
    def number(part: str) -> int | None:
        if part.isdigit():
            return int(part)
        return names.index(part.lower()) + (low if name == "month" else 0) if part.lower() in names else None

    for item in value.split(","):
        span, slash, step = item.partition("/")
        if slash and not (step.isdigit() and int(step) > 0):
            return f"{name}: the step after '/' must be a whole number above 0, not '{step}'"
        if span == "*":
            continue
        ends = span.split("-") if span.count("-") == 1 else [span]
        for end in ends:
            n = number(end)
            if n is None:
                words = f"a number from {low} to {high}" + (f" or a name such as {names[0]}" if names else "")
                return f"{name}: '{end}' is not {words}"
            # croniter also reads 7 as Sunday
            if not low <= n <= high and not (name == "day of week" and n == 7):
                return f"{name} {n} is out of range {low}–{high}"
    return ""


def parse_time_zone(name: str) -> ZoneInfo:
    """An IANA zone (``Europe/Berlin``); ``ScheduleError("time_zone", …)`` otherwise."""
    try:
        if not isinstance(name, str) or not name or name != name.strip():
            raise ValueError(name)
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, TypeError):
        raise ScheduleError("time_zone", f"unknown time zone {name!r} (give an IANA name such as Europe/Berlin)") from None


def _aware(at: datetime) -> datetime:
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError("times must be timezone-aware (UTC from the runner's clock)")
    return at


def _exists(wall: datetime, zone: ZoneInfo) -> bool:
    local = wall.replace(tzinfo=zone)
    return local.astimezone(timezone.utc).astimezone(zone).replace(tzinfo=None) == wall


def _instants(wall: datetime, zone: ZoneInfo, repeat_hour: bool) -> list[datetime]:
    """The UTC instants a matching wall time fires at (see the module's DST rules)."""
    if not _exists(wall, zone):
        while not _exists(wall, zone):  # first wall time after the gap
            wall = (wall + _MINUTE).replace(second=0, microsecond=0)
        return [wall.replace(tzinfo=zone).astimezone(timezone.utc)]
    first = wall.replace(tzinfo=zone, fold=0).astimezone(timezone.utc)
    second = wall.replace(tzinfo=zone, fold=1).astimezone(timezone.utc)
    if repeat_hour and second != first:
        return [first, second]
    return [first]


def _local(instant: datetime, zone: ZoneInfo) -> datetime:
    """``instant`` as local time with a fixed offset (and the zone's abbreviation).

    Not a ZoneInfo time: those in a repeated hour never compare equal to another
    zone's times (PEP 495), which would break the runner's comparisons.
    """
    local = instant.astimezone(zone)
    return local.astimezone(timezone(local.utcoffset(), local.tzname()))


def iter_runs(schedule: Schedule, after: datetime) -> Iterator[datetime]:
    """Scheduled times strictly after ``after``, in order, as local times of the schedule's zone (endless)."""
    cron = schedule.recurrence.cron
    if cron is None:
        return
    zone = schedule.zone
    after = _aware(after).astimezone(timezone.utc)
    start = after
    offsets = {(after + k * _MAX_SHIFT).astimezone(zone).utcoffset() for k in (-1, 0, 1)}
    if len(offsets) > 1:
        start = after - _MAX_SHIFT  # a change nearby: wall times before ours may still be ahead
    wall = start.astimezone(zone).replace(tzinfo=None)
    repeat_hour = cron.split(" ")[1] == "*"
    it = croniter(cron, wall)
    pending: list[datetime] = []
    last = None
    while True:
        instants = _instants(it.get_next(datetime), zone, repeat_hour)
        for instant in instants:
            heapq.heappush(pending, instant)
        # each wall time's first instant never goes backwards, and later ones are never earlier
        while pending and pending[0] <= instants[0]:
            instant = heapq.heappop(pending)
            if instant > after and instant != last:
                last = instant
                yield _local(instant, zone)


def next_runs(schedule: Schedule, after: datetime, count: int = 5) -> list[datetime]:
    """The next ``count`` run times after ``after`` (what the page shows), in the schedule's zone."""
    runs: list[datetime] = []
    for at in iter_runs(schedule, after):
        runs.append(at)
        if len(runs) >= count:
            break
    return runs


@dataclass(frozen=True)
class Due:
    """What to do with the scheduled times in (``last_fired``, ``now``]."""

    fire: tuple[datetime, ...]  # start a job for these (at most one)
    missed: tuple[datetime, ...]  # record as missed (the most recent ``missed_limit``)
    missed_truncated: bool  # older missed times exist that are not listed
    last: datetime | None  # the new ``last_fired`` to store (None: nothing was due)


def due_runs(
    schedule: Schedule,
    last_fired: datetime,
    now: datetime,
    grace: timedelta = DEFAULT_GRACE,
    missed_limit: int = 100,
) -> Due:
    """Which scheduled times to fire now and which to record as missed.

    ``last_fired`` is the latest scheduled time already handled (fired, skipped
    or missed), or for a schedule that never fired the time it was created or
    last activated. Times up to ``last_fired`` are never returned again, which
    with ``run_key``'s unique key gives at-most-once.
    """
    _aware(last_fired)
    now = _aware(now).astimezone(timezone.utc)
    if now <= last_fired:
        return Due((), (), False, None)
    window = timedelta(days=1)
    while True:  # after a long outage, look back only far enough to list ``missed_limit`` times
        since = max(last_fired, now - window)
        times = []
        for at in iter_runs(schedule, since):
            if at > now:
                break
            times.append(at)
        if since == last_fired or len(times) > missed_limit:
            break
        window *= 4
    if not times:
        return Due((), (), False, None)
    latest = times[-1]
    fire = (latest,) if now - latest <= grace else ()
    missed = times[:-1] if fire else times
    truncated = since != last_fired or len(missed) > missed_limit
    return Due(fire, tuple(missed[-missed_limit:]) if missed_limit else (), truncated, latest)


def run_key(schedule_id: int, scheduled: datetime) -> tuple[int, datetime]:
    """The unique key of one scheduled run: the schedule and the scheduled time in UTC, to the second."""
    return schedule_id, _aware(scheduled).astimezone(timezone.utc).replace(microsecond=0)


@dataclass(frozen=True)
class OverlapDecision:
    start: bool
    reason: str = ""  # why it was skipped (recorded with the skipped run)


def overlap_decision(schedule: Schedule, active_jobs: int) -> OverlapDecision:
    """Start a due run, or skip it because the schedule's previous run is still active."""
    if active_jobs <= 0 or schedule.overlap == "allow":
        return OverlapDecision(True)
    noun = "run is" if active_jobs == 1 else f"{active_jobs} runs are"
    return OverlapDecision(False, f"Skipped: the previous {noun} still active (overlap policy: skip)")
