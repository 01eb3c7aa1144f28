"""`hubfront license keygen` and `hubfront license issue` (the vendor side)."""

import stat

from hub_ext import license as lic
from hub_ext.cli import main


def test_keygen_then_issue_gives_a_token_the_hub_accepts(tmp_path, capsys):
    key = tmp_path / "vendor.key"
    assert main(["license", "keygen", "--private-key", str(key)]) == 0
    public = capsys.readouterr().out.strip()
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert main(["license", "issue", "--private-key", str(key), "--expires", "2099-01-01",
                 "--max-nodes", "4", "--max-deployments", "7", "--licensed-to", "Acme Corp"]) == 0
    token = capsys.readouterr().out.strip()
    state = lic.verify(token, [public])
    assert state.valid
    assert (state.terms.licensed_to, state.terms.max_nodes, state.terms.max_deployments) == ("Acme Corp", 4, 7)
    assert state.terms.expires.isoformat().startswith("2099-01-01")


def test_keygen_never_overwrites_a_key(tmp_path, capsys):
    key = tmp_path / "vendor.key"
    key.write_text("precious")
    assert main(["license", "keygen", "--private-key", str(key)]) == 1
    assert key.read_text() == "precious"


def test_issue_with_past_dates_gives_an_expired_license(tmp_path, capsys):
    key = tmp_path / "vendor.key"
    main(["license", "keygen", "--private-key", str(key)])
    public = capsys.readouterr().out.strip()
    main(["license", "issue", "--private-key", str(key), "--starts", "2020-01-01", "--expires", "2021-01-01",
          "--max-nodes", "1", "--max-deployments", "1"])
    assert lic.verify(capsys.readouterr().out.strip(), [public]).status == "expired"


def test_issue_rejects_bad_dates(tmp_path, capsys):
    key = tmp_path / "vendor.key"
    main(["license", "keygen", "--private-key", str(key)])
    capsys.readouterr()
    assert main(["license", "issue", "--private-key", str(key), "--expires", "someday",
                 "--max-nodes", "1", "--max-deployments", "1"]) == 2
    assert "someday" in capsys.readouterr().err
    assert main(["license", "issue", "--private-key", str(key), "--starts", "2030-01-01",
                 "--expires", "2029-01-01", "--max-nodes", "1", "--max-deployments", "1"]) == 2
