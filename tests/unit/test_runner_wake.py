"""The hub wakes a runner on its machine with one datagram on the runner's socket in the data dir (issue 27):
the right token wakes the loop named, a wrong one wakes nothing, and where nobody listens (a runner
elsewhere, or not started yet) the hub is told so and wakes it over HTTP."""

from __future__ import annotations

import asyncio
import logging
from types import SimpleNamespace

from hub_ext.portal.common.runner import _datagram
from hub_ext.services.webapp import hear_wakes


class _Loop:
    def __init__(self):
        self.wake = asyncio.Event()


async def _woken(event: asyncio.Event) -> bool:
    try:
        await asyncio.wait_for(event.wait(), 5)
    except asyncio.TimeoutError:
        return False
    return True


async def test_a_datagram_with_the_runners_token_wakes_the_loop_it_names(tmp_path):
    runner = SimpleNamespace(wake=asyncio.Event(), apps=_Loop())
    handler = SimpleNamespace(hubfront=SimpleNamespace(data_dir=str(tmp_path)))
    service = SimpleNamespace(api_token="s3cret-token")
    assert _datagram(handler, service, "jobs") is False  # nobody listens yet: the hub wakes it over HTTP
    sock = hear_wakes(runner, "s3cret-token", str(tmp_path / "runner-wake.sock"), logging.getLogger("test"))
    try:
        assert _datagram(handler, SimpleNamespace(api_token="guessed"), "jobs") is True
        assert _datagram(handler, service, "apps") is True
        assert await _woken(runner.apps.wake)  # (heard in order: the guess was heard before)
        assert not runner.wake.is_set()  # a wrong token woke nothing; "apps" wakes the apps loop only
        runner.apps.wake.clear()
        assert _datagram(handler, service, "jobs") is True
        assert await _woken(runner.wake) and not runner.apps.wake.is_set()  # the jobs loop only
        runner.wake.clear()
        assert _datagram(handler, service, "") is True
        assert await _woken(runner.wake) and await _woken(runner.apps.wake)  # "": every loop
    finally:
        sock.close()
    assert _datagram(handler, service, "jobs") is False  # the runner gone: back to HTTP
