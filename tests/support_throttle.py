"""A real hub with slow sign-in waits, and a failed sign-in as a script would make it (throttle tests)."""

from __future__ import annotations

from contextlib import contextmanager

import requests

from support import REPO, RealHub, need, proxy_command


@contextmanager
def slow_hub(tmp_path_factory, first_wait_seconds: float):
    """A real hub whose first wait after failed sign-ins (the sixth) is ``first_wait_seconds``."""
    need(proxy_command() is not None, "configurable-http-proxy is not installed (run `make test`)")
    work = tmp_path_factory.mktemp("throttle")
    (work / "config.py").write_text(
        f"load_subconfig({str(REPO / 'jupyterhub_config.py')!r})\n"
        f"c.LoginThrottle.pair_base_seconds = {float(first_wait_seconds)!r}\n")
    hub = RealHub(work / "data", config=work / "config.py")
    hub.start()
    try:
        yield hub
    finally:
        hub.close()


def sign_in(hub, username: str, password: str) -> requests.Response:
    """One attempt on the login form from a fresh session (redirects followed)."""
    s = requests.Session()
    s.get(hub.base_url + "/hub/login")
    return s.post(hub.base_url + "/hub/login", data={"username": username, "password": password,
                                                     "_xsrf": s.cookies.get("_xsrf", "")})
