"""Deployments: the REST API (thin: parse, check permission, call the store, wake the runner).

Members of a group see its deployments; the owner, the group's admins and hub
admins change them. Every endpoint answers 404 for a deployment or group the
caller may not see, so ids of other groups' deployments leak nothing.
"""

from __future__ import annotations

from typing import NoReturn

from jupyterhub.scopes import needs_scope
from tornado import web

from ...bodies import NoFields
from ...deployments.records import Conflict, LimitError, may_change
from ...deployments.requests import ClientCreate, DeploymentCreate, DeploymentPatch, Rollback, resolve
from ...groups import group_policy
from ...images.resolve import usable_policy
from ...jobs import logs as logs_mod
from ...jobs.requests import RequestError
from ...scopes import READ, WRITE
from ...store.models_deployments import Deployment
from ..common.member import MemberAPIHandler
from ..common.runner import wake_runner
from ..common.logstream import LogAPI
from .service import deployment_store, public_url


class _DeploymentsAPI(MemberAPIHandler):
    @property
    def store(self):
        return deployment_store(self)

    def deployment(self, deployment_id: str) -> Deployment:
        row = self.store.visible(deployment_id[:63], self.viewer)
        if row is None:
            raise web.HTTPError(404, f"No such deployment: {deployment_id}")
        return row

    def changeable(self, deployment_id: str) -> Deployment:
        row = self.deployment(deployment_id)
        if not may_change(self.viewer, row):
            raise web.HTTPError(403, "Only the deployment's owner, the group's admins and admins change it")
        return row

    def group_of(self, row: Deployment):
        return self.visible_group(row.group)

    def runtime(self, instance_type, image, group, resource_group=None):
        try:
            return resolve(instance_type, image, usable_policy(group, self.db_url), self.catalog, group.name,
                           resource_group)
        except RequestError as exc:
            self.field_error(exc.errors)

    def refused(self, exc: Exception) -> NoReturn:
        """The store's refusals as the portal answers them (403 over the license's limit, 409 a taken id)."""
        if isinstance(exc, LimitError):
            raise web.HTTPError(403, str(exc))
        if isinstance(exc, Conflict):
            self.field_error({"id": str(exc)}, 409)
        raise exc

    def apply(self, row: Deployment, fields: dict) -> None:
        runtime = None
        if "instance_type" in fields or "image" in fields or "resource_group" in fields:
            runtime = self.runtime(fields.get("instance_type") or row.instance_type,
                                   fields.get("image") or row.image, self.group_of(row),
                                   fields.get("resource_group") or row.resource_group or None)
        row = self.store.update(row, fields, runtime, self.current_user.name)
        wake_runner(self)
        self.write_json(self.deployment_json(row))

    def deployment_json(self, row: Deployment) -> dict:
        return self.store.as_json(row, self.viewer, public_url(self))


class GroupDeploymentsAPIHandler(_DeploymentsAPI):
    """GET (list) and POST (create): /hub/api/portal/groups/{group}/deployments."""

    @needs_scope(READ)
    def get(self, group_name):
        group = self.member_group(group_name) if not self.current_user.admin else self.visible_group(group_name)
        self.write_json({"group": group.name, "deployments": [self.deployment_json(r)
                                                               for r in self.store.list(group.name)],
                         "limits": self.store.limits(group.name, group_policy(group)).json()})

    @needs_scope(WRITE)
    def post(self, group_name):
        group = self.member_group(group_name)
        body = self.body(DeploymentCreate)
        runtime = self.runtime(body.instance_type, body.image, group, body.resource_group)
        try:
            row = self.store.create(group=group.name, username=self.current_user.name, body=body, runtime=runtime,
                                    policy=group_policy(group))
        except (LimitError, Conflict) as exc:
            self.refused(exc)
        wake_runner(self)
        self.set_status(201)
        self.write_json(self.deployment_json(row))


class DeploymentAPIHandler(_DeploymentsAPI):
    """GET, PATCH, DELETE: /hub/api/portal/deployments/{id}."""

    @needs_scope(READ)
    def get(self, deployment_id):
        self.write_json(self.deployment_json(self.deployment(deployment_id)))

    @needs_scope(WRITE)
    def patch(self, deployment_id):
        row = self.changeable(deployment_id)
        body = self.body(DeploymentPatch)
        self.apply(row, body.model_dump(exclude_unset=True))

    @needs_scope(WRITE)
    def delete(self, deployment_id):
        row = self.changeable(deployment_id)
        self.store.delete(row, self.current_user.name)
        wake_runner(self)
        self.set_status(204)
        self.finish()


