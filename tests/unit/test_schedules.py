"""Recurrences of recurring jobs, with a controllable clock (every ``now`` is explicit)."""

from datetime import datetime, timedelta, timezone

import pytest
from pydantic import BaseModel, ValidationError, field_validator

from hub_ext.policy import PolicyError
from hub_ext.jobs.schedules import (
    Schedule,
    ScheduleError,
    due_runs,
    next_runs,
    overlap_decision,
    parse_recurrence,
    parse_time_zone,
    run_key,
)

UTC = timezone.utc


def utc(*args):
    return datetime(*args, tzinfo=UTC)


def local_strings(times):
    return [t.strftime("%Y-%m-%d %H:%M %Z") for t in times]


# --- parsing ---------------------------------------------------------------


@pytest.mark.parametrize(
    "text, cron",
    [("daily", "0 4 * * *"), ("weekly", "0 4 * * 0"), ("monthly", "0 4 1 * *"), ("Daily", "0 4 * * *")],
)
def test_presets_run_at_four(text, cron):
    recurrence = parse_recurrence(text)
    assert recurrence.cron == cron
    assert recurrence.text == text.lower()


def test_inactive_never_runs():
    schedule = Schedule.parse("inactive", "UTC")
    assert not schedule.recurrence.active
    assert next_runs(schedule, utc(2024, 1, 1)) == []
    due = due_runs(schedule, utc(2024, 1, 1), utc(2024, 6, 1))
    assert due.fire == () and due.missed == () and due.last is None


def test_cron_expression_is_kept_normalised():
    assert parse_recurrence("  */15   9-17 * * 1-5 ").text == "*/15 9-17 * * 1-5"


@pytest.mark.parametrize(
    "text",
    ["", "   ", "hourly", "61 * * * *", "* * * *", "0 0 * * * *", "@daily", "0 0 31 2 *", "a b c d e", None],
)
def test_invalid_recurrence_names_the_field(text):
    with pytest.raises(ScheduleError) as info:
        parse_recurrence(text)
    assert info.value.field == "recurrence"
    assert isinstance(info.value, ValueError) and isinstance(info.value, PolicyError)
    assert list(info.value.errors) == ["recurrence"]


@pytest.mark.parametrize("text, message", [
    ("61 * * * *", "minute 61 is out of range 0–59"),
    ("0 24 * * *", "hour 24 is out of range 0–23"),
    ("0 4 0 * *", "day of month 0 is out of range 1–31"),
    ("0 4 1 13 *", "month 13 is out of range 1–12"),
    ("0 4 * * 8", "day of week 8 is out of range 0–6"),
    ("0-70/5 * * * *", "minute 70 is out of range 0–59"),
    ("1,15,99 * * * *", "minute 99 is out of range 0–59"),
    ("*/0 * * * *", "minute: the step after '/' must be a whole number above 0, not '0'"),
    ("0 4 * foo *", "month: 'foo' is not a number from 1 to 12 or a name such as jan"),
    ("0 0 31 2 *", "'0 0 31 2 *' never happens: no date matches it"),
    ("* * * *", "a cron expression has 5 fields (minute hour day-of-month month day-of-week, e.g. 30 2 * * 1-5); "
                "'* * * *' has 4"),
])
def test_invalid_cron_says_which_field_and_its_range(text, message):
    """In plain words, naming the form's field, the cron field at fault and its range (not croniter's text)."""
    with pytest.raises(ScheduleError) as info:
        parse_recurrence(text)
    assert info.value.errors == {"recurrence": f"Recurrence: {message}"}
    assert str(info.value) == f"Recurrence: {message}"


@pytest.mark.parametrize("text", ["* * * jan-dec mon-fri", "0 4 * * 7", "5-1 * * * *", "*/61 * * * *"])
def test_what_croniter_takes_is_taken(text):
    assert parse_recurrence(text).cron == text


@pytest.mark.parametrize("name", ["Mars/Olympus", "", "europe/berlin ", "../etc/passwd", 7])
def test_invalid_time_zone_names_the_field(name):
    with pytest.raises(ScheduleError) as info:
        parse_time_zone(name)
    assert info.value.field == "time_zone"


def test_invalid_overlap_names_the_field():
    with pytest.raises(ScheduleError) as info:
        Schedule.parse("daily", "UTC", overlap="queue")
    assert info.value.field == "overlap"


def test_errors_become_pydantic_field_errors():
    class Body(BaseModel):
        recurrence: str

        @field_validator("recurrence")
        @classmethod
        def _check(cls, value):
            return parse_recurrence(value).text

    with pytest.raises(ValidationError) as info:
        Body(recurrence="every day")
    assert info.value.errors()[0]["loc"] == ("recurrence",)
    assert Body(recurrence="weekly").recurrence == "weekly"


