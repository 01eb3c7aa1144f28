"""The hub's side of jobs (and deployments): the stores, who asks, waking the runner, and the
API base of workloads that members of a group run."""

from __future__ import annotations

import logging

from tornado import web
from tornado.httpclient import AsyncHTTPClient, HTTPRequest

from ...keys import hub_key
from ...groups import group_policy
from ...jobs.records import JobStore, Viewer
from ...jobs.recurring import ScheduleStore
from ...services.app import SERVICE_NAME
from ..base import PortalAPIHandler

log = logging.getLogger("hubfront.jobs")


def secret_key(authenticator, data_dir: str) -> bytes:
    """The Fernet key that encrypts jobs' environment variables (the same as for TOTP secrets)."""
    return hub_key(data_dir, authenticator)


def job_store(handler) -> JobStore:
    hubfront = handler.hubfront
    return JobStore(hubfront.db_url, secret_key(handler.authenticator, hubfront.data_dir), handler.hub.base_url)


def schedule_store(handler) -> ScheduleStore:
    return ScheduleStore(job_store(handler))


def viewer_of(orm_user) -> Viewer:
    groups = list(orm_user.groups)
    return Viewer(
        username=orm_user.name, admin=bool(orm_user.admin),
        group_admin_of=frozenset(g.name for g in groups if group_policy(g).is_admin(orm_user.name)),
        member_of=frozenset(g.name for g in groups),
    )


def wake_runner(handler) -> None:
    """Ask the runner for a reconcile pass now (fire and forget: its timer is the fallback)."""
    service = handler.services.get(SERVICE_NAME)
    if service is None or not service.url:
        return
    request = HTTPRequest(f"{service.url.rstrip('/')}{service.prefix}api/wake", method="POST", body=b"",
                          headers={"Authorization": f"token {service.api_token}"}, request_timeout=5)

    async def _send():
        try:
            await AsyncHTTPClient().fetch(request)
        except Exception as exc:  # noqa: BLE001 - the runner's timer catches up
            log.debug("Runner not woken: %s", exc)

    import asyncio

    asyncio.ensure_future(_send())


class MemberAPIHandler(PortalAPIHandler):
    """API of a group's workloads (jobs, deployments): they run as members, so members act on them."""

    @property
    def viewer(self) -> Viewer:
        return viewer_of(self.current_user.orm_user)

    def member_group(self, group_name: str):
        """The group, if the caller is a member; 404 otherwise."""
        group = self.visible_group(group_name)
        if group.name not in self.viewer.member_of:
            raise web.HTTPError(404, f"No such group: {group_name}")
        return group