class StopAPIHandler(_DeploymentsAPI):
    @needs_scope(WRITE)
    def post(self, deployment_id):
        row = self.changeable(deployment_id)
        self.body(NoFields)
        row = self.store.stop(row, self.current_user.name)
        wake_runner(self)
        self.set_status(202)
        self.write_json(self.deployment_json(row))


class StartAPIHandler(_DeploymentsAPI):
    @needs_scope(WRITE)
    def post(self, deployment_id):
        row = self.changeable(deployment_id)
        self.body(NoFields)
        try:
            row = self.store.start(row, self.current_user.name, group_policy(self.group_of(row)))
        except LimitError as exc:
            self.refused(exc)
        wake_runner(self)
        self.set_status(202)
        self.write_json(self.deployment_json(row))


class RollbackAPIHandler(_DeploymentsAPI):
    """POST: roll out an earlier revision's spec again (a new revision, recorded in the history)."""

    @needs_scope(WRITE)
    def post(self, deployment_id):
        row = self.changeable(deployment_id)
        body = self.body(Rollback)
        fields = self.store.rollback_fields(row, body.revision)
        if fields is None:
            self.field_error({"revision": f"revision {body.revision} is not in the kept history"})
        self.apply(row, fields)


class HistoryAPIHandler(_DeploymentsAPI):
    @needs_scope(READ)
    def get(self, deployment_id):
        row = self.deployment(deployment_id)
        self.write_json({"deployment": row.id, "history": [self.store.revision_json(e)
                                                           for e in self.store.history(row.id)]})


class LogAPIHandler(LogAPI, _DeploymentsAPI):
    """GET: the replicas' output (``LogAPI``); followed until the client leaves."""

    owner = logs_mod.DEPLOYMENTS

    def log_of(self, deployment_id):
        row = self.deployment(deployment_id)

        def ended(offset: int) -> bool:
            current = self.store.get(row.id)
            return current is None or (current.stopped and current.phase == "Stopped" and offset >= current.log_size)

        return row.id, f"deployment-{row.id}.log", ended


class ClientsAPIHandler(_DeploymentsAPI):
    """GET (list) and POST (add; the token is in this answer only): …/deployments/{id}/clients."""

    @needs_scope(READ)
    def get(self, deployment_id):
        row = self.deployment(deployment_id)
        self.write_json({"deployment": row.id, "clients": [self.store.client_json(c)
                                                           for c in self.store.clients(row.id)]})

    @needs_scope(WRITE)
    def post(self, deployment_id):
        row = self.changeable(deployment_id)
        body = self.body(ClientCreate)
        try:
            client, token = self.store.add_client(row, body.name, body.expires, self.current_user.name)
        except Conflict as exc:
            self.field_error({"name": str(exc)}, 409)
        wake_runner(self)
        self.set_status(201)
        self.write_json({**self.store.client_json(client), "token": token})


class ClientAPIHandler(_DeploymentsAPI):
    """DELETE: revoke a client (its token stops working at once)."""

    @needs_scope(WRITE)
    def delete(self, deployment_id, name):
        row = self.changeable(deployment_id)
        if not self.store.revoke_client(row, name, self.current_user.name):
            raise web.HTTPError(404, f"No such client: {name}")
        wake_runner(self)
        self.set_status(204)
        self.finish()


_ID = r"([^/]+)"
handlers = [
    (rf"/api/portal/groups/{_ID}/deployments", GroupDeploymentsAPIHandler),
    (rf"/api/portal/deployments/{_ID}", DeploymentAPIHandler),
    (rf"/api/portal/deployments/{_ID}/stop", StopAPIHandler),
    (rf"/api/portal/deployments/{_ID}/start", StartAPIHandler),
    (rf"/api/portal/deployments/{_ID}/rollback", RollbackAPIHandler),
    (rf"/api/portal/deployments/{_ID}/history", HistoryAPIHandler),
    (rf"/api/portal/deployments/{_ID}/log", LogAPIHandler),
    (rf"/api/portal/deployments/{_ID}/clients", ClientsAPIHandler),
    (rf"/api/portal/deployments/{_ID}/clients/{_ID}", ClientAPIHandler),
]
from .pages import handlers as _pages; handlers += _pages  # noqa: E402