# --- next run times ----------------------------------------------------------


def test_next_five_times_in_the_schedule_zone():
    schedule = Schedule.parse("0 9 * * 1-5", "Asia/Tokyo")
    runs = next_runs(schedule, utc(2024, 5, 3, 1, 0))  # Friday 10:00 in Tokyo
    assert local_strings(runs) == [
        "2024-05-06 09:00 JST",
        "2024-05-07 09:00 JST",
        "2024-05-08 09:00 JST",
        "2024-05-09 09:00 JST",
        "2024-05-10 09:00 JST",
    ]
    assert runs[0] == utc(2024, 5, 6, 0, 0)


def test_weekly_and_monthly_presets():
    weekly = next_runs(Schedule.parse("weekly", "UTC"), utc(2024, 5, 1), 2)
    assert [t.strftime("%a %H:%M") for t in weekly] == ["Sun 04:00", "Sun 04:00"]
    monthly = next_runs(Schedule.parse("monthly", "UTC"), utc(2024, 5, 1, 4, 0), 2)
    assert monthly == [utc(2024, 6, 1, 4), utc(2024, 7, 1, 4)]  # strictly after


def test_daily_stays_at_four_local_across_both_changes():
    schedule = Schedule.parse("daily", "Europe/Berlin")
    spring = next_runs(schedule, utc(2024, 3, 30, 12), 2)
    assert local_strings(spring) == ["2024-03-31 04:00 CEST", "2024-04-01 04:00 CEST"]
    assert spring[0] == utc(2024, 3, 31, 2)
    autumn = next_runs(schedule, utc(2024, 10, 26, 12), 2)
    assert local_strings(autumn) == ["2024-10-27 04:00 CET", "2024-10-28 04:00 CET"]
    assert autumn[0] == utc(2024, 10, 27, 3)
    assert local_strings(next_runs(schedule, utc(2024, 3, 29, 12), 1)) == ["2024-03-30 04:00 CET"]


def test_skipped_wall_time_runs_once_at_the_end_of_the_gap():
    schedule = Schedule.parse("30 2 * * *", "Europe/Berlin")
    runs = next_runs(schedule, utc(2024, 3, 30, 12), 3)
    assert local_strings(runs) == ["2024-03-31 03:00 CEST", "2024-04-01 02:30 CEST", "2024-04-02 02:30 CEST"]


def test_frequent_runs_in_the_gap_collapse_into_one():
    schedule = Schedule.parse("*/15 * * * *", "Europe/Berlin")
    runs = next_runs(schedule, utc(2024, 3, 31, 0, 40), 4)  # 01:40 CET
    assert local_strings(runs) == [
        "2024-03-31 01:45 CET", "2024-03-31 03:00 CEST", "2024-03-31 03:15 CEST", "2024-03-31 03:30 CEST",
    ]


def test_repeated_wall_time_runs_once_on_fall_back_day():
    schedule = Schedule.parse("30 2 * * *", "Europe/Berlin")
    runs = next_runs(schedule, utc(2024, 10, 26, 12), 2)
    assert local_strings(runs) == ["2024-10-27 02:30 CEST", "2024-10-28 02:30 CET"]
    # between the two 02:30s: the second one is not a new run
    later = next_runs(schedule, utc(2024, 10, 27, 0, 45), 1)
    assert local_strings(later) == ["2024-10-28 02:30 CET"]


def test_every_hour_expression_runs_in_the_repeated_hour_too():
    schedule = Schedule.parse("0 * * * *", "Europe/Berlin")
    runs = next_runs(schedule, utc(2024, 10, 26, 23, 30), 4)
    assert runs == [utc(2024, 10, 27, 0), utc(2024, 10, 27, 1), utc(2024, 10, 27, 2), utc(2024, 10, 27, 3)]
    assert local_strings(runs) == [
        "2024-10-27 02:00 CEST", "2024-10-27 02:00 CET", "2024-10-27 03:00 CET", "2024-10-27 04:00 CET",
    ]


def test_southern_hemisphere_changes():
    schedule = Schedule.parse("30 2 * * *", "Australia/Sydney")  # springs forward on 6 Oct 2024
    assert local_strings(next_runs(schedule, utc(2024, 10, 4, 12), 2)) == [
        "2024-10-05 02:30 AEST", "2024-10-06 03:00 AEDT",
    ]


def test_naive_times_are_refused():
    with pytest.raises(ValueError):
        next_runs(Schedule.parse("daily", "UTC"), datetime(2024, 1, 1))


# --- due and missed runs -------------------------------------------------------

HOURLY = Schedule.parse("0 * * * *", "Europe/Berlin")


