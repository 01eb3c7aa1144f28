"""SSH keys (issue 26): what is accepted as a public key, the words of each refusal, one user's keys unique,
and the gateway's host keys made once, 0600, and kept."""

from __future__ import annotations

import stat

import asyncssh
import pytest

from hub_ext.bodies import BodyError, parse_body
from hub_ext.ssh import keys
from hub_ext.ssh.hostkeys import ensure_host_keys, fingerprints
from hub_ext.ssh.target import split_login


def public(algorithm: str = "ssh-ed25519", comment: str = "ann@laptop", **kw) -> str:
    key = asyncssh.generate_private_key(algorithm, comment=comment, **kw)
    return key.export_public_key("openssh").decode()


def refusal(text: str) -> str:
    with pytest.raises(BodyError) as exc:
        keys.parse_key(text)
    return exc.value.errors["public_key"]


def test_an_openssh_line_is_taken_with_its_sha256_fingerprint_and_comment():
    line = public()
    parsed = keys.parse_key("  " + line + "\n")
    assert parsed.key_type == "ssh-ed25519" and parsed.comment == "ann@laptop"
    assert parsed.fingerprint == asyncssh.import_public_key(line).get_fingerprint("sha256")
    assert parsed.fingerprint.startswith("SHA256:") and parsed.line == " ".join(line.split()[:2])
    assert keys.parse_key(public("ecdsa-sha2-nistp256")).key_type == "ecdsa-sha2-nistp256"


@pytest.mark.parametrize("text", ["hello", "ssh-ed25519 !!!notbase64", "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIDBs",
                                  public("ecdsa-sha2-nistp256").replace("ecdsa-sha2-nistp256", "ssh-ed25519", 1)])
def test_what_is_not_an_openssh_public_key_is_refused_in_plain_words(text):
    message = refusal(text)
    assert message.startswith("Public key: ")
    assert "not an OpenSSH public key" in message or "the key says" in message


def test_private_keys_weak_rsa_dsa_two_lines_and_nothing_are_refused_saying_why():
    private = asyncssh.generate_private_key("ssh-ed25519").export_private_key("openssh").decode()
    assert "this is a private key" in refusal(private)
    assert "at least 2048 bits (this one has 1024)" in refusal(public("ssh-rsa", key_size=1024))
    assert "DSA keys are not accepted" in refusal("ssh-dss AAAAB3NzaC1kc3MAAACBAP")
    assert "not an OpenSSH public key" in refusal(public() + public())
    assert refusal("   ") == "Public key: paste your public key (the line of your id_ed25519.pub)"


def test_keys_are_added_named_listed_unique_per_user_and_removed(sqlite_url):
    line = public(comment="ann@laptop")
    added = keys.add_key(sqlite_url, "ann", parse_body(keys.SSHKeyAdd, {"public_key": line}))
    assert added.name == "ann@laptop" and added.last_used is None  # the comment when no name is given
    with pytest.raises(BodyError) as exc:
        keys.add_key(sqlite_url, "ann", parse_body(keys.SSHKeyAdd, {"name": "again", "public_key": line}))
    assert exc.value.errors == {"public_key": "Public key: you added this key already (as ann@laptop)"}
    other = keys.add_key(sqlite_url, "bob", parse_body(keys.SSHKeyAdd, {"name": "desk", "public_key": line}))
    assert [k.name for k in keys.list_keys(sqlite_url, "ann")] == ["ann@laptop"]
    assert keys.authorized(sqlite_url, "bob") == {" ".join(line.split()[:2]): other.id}
    with pytest.raises(BodyError) as exc:
        keys.add_key(sqlite_url, "ann", parse_body(keys.SSHKeyAdd, {"public_key": public(comment="")}))
    assert exc.value.errors == {"name": "Name: enter a name for the key (e.g. laptop)"}
    keys.mark_used(sqlite_url, added.id)
    assert keys.list_keys(sqlite_url, "ann")[0].last_used is not None
    assert keys.remove_key(sqlite_url, "bob", added.id) is None  # not bob's
    assert keys.remove_key(sqlite_url, "ann", added.id).name == "ann@laptop"
    assert keys.list_keys(sqlite_url, "ann") == [] and keys.authorized(sqlite_url, "ann") == {}


def test_unknown_fields_and_overlong_names_are_refused_by_name():
    with pytest.raises(BodyError) as exc:
        parse_body(keys.SSHKeyAdd, {"public_key": public(), "name": "x" * 101, "colour": 1})
    assert exc.value.errors["colour"] == "unknown field"
    assert exc.value.errors["name"] == "Name: use at most 100 characters"


def test_host_keys_are_made_once_root_only_and_kept(tmp_path):
    made = ensure_host_keys(str(tmp_path))
    assert [k.algorithm for k in made] == ["ssh-ed25519", "ecdsa-sha2-nistp256", "ssh-rsa"]
    for key in made:
        assert stat.S_IMODE((tmp_path / "ssh" / key.path.rsplit("/", 1)[1]).stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "ssh").stat().st_mode) == 0o700
    assert ensure_host_keys(str(tmp_path)) == made == fingerprints(str(tmp_path))
    assert fingerprints(str(tmp_path / "nowhere")) == []


def test_a_login_names_the_user_and_may_name_the_group():
    assert split_login("ann") == ("ann", None)
    assert split_login("ann+research") == ("ann", "research")
