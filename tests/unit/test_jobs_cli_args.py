"""``hubfront jobs``: arguments, URL/token resolution, error lines and the log follower, without a hub.

The follower is checked against a tiny stdlib HTTP server playing the hub's log API.
"""

from __future__ import annotations

import io
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

import pytest

from hub_ext.cli import jobs as cli_jobs
from hub_ext.cli import build_parser, main


def parse(*argv):
    return build_parser().parse_args(["jobs", *argv])


def test_the_command_after_double_dash_keeps_its_own_options():
    args = parse("submit", "--name", "x", "--follow", "--", "python3", "-c", "print('hi')", "--name", "y")
    assert (args.name, args.follow, args.wait) == ("x", True, False)
    assert args.command == ["python3", "-c", "print('hi')", "--name", "y"]
    assert cli_jobs.command_of(args.command) == "python3 -c 'print('\"'\"'hi'\"'\"')' --name y"


def test_one_argument_is_a_shell_line_as_it_is():
    args = parse("submit", "--name", "x", "echo a > out.txt; cat out.txt")
    assert cli_jobs.command_of(args.command) == "echo a > out.txt; cat out.txt"


def test_submit_needs_a_name_and_takes_wait_or_follow_not_both(capsys):
    with pytest.raises(SystemExit) as exc:
        parse("submit", "--", "true")
    assert exc.value.code == 2 and "--name" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        parse("submit", "--name", "x", "--wait", "--follow", "--", "true")


def test_submit_options():
    args = parse("submit", "--group", "g", "--name", "n", "--image", "base", "--instance-type", "cpu-small",
                 "--env", "A=1", "--env", "B=x=y", "--env", "EMPTY=", "--timeout", "30m", "--json", "true")
    assert (args.group, args.image, args.instance_type, args.json) == ("g", "base", "cpu-small", True)
    assert cli_jobs.env_of(args.env) == {"A": "1", "B": "x=y", "EMPTY": ""}
    assert cli_jobs.timeout_of(args.timeout) == "30m"
    assert cli_jobs.timeout_of("90") == 90 and cli_jobs.timeout_of(None) is None


