"""Share links in the portal DB: the token's entropy, only its digest kept, expiry, password, revoke."""

import base64
import hashlib
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import create_engine, text, update

from hub_ext import activity
from hub_ext.bodies import BodyError, parse_body
from hub_ext.storage import shares
from hub_ext.storage.shares import ShareCreate, ShareStore, gone_message, password_matches, state
from hub_ext.store import session_scope
from hub_ext.store.models_storage import Share


def make(store, path="data/train.csv", group="research", **fields):
    return store.create(group, "ann", parse_body(ShareCreate, {"path": path, **fields}), "file")


def test_tokens_carry_128_random_bits():
    tokens = {shares.new_token() for _ in range(2000)}
    assert len(tokens) == 2000
    for token in list(tokens)[:50]:
        assert len(token) == 22 and shares.TOKEN_SHAPE.match(token)
        assert len(base64.urlsafe_b64decode(token + "==")) == 16
    # every bit position varies across tokens (no constant prefix, no counter)
    raw = [int.from_bytes(base64.urlsafe_b64decode(t + "=="), "big") for t in tokens]
    assert all(any(r >> bit & 1 for r in raw) and not all(r >> bit & 1 for r in raw) for bit in range(128))


def test_only_the_digest_is_stored(sqlite_url):
    store = ShareStore(sqlite_url)
    share, token = make(store)
    with create_engine(sqlite_url).connect() as conn:
        row = conn.execute(text("SELECT * FROM shares")).mappings().one()
    assert token not in " ".join(str(v) for v in row.values())
    assert row["token_digest"] == hashlib.sha256(token.encode()).hexdigest()
    assert store.find(token).id == share.id
    assert store.link(token) == f"/hub/share/{token}"


def test_unknown_and_malformed_tokens_find_nothing(sqlite_url):
    store = ShareStore(sqlite_url)
    make(store)
    for token in (shares.new_token(), "", "x" * 22 + "=", "../../etc/passwd", "a" * 200):
        assert store.find(token) is None


@pytest.mark.parametrize("bad, field", [
    ({"path": "../other"}, "path"), ({"path": "/etc/passwd"}, "path"), ({"path": "a\x00b"}, "path"),
    ({"path": "a//b"}, "path"), ({"password": ""}, "password"), ({"password": "x" * 129}, "password"),
    ({"expires": "yesterday"}, "expires"), ({"expires": "2001-01-01T00:00:00Z"}, "expires"),
    ({"token": "mine"}, "token"), ({"path": 5}, "path"), ({"expires": "9999-12-31T23:59:59-23:59"}, "expires"),
    ({"expires": "0001-01-01T00:00:00+23:59"}, "expires"), ({"expires": 5}, "expires"),
    ({"password": "\ud800"}, "password"), ({"path": "\ud800"}, "path"),
])
def test_bad_fields_are_named(bad, field):
    with pytest.raises(BodyError) as err:
        parse_body(ShareCreate, {"path": "data", **bad})
    assert field in err.value.errors


def test_expiry(sqlite_url):
    store = ShareStore(sqlite_url)
    soon = datetime.now(timezone.utc) + timedelta(hours=1)
    share, token = make(store, expires=soon.isoformat())
    assert state(share) == "active"
    assert state(share, now=soon + timedelta(seconds=1)) == "expired"
    # naive times are UTC
    naive = parse_body(ShareCreate, {"path": "x", "expires": "2999-01-02T03:04:05"})
    assert naive.expires == datetime(2999, 1, 2, 3, 4, 5, tzinfo=timezone.utc)
    with session_scope(sqlite_url) as s:
        s.execute(update(Share).where(Share.id == share.id).values(expires=datetime(2020, 5, 6, 7, 8)))
    expired = store.find(token)
    assert state(expired) == "expired"
    assert gone_message(expired) == "This share link expired on 2020-05-06 07:08 UTC."


def test_password_is_an_argon2_hash(sqlite_url):
    store = ShareStore(sqlite_url)
    share, _ = make(store, password="open sesame")
    assert share.password_hash.startswith("$argon2") and "open sesame" not in share.password_hash
    assert password_matches(share, "open sesame")
    assert not password_matches(share, "open sesame!")
    assert not password_matches(share, "")
    plain, _ = make(store)
    assert plain.password_hash == "" and not password_matches(plain, "")
    assert shares.password_mark(share) != shares.password_mark(plain)


def test_revoke_is_per_group_and_recorded(sqlite_url):
    store = ShareStore(sqlite_url)
    share, token = make(store)
    assert store.revoke("other", share.id, "eve") is None
    assert state(store.find(token)) == "active"
    revoked = store.revoke("research", share.id, "bob")
    assert state(revoked) == "revoked" and gone_message(revoked) == "This share link was revoked."
    assert store.revoke("research", share.id, "bob").revoked == revoked.revoked  # twice: unchanged
    assert store.revoke("research", 999, "bob") is None
    events = [(a.action, a.username) for a in activity.recent(sqlite_url, group="research")]
    assert events == [("share-revoked", "bob"), ("share-created", "ann")]
    assert [s.id for s in store.list("research")] == [share.id] and store.list("other") == []


def test_downloads_are_counted(sqlite_url):
    store = ShareStore(sqlite_url)
    share, token = make(store)
    store.count_download(share)
    store.count_download(share)
    assert store.find(token).downloads == 2
    assert shares.as_json(store.find(token))["downloads"] == 2