def test_on_time_tick_fires_the_run():
    due = due_runs(HOURLY, last_fired=utc(2024, 5, 1, 9), now=utc(2024, 5, 1, 10, 0, 1))
    assert due.fire == (utc(2024, 5, 1, 10),)
    assert due.missed == () and due.last == utc(2024, 5, 1, 10)


def test_nothing_due_before_the_time():
    due = due_runs(HOURLY, last_fired=utc(2024, 5, 1, 9), now=utc(2024, 5, 1, 9, 59, 59))
    assert due.fire == () and due.missed == () and due.last is None


def test_missed_run_inside_grace_starts_once():
    last = utc(2024, 5, 1, 3)  # then the runner was down until 04:40
    daily = Schedule.parse("0 4 * * *", "UTC")
    due = due_runs(daily, last_fired=last, now=utc(2024, 5, 1, 4, 40))
    assert due.fire == (utc(2024, 5, 1, 4),) and due.missed == ()
    # the next tick, with the stored watermark, fires nothing again
    again = due_runs(daily, last_fired=due.last, now=utc(2024, 5, 1, 4, 41))
    assert again.fire == () and again.missed == ()


def test_missed_run_outside_grace_is_recorded_as_missed():
    daily = Schedule.parse("0 4 * * *", "UTC")
    due = due_runs(daily, last_fired=utc(2024, 5, 1, 3), now=utc(2024, 5, 1, 5, 0, 1))
    assert due.fire == ()
    assert due.missed == (utc(2024, 5, 1, 4),)
    assert due.last == utc(2024, 5, 1, 4)
    # a custom grace changes the verdict
    assert due_runs(daily, utc(2024, 5, 1, 3), utc(2024, 5, 1, 5, 0, 1), grace=timedelta(hours=2)).fire


def test_long_outage_fires_only_the_latest_and_misses_the_rest():
    due = due_runs(HOURLY, last_fired=utc(2024, 5, 1, 9), now=utc(2024, 5, 1, 13, 30))
    assert due.fire == (utc(2024, 5, 1, 13),)
    assert due.missed == (utc(2024, 5, 1, 10), utc(2024, 5, 1, 11), utc(2024, 5, 1, 12))
    assert not due.missed_truncated


def test_very_long_outage_lists_a_bounded_number_of_missed_runs():
    every_minute = Schedule.parse("* * * * *", "UTC")
    due = due_runs(every_minute, utc(2023, 1, 1), utc(2024, 1, 1, 0, 0, 30), missed_limit=10)
    assert due.fire == (utc(2024, 1, 1),)
    assert len(due.missed) == 10 and due.missed[-1] == utc(2023, 12, 31, 23, 59)
    assert due.missed_truncated


def test_never_twice_with_a_simulated_clock():
    schedule = Schedule.parse("*/5 * * * *", "Europe/Berlin")
    start = utc(2024, 10, 26, 23)
    last, fired, missed = start, [], []
    now = start
    while now < utc(2024, 10, 27, 4):  # across the fall-back change, ticking every 40 s
        now += timedelta(seconds=40)
        if utc(2024, 10, 27, 1) <= now < utc(2024, 10, 27, 2, 30):
            continue  # the runner is down for 90 minutes
        due = due_runs(schedule, last, now)
        fired += due.fire
        missed += due.missed
        last = due.last or last
    keys = [run_key(7, t) for t in fired + missed]
    assert len(keys) == len(set(keys))
    expected = [t for t in next_runs(schedule, start, 200) if t <= now]
    assert sorted(fired + missed) == expected
    assert utc(2024, 10, 27, 2, 30) in fired  # the latest missed run, inside the grace
    assert utc(2024, 10, 27, 1) in missed and utc(2024, 10, 27, 2, 25) in missed


def test_run_key_is_the_same_instant_whatever_the_zone():
    berlin = next_runs(Schedule.parse("daily", "Europe/Berlin"), utc(2024, 5, 1), 1)[0]
    assert run_key(3, berlin) == run_key(3, utc(2024, 5, 1, 2)) == (3, utc(2024, 5, 1, 2))
    assert run_key(3, berlin) != run_key(4, berlin)


# --- overlap -------------------------------------------------------------------


def test_overlap_skip_records_the_reason():
    schedule = Schedule.parse("daily", "UTC")  # skip is the default
    assert overlap_decision(schedule, active_jobs=0).start
    decision = overlap_decision(schedule, active_jobs=1)
    assert not decision.start
    assert "previous run is still active" in decision.reason


def test_overlap_allow_starts_anyway():
    schedule = Schedule.parse("daily", "UTC", overlap="allow")
    decision = overlap_decision(schedule, active_jobs=2)
    assert decision.start and decision.reason == ""
