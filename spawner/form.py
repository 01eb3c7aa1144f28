"""The spawn options form: the group's instance types and images, and the datasets it may pick.

An instance type that does not fit the *remaining* quota is shown disabled
with the ledger's reason, and one this machine cannot serve (a GPU type on a
machine without GPUs) with that reason. GPU images are offered with GPU instance types and
CPU images with CPU ones (the page's script filters the image list). Datasets are picked as in
the job form (``templates/portal/dataset_picks.html``): a pinned version is what the notebook's
``~/datasets/<name>`` shows. Beside the fields, what is left of the caller's quota in the group
(``remaining_rows``): the launch page and the home's Start dialog show the same form.
"""

from __future__ import annotations

from jinja2 import Environment, FileSystemLoader, select_autoescape

from hub_ext import template_dir
from hub_ext.datasets.picks import picked
from hub_ext.policy import RESOURCE_LABELS, RESOURCES, Catalog, GroupPolicy, format_amount

from .plan import split_picks

# compiled once, never looked at on disk again (as the hub's own environment: hub_ext.configure)
_env = Environment(loader=FileSystemLoader(template_dir()), autoescape=select_autoescape(default=True),
                   auto_reload=False)


def render_options_form(
    *, group: str, policy: GroupPolicy, catalog: Catalog, shortfalls: dict[str, list[str]], selected: dict,
    unavailable: dict[str, str] | None = None, datasets: list[dict] | None = None,
    resource_groups: list[dict] | None = None, remaining: list[dict] | None = None,
) -> str:
    types = policy.allowed_instance_types(catalog)
    images = policy.allowed_images(catalog)
    unavailable = unavailable or {}
    usable = [it for it in types if not shortfalls.get(it.name) and it.name not in unavailable]
    chosen = selected.get("instance_type")
    if chosen not in {it.name for it in usable}:
        default = policy.default_instance(catalog)
        chosen = default.name if default and default in usable else (usable[0].name if usable else None)
    return _env.get_template("portal/spawn_form.html").render(
        group=group,
        group_display=policy.display_name or group,
        instance_types=types,
        images=images,
        shortfalls=shortfalls,
        unavailable=unavailable,
        chosen_type=chosen,
        chosen_image=selected.get("image"),
        datasets=datasets or [],
        resource_groups=resource_groups or [],
        chosen_resource_group=selected.get("resource_group"),
        remaining=remaining or [],
        picked={k: v for k, v in picked(_picks(selected.get("datasets"))).items()
                if k in {d["name"] for d in datasets or ()}},
    )


def remaining_rows(snapshot, username: str, policy: GroupPolicy) -> list[dict]:
    """What is left of the quota for ``username`` in the group (a ledger ``Snapshot``): per resource the
    lower of theirs and the group's, "unlimited" where neither has a limit."""
    usage = snapshot.usage(username, policy.quota, policy.user_quota)
    rows = []
    for r in RESOURCES:
        left = [a.remaining for a in (usage.user[r], usage.group[r]) if a.remaining is not None]
        rows.append({"resource": r, "label": RESOURCE_LABELS[r],
                     "text": format_amount(r, max(0, min(left))) if left else "unlimited"})
    return rows


def _picks(value) -> list[str]:
    """The last launch's picks (a list), or a link's (``?datasets=a,b@v3``)."""
    return split_picks(value) if isinstance(value, str) else list(value or [])
