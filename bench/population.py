"""The same users and groups on both hubs, created in bulk through the hub REST API."""

from __future__ import annotations

from dataclasses import dataclass, field

from .hubs import Hub

MEASURED = "bench-user"


@dataclass
class Population:
    """``users`` accounts (the measured user included) spread over ``groups`` groups.

    Every other user is in one group (round robin), so groups have members like
    a real hub; the measured user is in the first ``user_groups`` groups.
    """

    users: list[str]
    groups: list[str]
    members: dict[str, list[str]] = field(default_factory=dict)
    measured: str = MEASURED

    @classmethod
    def make(cls, users: int = 1000, groups: int = 100, user_groups: int = 5) -> "Population":
        if user_groups > groups:
            raise ValueError(f"--user-groups ({user_groups}) > --groups ({groups})")
        others = [f"user{i:04d}" for i in range(max(users - 1, 0))]
        names = [f"group{i:03d}" for i in range(groups)]
        members = {g: [] for g in names}
        for i, u in enumerate(others):
            members[names[i % groups]].append(u)
        for g in names[:user_groups]:
            members[g].append(MEASURED)
        return cls(users=others + [MEASURED], groups=names, members=members)

    @property
    def measured_groups(self) -> list[str]:
        return [g for g, us in self.members.items() if self.measured in us]


def _ok(r, what: str) -> None:
    if r.status_code >= 400 and r.status_code != 409:
        raise RuntimeError(f"{what}: {r.status_code} {r.text[:300]}")


def populate(hub: Hub, pop: Population, batch: int = 500) -> None:
    """Create every user and group of ``pop`` on ``hub`` and fill the groups."""
    for i in range(0, len(pop.users), batch):
        chunk = pop.users[i:i + batch]
        _ok(hub.api("POST", "/users", json={"usernames": chunk}), "create users")
    _ok(hub.api("POST", "/groups", json={"groups": pop.groups}), "create groups")
    for group, users in pop.members.items():
        if users:
            _ok(hub.api("POST", f"/groups/{group}/users", json={"users": users}), f"fill {group}")


def mirror_groups(source: Hub, target: Hub) -> list[str]:
    """Create on ``target`` the groups that only ``source`` has (Hubfront's demo groups), empty."""
    have = {g["name"] for g in _all(target, "/groups")}
    extra = [g["name"] for g in _all(source, "/groups") if g["name"] not in have]
    if extra:
        _ok(target.api("POST", "/groups", json={"groups": extra}), "mirror groups")
    return extra


def _all(hub: Hub, path: str) -> list[dict]:
    items, offset = [], 0
    while True:
        r = hub.api("GET", path, params={"offset": offset, "limit": 200},
                    headers={"Accept": "application/jupyterhub-pagination+json"})
        _ok(r, f"list {path}")
        body = r.json()
        page = body["items"] if isinstance(body, dict) else body
        items.extend(page)
        nxt = (body.get("_pagination") or {}).get("next") if isinstance(body, dict) else None
        if not nxt or not page:
            return items
        offset = nxt["offset"]
