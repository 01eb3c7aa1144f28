"""License tokens: verification, the free-tier fallback, and each banner's text and threshold."""

from datetime import datetime, timedelta, timezone

import pytest

from hub_ext import license as lic
from support import put_deployments

NOW = datetime(2030, 6, 1, tzinfo=timezone.utc)


@pytest.fixture(scope="module")
def vendor():
    pem, public = lic.keygen()
    return pem, public


def terms(**kw):
    base = dict(licensed_to="Acme", starts=NOW - timedelta(days=30), expires=NOW + timedelta(days=30),
                max_nodes=3, max_deployments=10)
    base.update(kw)
    return lic.LicenseTerms(**base)


def cfg(public, **kw):
    c = lic.HubfrontLicense(public_keys=[public], **kw)
    return c


def test_good_license_verifies(vendor):
    pem, public = vendor
    token = lic.issue(pem, terms())
    state = lic.verify(token, [public], NOW)
    assert state.status == "valid"
    assert state.terms.licensed_to == "Acme" and state.terms.max_nodes == 3
    assert state.terms.max_deployments == 10


def test_expired_license(vendor):
    pem, public = vendor
    token = lic.issue(pem, terms(expires=NOW - timedelta(seconds=1)))
    state = lic.verify(token, [public], NOW)
    assert state.status == "expired" and not state.valid


def test_not_yet_started_license_is_invalid(vendor):
    pem, public = vendor
    token = lic.issue(pem, terms(starts=NOW + timedelta(days=1)))
    state = lic.verify(token, [public], NOW)
    assert state.status == "not_started" and not state.valid


def test_tampered_terms_fail_the_signature(vendor):
    pem, public = vendor
    token = lic.issue(pem, terms(max_nodes=3))
    head, payload, sig = token.split(".")
    import base64
    import json

    data = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    data["max_nodes"] = 300
    forged = base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()
    state = lic.verify(f"{head}.{forged}.{sig}", [public], NOW)
    assert state.status == "invalid" and "signature" in state.reason


def test_wrong_key_is_invalid(vendor):
    pem, _ = vendor
    _, other_public = lic.keygen()
    state = lic.verify(lic.issue(pem, terms()), [other_public], NOW)
    assert state.status == "invalid"


def test_rotated_keys_any_configured_key_verifies(vendor):
    pem, public = vendor
    _, other_public = lic.keygen()
    assert lic.verify(lic.issue(pem, terms()), [other_public, public], NOW).valid


@pytest.mark.parametrize("token", ["", None, "garbage", "HF1.abc", "HF1.a.b.c", "HF1.!!.??"])
def test_malformed_or_missing_tokens_never_raise(vendor, token):
    state = lic.verify(token, [vendor[1]], NOW)
    assert state.status in ("missing", "invalid")


def test_bad_configured_key_does_not_crash(vendor):
    pem, public = vendor
    token = lic.issue(pem, terms())
    assert lic.verify(token, ["not-a-key", public], NOW).valid
    assert lic.verify(token, ["not-a-key"], NOW).status == "invalid"


def test_missing_license_falls_back_to_free_tier_without_banner(sqlite_url, vendor):
    report = lic.evaluate(sqlite_url, cfg(vendor[1]), NOW)
    assert report.state.status == "missing" and report.type == "Free tier"
    assert (report.max_nodes, report.max_deployments) == (1, 1)
    assert report.used_nodes == 1  # the local machine
    assert report.warnings == []


def test_invalid_license_uses_configured_free_tier(sqlite_url, vendor):
    c = cfg(vendor[1], license="HF1.tampered.token", free_tier_max_nodes=2, free_tier_max_deployments=4)
    report = lic.evaluate(sqlite_url, c, NOW)
    assert report.state.status == "invalid" and report.source == "config"
    assert (report.max_nodes, report.max_deployments) == (2, 4)


def test_expired_banner_text(sqlite_url, vendor):
    pem, public = vendor
    c = cfg(public, license=lic.issue(pem, terms(expires=NOW - timedelta(days=1))))
    texts = [w.text for w in lic.evaluate(sqlite_url, c, NOW).warnings]
    assert texts == ["Your license has expired. Please contact your sales team to extend your license."]


def test_nodes_banner_only_above_granted(sqlite_url, vendor):
    pem, public = vendor
    text = "You are using more nodes than your license allows. Please contact your system administrator."
    # one local node against a grant of 1: fine
    c = cfg(public, license=lic.issue(pem, terms(max_nodes=1)))
    assert lic.evaluate(sqlite_url, c, NOW).warnings == []
    c = cfg(public, license=lic.issue(pem, terms(max_nodes=0)))
    assert [w.text for w in lic.evaluate(sqlite_url, c, NOW).warnings] == [text]


def _deployments(url, n):
    put_deployments(url, n, stopped=3)  # stopped ones do not count


def test_deployments_at_ten_percent_over_shows_nothing(sqlite_url, vendor):
    pem, public = vendor
    _deployments(sqlite_url, 11)
    c = cfg(public, license=lic.issue(pem, terms(max_deployments=10)))
    report = lic.evaluate(sqlite_url, c, NOW)
    assert report.used_deployments == 11  # the stopped ones do not count
    assert report.warnings == []


def test_deployments_above_ten_percent_shows_banner(sqlite_url, vendor):
    pem, public = vendor
    _deployments(sqlite_url, 12)
    c = cfg(public, license=lic.issue(pem, terms(max_deployments=10)))
    texts = [w.text for w in lic.evaluate(sqlite_url, c, NOW).warnings]
    assert texts == ["Please contact your system administrator for assistance to upgrade your license "
                     "to run more models."]


def test_page_install_wins_over_config_and_refuses_bad_tokens(sqlite_url, vendor):
    pem, public = vendor
    c = cfg(public, license=lic.issue(pem, terms(licensed_to="From config")))
    assert lic.evaluate(sqlite_url, c, NOW).state.terms.licensed_to == "From config"
    with pytest.raises(lic.LicenseError):
        lic.install(sqlite_url, "HF1.bad.token", "admin", c)
    lic.install(sqlite_url, lic.issue(pem, terms(licensed_to="From page")), "admin", c)
    report = lic.evaluate(sqlite_url, c, NOW)
    assert report.source == "page" and report.state.terms.licensed_to == "From page"


def test_license_file(tmp_path, sqlite_url, vendor):
    pem, public = vendor
    f = tmp_path / "license.txt"
    f.write_text(lic.issue(pem, terms(licensed_to="File")) + "\n")
    report = lic.evaluate(sqlite_url, cfg(public, license_file=str(f)), NOW)
    assert report.state.valid and report.state.terms.licensed_to == "File"
    missing = lic.evaluate(sqlite_url, cfg(public, license_file=str(tmp_path / "nope")), NOW)
    assert missing.state.status == "missing"


def test_check_never_crashes_when_database_is_unreachable(tmp_path, vendor):
    report = lic.evaluate(f"sqlite:///{tmp_path}/no/such/dir/db.sqlite", cfg(vendor[1]), NOW)
    assert report.state.status == "invalid" and report.type == "Free tier"
