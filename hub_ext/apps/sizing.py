"""Which instance types hold an app: what the install and settings forms offer, the default they pick,
and the API's refusal of a type too small (400 naming ``instance_type``).

A template declares the memory and CPU it needs at least (``AppTemplate.min_memory``/``min_cpu``). Of the
instance types the group may use, those below either are shown disabled with the reason ("needs at least
1 GiB of memory"); the default is the group's default instance type when it holds the app, else the first
that does.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..bodies import BodyError
from ..policy import Catalog, GroupPolicy, InstanceType
from ..quantities import format_memory
from .templates import AppTemplate

FIELD = "instance_type"


@dataclass(frozen=True)
class Offer:
    """An instance type as a form offers it for one template: ``why_not`` "" when it holds the app."""

    instance_type: InstanceType
    why_not: str

    @property
    def name(self) -> str:
        return self.instance_type.name

    @property
    def title(self) -> str:
        it = self.instance_type
        return (f"{it.name} ({it.cpu:g} CPU, {format_memory(it.memory)}" + (f", {it.gpu} GPU" if it.gpu else "")
                + ")" + (f" — {self.why_not}" if self.why_not else ""))


def offers(template: AppTemplate | None, policy: GroupPolicy, catalog: Catalog) -> list[Offer]:
    """Every instance type the group may use, each with why it cannot hold ``template`` ("" if it can;
    a template no longer in the catalog: every one)."""
    return [Offer(it, template.shortfall(it) if template else "") for it in policy.allowed_instance_types(catalog)]


def default_for(template: AppTemplate | None, policy: GroupPolicy, catalog: Catalog) -> InstanceType | None:
    """The group's default instance type when it holds the app, else the first allowed one that does."""
    fitting = [o.instance_type for o in offers(template, policy, catalog) if not o.why_not]
    chosen = policy.default_instance(catalog)
    if chosen is not None and any(it.name == chosen.name for it in fitting):
        return chosen
    return fitting[0] if fitting else None


def choose(template: AppTemplate | None, name: str | None, policy: GroupPolicy, catalog: Catalog,
           group: str) -> InstanceType:
    """The instance type asked for (``name``; None: :func:`default_for`), checked: allowed in the group and
    large enough for the app (:class:`BodyError` naming ``instance_type`` otherwise)."""
    if name:
        found = next((it for it in policy.allowed_instance_types(catalog) if it.name == name), None)
        if found is None:
            raise BodyError({FIELD: f"{name!r} is not allowed in group {group}"})
        small = template.too_small(found) if template else ""
        if small:
            raise BodyError({FIELD: small})
        return found
    found = default_for(template, policy, catalog)
    if found is not None:
        return found
    if not policy.allowed_instance_types(catalog):
        raise BodyError({FIELD: f"group {group} has no instance type available"})
    raise BodyError({FIELD: f"no instance type group {group} may use holds {template.display_name}: it "
                            f"{template.shortfall(InstanceType(name='none', cpu=0, memory=0))}"})
