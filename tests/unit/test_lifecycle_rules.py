"""The notebooks' lifecycle rules (issue 25) without a hub: which settings apply, when a server is stopped
and why, the warning and Keep running, in the words a user reads."""

from datetime import datetime, timedelta, timezone

import pytest
from traitlets.config import Config

from hub_ext.lifecycle import records
from hub_ext.lifecycle.decide import IDLE, MAX_AGE, decide, keep_refusal, stop_message, warning_text
from hub_ext.lifecycle.records import KeepRefused, Seen
from hub_ext.lifecycle.rules import rules_for
from hub_ext.lifecycle.settings import Lifecycle
from hub_ext.policy import InstanceType, PolicyError, parse_policy
from hub_ext.store import upgrade

T0 = datetime(2026, 12, 7, 14, 2, tzinfo=timezone.utc)


def settings(**values) -> Lifecycle:
    return Lifecycle(config=Config({"Lifecycle": values}))


def test_the_instance_type_overrides_the_group_which_overrides_the_platform():
    platform = settings(idle_timeout="2h", max_age="7d", warn_before="10m", max_extensions=3)
    assert rules_for(platform, None, None).idle_timeout == 7200
    group = parse_policy({"idle_timeout": "1h", "warn_before": "5m", "max_extensions": 1})
    rules = rules_for(platform, group, InstanceType(name="cpu"))
    assert (rules.idle_timeout, rules.warn_before, rules.max_age, rules.max_extensions) == (3600, 300, 7 * 86400, 1)
    gpu = InstanceType(name="gpu", gpu=1, idle_timeout="20m", max_age="never")
    rules = rules_for(platform, group, gpu)
    assert (rules.idle_timeout, rules.max_age) == (1200, 0)
    assert rules_for(settings(), parse_policy({"idle_timeout": "never"}), None).active is False


def test_bad_lifecycle_fields_are_refused_naming_the_field():
    with pytest.raises(PolicyError) as refused:
        parse_policy({"idle_timeout": "soon", "warn_before": "never"})
    assert refused.value.errors["idle_timeout"].startswith("Idle timeout: invalid duration 'soon'")
    assert "Warn before" in refused.value.errors["warn_before"]
    with pytest.raises(Exception, match="invalid duration"):
        settings(idle_timeout="a while")


def test_idle_since_is_the_latest_sign_of_life_and_max_age_can_come_first():
    rules = rules_for(settings(idle_timeout="1h", max_age="2h"), None, None)
    d = decide(rules, started=T0, last_activity=T0 + timedelta(minutes=30), busy_at=T0 + timedelta(minutes=50))
    assert (d.idle_since, d.cull_at, d.reason) == (T0 + timedelta(minutes=50), T0 + timedelta(minutes=110), IDLE)
    busy_late = decide(rules, started=T0, busy_at=T0 + timedelta(minutes=90))
    assert (busy_late.cull_at, busy_late.reason) == (T0 + timedelta(hours=2), MAX_AGE)
    assert not d.due(T0 + timedelta(minutes=109)) and d.due(T0 + timedelta(minutes=110))
    assert decide(rules_for(settings(), None, None), started=T0).cull_at is None


def test_the_words_of_the_warning_and_of_the_stop():
    rules = rules_for(settings(idle_timeout="1h", warn_before="10m", max_age="7d", cpu_percent=2), None, None)
    d = decide(rules, started=T0, last_activity=T0)
    assert not d.warning(T0 + timedelta(minutes=49), rules) and d.warning(T0 + timedelta(minutes=51), rules)
    assert warning_text(d, T0 + timedelta(minutes=51), rules) == "Stops in 9 min: idle since 14:02 UTC"
    assert stop_message(rules, IDLE, cpu_measured=True) == "Stopped after 1 h idle (no activity, CPU < 2 %)"
    assert stop_message(rules, IDLE) == "Stopped after 1 h idle (no activity)"
    assert stop_message(rules, MAX_AGE) == "Stopped at its maximum age of 7 days"
    old = decide(rules, started=T0 - timedelta(days=7) + timedelta(minutes=5), busy_at=T0)
    assert warning_text(old, T0, rules) == "Stops in 5 min: it reaches its maximum age of 7 days"
    assert "maximum age of 7 days" in keep_refusal(rules, old, 0)


@pytest.fixture
def portal_db(tmp_path):
    url = f"sqlite:///{tmp_path}/portal.sqlite"
    upgrade(url)
    return url


def test_keep_running_restarts_the_idle_clock_a_limited_number_of_times(portal_db):
    rules = rules_for(settings(idle_timeout="1h", max_extensions=2), None, None)
    seen = Seen("ann", "vision", "vision", "cpu", T0, T0)
    records.observe(portal_db, [seen], lambda s: rules, now=T0 + timedelta(minutes=55))
    kept = records.keep(portal_db, "ann", "vision", rules, now=T0 + timedelta(minutes=55))
    assert (kept.extensions, records.decision_of(kept, rules).cull_at) == (1, T0 + timedelta(minutes=115))
    # the next look keeps what Keep running did
    decisions = records.observe(portal_db, [seen], lambda s: rules, now=T0 + timedelta(minutes=56))
    assert decisions[("ann", "vision")].cull_at == T0 + timedelta(minutes=115)
    records.keep(portal_db, "ann", "vision", rules, now=T0 + timedelta(minutes=60))
    with pytest.raises(KeepRefused, match=r"used 2 times on this notebook, the most allowed \(2\)"):
        records.keep(portal_db, "ann", "vision", rules, now=T0 + timedelta(minutes=61))
    # a new start of the same server begins afresh
    again = Seen("ann", "vision", "vision", "cpu", T0 + timedelta(hours=3), None)
    records.observe(portal_db, [again], lambda s: rules, now=T0 + timedelta(hours=3))
    assert records.rows_of(portal_db, "ann")[("ann", "vision")].extensions == 0


def test_a_server_stopped_by_the_culler_keeps_its_words_until_the_hub_takes_them(portal_db):
    rules = rules_for(settings(idle_timeout="1h"), None, None)
    records.observe(portal_db, [Seen("ann", "vision", "vision", "cpu", T0, T0)], lambda s: rules, now=T0)
    records.stopping(portal_db, "ann", "vision", "Stopped after 1 h idle (no activity)")
    records.observe(portal_db, [], lambda s: rules, now=T0)  # gone from the hub's list before the stop's activity
    assert records.take_stop_message(portal_db, "ann", "vision") == "Stopped after 1 h idle (no activity)"
    assert records.take_stop_message(portal_db, "ann", "vision") == ""  # an owner's own stop later: no culler words
    assert records.rows_of(portal_db) == {}


def test_the_culler_keeps_its_recent_passes(portal_db):
    for i in range(records.PASSES_KEPT + 5):
        records.record_pass(portal_db, at=T0 + timedelta(seconds=i), seconds=0.01, servers=i, warned=0, stopped=0)
    passes = records.last_passes(portal_db, limit=100)
    assert len(passes) == records.PASSES_KEPT and passes[0].servers == records.PASSES_KEPT + 4
