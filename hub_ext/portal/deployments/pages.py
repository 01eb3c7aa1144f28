"""Deployments pages (thin: read the store, render; every change goes through the REST API).

The list page is also the create form; ``/portal/deployments/new?model_uri=…`` (where the
Models page's Deploy button lands) is the same page with the form open on the model.
The deployment page shows what the API reports and keeps it current by polling the
JSON (static/deployments.js): nothing here invents a phase or a figure.
"""

from __future__ import annotations

from datetime import datetime, timezone

from tornado import web

from ...deployments.records import may_change
from ...deployments.requests import DNS_LABEL, MAX_REPLICAS, MODEL_HEALTH_PATH, RESERVED_IDS
from ...deployments.scaling import compact, span
from ...store.models_deployments import DEFAULT_COLD_START_TIMEOUT, DEFAULT_SCALE_DOWN_AFTER
from ...groups import group_policy
from ...times import utc
from ...policy import format_cpu, format_memory
from ..jobs.pages import _JobsPage
from ..nav import MenuEntry, register_menu
from .service import deployment_store, public_url

# The badge of each phase (Bootstrap classes) and its words where they are not the phase's own;
# static/deployments.js holds the same tables.
PHASE_BADGES = {
    "Deploying": "text-bg-info", "Deployed": "hf-bg-succeeded", "Updating": "text-bg-primary",
    "ScaledToZero": "text-bg-light border", "Stopping": "text-bg-warning", "Stopped": "text-bg-secondary",
    "Failed": "text-bg-danger",
}
PHASE_LABELS = {"ScaledToZero": "Scaled to zero"}
NEW = RESERVED_IDS[0]  # /portal/deployments/new: the create form (no deployment may be called so)


def per_replica(resources: dict) -> str:
    """``0.5 CPU · 1 GiB`` (``· 1 GPU``): what each replica reserves, from the API's ``resources``."""
    text = f"{format_cpu(resources['cpu'])} CPU · {format_memory(resources['memory'])}"
    return text + (f" · {resources['gpu']} GPU" if resources.get("gpu") else "")


def expired(when) -> bool:
    """Whether a client's expiry has passed (its token is refused from then on)."""
    return when is not None and utc(when) <= datetime.now(timezone.utc)


class _DeploymentsPage(_JobsPage):
    """Shares the jobs pages' group, viewer, zone and the group's images and instance types."""

    @property
    def store(self):
        return deployment_store(self)

    def common(self) -> dict:
        return {**super().common(), "badges": PHASE_BADGES, "phase_labels": PHASE_LABELS, "max_replicas": MAX_REPLICAS,
                "model_health": MODEL_HEALTH_PATH, "per_replica": per_replica, "compact": compact, "span": span,
                "default_scale_down": DEFAULT_SCALE_DOWN_AFTER, "default_cold_start": DEFAULT_COLD_START_TIMEOUT}

    def deployment_form(self, group) -> dict:
        """The job form's choices plus what decides whether the group may deploy at all, and how many
        (``limits``: the smaller of the group's and the license's maximum, and why; the form offers Create
        only while admission would take one more)."""
        policy = group_policy(group)
        return {**self.template_form(group), "enabled": policy.deployments_enabled,
                "limits": self.store.limits(group.name, policy), "group_admins": policy.admins}

    async def render_list(self, open_form: bool, prefill: dict) -> None:
        group = self.current_group()
        store = self.store
        viewer = self.viewer

        def data() -> dict:
            rows = [store.as_json(r, viewer, public_url(self)) for r in store.list(group.name)]
            return {"deployments": rows, "form": self.deployment_form(group), "open_form": open_form or not rows}

        if prefill:  # the form filled from the address (any text a link carries): built for this look only
            return await self.render_portal("portal/deployments.html", prefill=prefill, **data(), **self.common())
        await self.render_kept("portal/deployments.html", data, key=open_form, prefill=prefill, **self.common())


class DeploymentsPageHandler(_DeploymentsPage):
    """GET /hub/portal/deployments: the current group's deployments and the Create form."""

    @web.authenticated
    async def get(self):
        await self.render_list(open_form=False, prefill={})


class DeploymentPageHandler(_DeploymentsPage):
    """GET /hub/portal/deployments/{id}: one deployment, its endpoint, traffic, clients, history, log."""

    @web.authenticated
    async def get(self, deployment_id):
        if deployment_id == NEW:
            return await self.new_form()
        store = self.store
        viewer = self.viewer
        row = store.visible(deployment_id[:63], viewer) if DNS_LABEL.match(deployment_id) else None
        if row is None:
            raise web.HTTPError(404, f"No such deployment: {deployment_id}")
        changer = may_change(viewer, row)
        group = self.visible_group(row.group)
        # Start is offered only when it would be admitted; else the page says why (hub_ext.deployments.limits)
        start_refusal = store.limits(row.group, group_policy(group), exclude=row.id).explain("start this one") \
            if changer else ""
        await self.render_portal(
            "portal/deployment.html", dep=store.as_json(row, viewer, public_url(self)),
            history=[store.revision_json(e) for e in store.history(row.id)],
            clients=[{**store.client_json(c), "expired": expired(c.expires)} for c in store.clients(row.id)],
            may_change=changer, form=self.deployment_form(group) if changer else None, start_refusal=start_refusal,
            api=f"{self.hub.base_url}api/portal/deployments/{row.id}", **self.common())

    async def new_form(self):
        """The list with the form open, the model source chosen and its URI filled in when given."""
        model_uri = self.get_query_argument("model_uri", "").strip()
        prefill = {"model_uri": model_uri, "source": "model"} if model_uri else {}
        if model_uri:
            # a suggestion only (the user may change it): the model's name as a DNS label
            name = model_uri.removeprefix("models:/").split("/")[0]
            prefill["name"] = name
            label = "".join(c if c.isalnum() else "-" for c in name.lower()).strip("-")[:50]
            if label and label[0].isalpha():
                prefill["id"] = f"{label}-v{model_uri.rsplit('/', 1)[-1]}"[:63]
        await self.render_list(open_form=True, prefill=prefill)


register_menu(MenuEntry("Deployments", "portal/deployments", "fa-server"))

handlers = [
    (r"/portal/deployments", DeploymentsPageHandler),
    (r"/portal/deployments/([^/]+)", DeploymentPageHandler),
]
