"""TOTP enrollment and login codes, recovery codes, and the encryption of secrets at rest."""

import os
import stat
import time

import pyotp
import pytest

from hub_ext.auth import otp
from hub_ext.keys import decrypt, encrypt, load_key

ISSUER = "Hubfront"


@pytest.fixture
def key(tmp_path):
    return load_key("", str(tmp_path))


def enroll(url, key, name="dora", now=None):
    enrollment = otp.begin_enrollment(url, key, name, ISSUER)
    now = time.time() if now is None else now
    codes = otp.confirm_enrollment(url, key, name, pyotp.TOTP(enrollment.secret).at(now), now=now)
    return enrollment, codes


def test_secret_has_160_bits_and_the_qr_carries_the_uri(sqlite_url, key):
    enrollment = otp.begin_enrollment(sqlite_url, key, "dora", ISSUER)
    assert len(enrollment.secret) == 32  # base32: 5 bits per character
    assert enrollment.uri.startswith("otpauth://totp/Hubfront:dora?secret=" + enrollment.secret)
    assert enrollment.qr_svg.startswith("<svg")
    assert not otp.is_enabled(sqlite_url, "dora")  # not before a confirmed code


def test_enrollment_needs_a_correct_code_and_yields_10_recovery_codes(sqlite_url, key):
    enrollment = otp.begin_enrollment(sqlite_url, key, "dora", ISSUER)
    assert otp.confirm_enrollment(sqlite_url, key, "dora", "000000" if pyotp.TOTP(enrollment.secret).now() != "000000" else "111111") is None
    assert not otp.is_enabled(sqlite_url, "dora")
    codes = otp.confirm_enrollment(sqlite_url, key, "dora", pyotp.TOTP(enrollment.secret).now())
    assert len(codes) == 10 and len(set(codes)) == 10
    assert otp.is_enabled(sqlite_url, "dora")
    with pytest.raises(ValueError):
        otp.begin_enrollment(sqlite_url, key, "dora", ISSUER)


def test_plus_minus_one_step_accepted_two_refused(sqlite_url, key):
    now = 1_700_000_000.0
    enrollment, _ = enroll(sqlite_url, key, now=now - 300)  # enrolled 10 steps ago
    totp = pyotp.TOTP(enrollment.secret)
    assert not otp.verify_code(sqlite_url, key, "dora", totp.at(now - 60), now=now)  # -2 steps
    assert not otp.verify_code(sqlite_url, key, "dora", totp.at(now + 60), now=now)  # +2 steps
    assert otp.verify_code(sqlite_url, key, "dora", totp.at(now - 30), now=now)      # -1 step
    assert otp.verify_code(sqlite_url, key, "dora", totp.at(now), now=now)           # current
    assert otp.verify_code(sqlite_url, key, "dora", totp.at(now + 30), now=now)      # +1 step


def test_a_used_code_is_refused(sqlite_url, key):
    now = 1_700_000_000.0
    enrollment, _ = enroll(sqlite_url, key, now=now - 300)
    code = pyotp.TOTP(enrollment.secret).at(now)
    assert otp.verify_code(sqlite_url, key, "dora", code, now=now)
    assert not otp.verify_code(sqlite_url, key, "dora", code, now=now)
    # nor an older step's code after a newer one was used
    assert not otp.verify_code(sqlite_url, key, "dora", pyotp.TOTP(enrollment.secret).at(now - 30), now=now)


def test_recovery_code_works_once(sqlite_url, key):
    _, codes = enroll(sqlite_url, key)
    assert otp.recovery_codes_left(sqlite_url, "dora") == 10
    assert otp.verify_code(sqlite_url, key, "dora", codes[3])
    assert not otp.verify_code(sqlite_url, key, "dora", codes[3])
    assert otp.recovery_codes_left(sqlite_url, "dora") == 9
    assert not otp.verify_code(sqlite_url, key, "dora", "deadbeef-deadbeef")


def test_disable_forgets_secret_and_codes(sqlite_url, key):
    _, codes = enroll(sqlite_url, key)
    otp.disable(sqlite_url, "dora")
    assert not otp.is_enabled(sqlite_url, "dora")
    assert not otp.verify_code(sqlite_url, key, "dora", codes[0])


def test_secrets_are_not_readable_in_the_db_file(tmp_path, sqlite_url, key):
    from hub_ext.store.engine import dispose_engines

    enrollment, codes = enroll(sqlite_url, key)
    dispose_engines()  # flush the WAL into the file
    raw = b"".join(p.read_bytes() for p in tmp_path.glob("hubfront.sqlite*"))
    assert enrollment.secret.encode() not in raw
    for code in codes:
        assert code.encode() not in raw


def test_key_file_is_generated_0600_and_stable(tmp_path):
    key = load_key("", str(tmp_path))
    path = tmp_path / "secret-key"
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert load_key("", str(tmp_path)) == key
    assert decrypt(key, encrypt(key, "JBSWY3DP")) == "JBSWY3DP"
    # a different key cannot read it
    assert decrypt(load_key("another long operator secret", str(tmp_path)), encrypt(key, "x")) is None


def test_key_from_environment_wins_over_file(tmp_path, monkeypatch):
    monkeypatch.setenv("HUBFRONT_SECRET_KEY", "an operator's long random string")
    key = load_key("", str(tmp_path))
    assert not (tmp_path / "secret-key").exists()
    assert key == load_key("an operator's long random string", str(tmp_path / "elsewhere"))