@pytest.mark.parametrize("argv, message", [
    (["submit", "--name", "x", "--token", "t", "--env", "NOVALUE", "--", "true"],
     "--env 'NOVALUE': expected NAME=VALUE"),
    (["submit", "--name", "x", "--token", "t", "--group", "g"], "no command"),
    (["submit", "--name", "x", "--token", "t", "--follow", "--json", "--", "true"], "--json does not go with --follow"),
    (["logs", "abc", "--token", "t"], "not a job id: 'abc'"),
    (["cancel", "12", "--token", "t", "--url", "hub.example.org"], "not a URL"),
])
def test_mistakes_are_one_error_line_and_status_2(argv, message, capsys, monkeypatch):
    monkeypatch.setenv("HUBFRONT_URL", "http://127.0.0.1:9")  # never reached
    assert main(["jobs", *argv]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err and err.count("\n") == 1


def test_list_phase_is_checked_by_the_parser(capsys):
    with pytest.raises(SystemExit):
        parse("list", "--phase", "Done")
    assert "invalid choice" in capsys.readouterr().err


def test_url_precedence_and_normal_form():
    env = {"HUBFRONT_URL": "http://h:1", "JUPYTERHUB_API_URL": "http://127.0.0.1:8081/hub/api"}
    assert cli_jobs.api_url("http://x:8000/", env) == "http://x:8000/hub/api"
    assert cli_jobs.api_url(None, env) == "http://h:1/hub/api"
    assert cli_jobs.api_url(None, {"JUPYTERHUB_API_URL": "http://127.0.0.1:8081/hub/api/"}) \
        == "http://127.0.0.1:8081/hub/api"
    assert cli_jobs.api_url(None, {}) == "http://127.0.0.1:8000/hub/api"
    assert cli_jobs.api_url("https://hub.example.org/prefix/hub", {}) == "https://hub.example.org/prefix/hub/api"


def test_token_precedence():
    env = {"HUBFRONT_TOKEN": "a", "JUPYTERHUB_API_TOKEN": "b"}
    assert cli_jobs.api_token("given", env) == "given"
    assert cli_jobs.api_token(None, env) == "a"
    assert cli_jobs.api_token(None, {"JUPYTERHUB_API_TOKEN": "b"}) == "b"
    with pytest.raises(cli_jobs.CLIError, match="^no token: set JUPYTERHUB_API_TOKEN or pass --token$"):
        cli_jobs.api_token(None, {})


def test_error_message_prefers_the_apis_words():
    body = json.dumps({"status": 400, "message": "Name: enter a name", "errors": {"name": "Name: enter a name"}}).encode()
    assert cli_jobs.error_message(400, body) == "Name: enter a name"
    assert cli_jobs.error_message(404, b'{"status": 404, "message": "No such job: 9"}') == "No such job: 9"
    assert cli_jobs.error_message(502, b"<html>Bad gateway</html>", "Bad Gateway") == "HTTP 502 Bad Gateway"
    assert cli_jobs.error_message(500, b"boom\nmore", "") == "HTTP 500: boom"


def test_ending_line_and_table():
    job = {"id": 7, "phase": "Failed", "reason": "OOMKilled", "exit_code": 137, "message": "over 256 MiB"}
    assert cli_jobs.ending(job) == "job 7 Failed (OOMKilled), exit code 137: over 256 MiB"
    assert cli_jobs.ending({"id": 8, "phase": "Succeeded", "reason": None, "exit_code": 0,
                            "message": "Succeeded"}) == "job 8 Succeeded"
    text = cli_jobs.table([{"id": 12, "name": "train", "phase": "Running", "reason": None, "username": "alice",
                            "created": "2025-06-02T10:11:12.345678+00:00"}])
    header, row = text.splitlines()
    assert header.split() == ["ID", "NAME", "PHASE", "REASON", "OWNER", "CREATED", "(UTC)"]
    assert row.split() == ["12", "train", "Running", "alice", "2025-06-02", "10:11:12"]


class FakeHub:
    """The log API of one job: each followed request answers the next planned piece, then ends."""

    def __init__(self, pieces: list[bytes], phases: list[str], log_size: int):
        self.pieces, self.phases, self.log_size = list(pieces), list(phases), log_size
        self.offsets: list[str | None] = []
        self.auth: set[str] = set()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def do_GET(self):
                fake.auth.add(self.headers.get("Authorization"))
                url = urlparse(self.path)
                if url.path.endswith("/log"):
                    fake.offsets.append(parse_qs(url.query).get("offset", [None])[0])
                    body = fake.pieces.pop(0)
                    self.send_response(200)
                    self.send_header("Content-Type", "text/plain")
                else:
                    phase = fake.phases.pop(0) if len(fake.phases) > 1 else fake.phases[0]
                    body = json.dumps({"id": 5, "phase": phase, "reason": None, "message": "", "exit_code": 0,
                                       "log_size": fake.log_size}).encode()
                    self.send_response(200)
                    self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def test_follow_resumes_at_the_absolute_offset_past_dropped_output():
    notice = b"[... 100 earlier bytes not kept ...]\n"
    hub = FakeHub([notice + b"abc", b"def\n"], ["Running", "Succeeded"], log_size=104)
    try:
        out = io.BytesIO()
        client = cli_jobs.Client(cli_jobs.api_url(hub.url, {}), "tok")
        job = cli_jobs.follow_log(client, 5, out)
    finally:
        hub.close()
    assert job["phase"] == "Succeeded"
    assert out.getvalue() == notice + b"abcdef\n"
    assert hub.offsets == [None, "103"]  # 100 dropped + "abc"
    assert hub.auth == {"token tok"}


def test_follow_of_a_short_first_piece_is_not_held_back():
    hub = FakeHub([b"[", b"x]\n"], ["Running", "Succeeded"], log_size=4)
    try:
        out = io.BytesIO()
        cli_jobs.follow_log(cli_jobs.Client(hub.url + "/hub/api", "t"), 5, out)
    finally:
        hub.close()
    assert out.getvalue() == b"[x]\n" and hub.offsets == [None, "1"]
