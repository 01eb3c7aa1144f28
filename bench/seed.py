"""Extra portal data seeded into Hubfront before the ``home`` benchmark.

Stock JupyterHub has no portal database, so this only fills Hubfront's, to
measure the home page with the data a busy hub would have. Each later feature
that adds something home reads (recent activities, announcements, ...) appends
a seeder to ``SEEDERS``::

    def seed_activities(ctx: SeedContext) -> None:
        # 10,000 activity rows over the population, some for ctx.population.measured
        ...

    SEEDERS.append(seed_activities)

Seeders run after the hub has started (its migrations have created the tables)
and after the users and groups exist, and before any measurement.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from .population import Population


@dataclass
class SeedContext:
    data_dir: Path
    db_url: str  # the portal DB of the Hubfront under test
    population: Population


def seed_activities(ctx: SeedContext, rows: int = 10_000) -> None:
    """10,000 activity rows (a fifth in the measured user's groups) and a few announcements."""
    import random
    from datetime import timedelta

    from hub_ext.store import get_engine
    from hub_ext.store.models import utcnow
    from hub_ext.store.models_portal import Activity, Announcement

    rng = random.Random(5)
    pop, now = ctx.population, utcnow()
    kinds = [("notebook", "started", "ok"), ("notebook", "stopped", "info"), ("job", "failed", "error"),
             ("job", "created", "info"), ("deployment", "ready", "ok"), ("notebook", "refused", "error")]
    batch = []
    for i in range(rows):
        if i % 5 == 0:
            group, user = rng.choice(pop.measured_groups), rng.choice([pop.measured, *pop.users[:50]])
        else:
            group = rng.choice(pop.groups)
            user = rng.choice(pop.members[group] or pop.users)
        kind, action, status = rng.choice(kinds)
        batch.append(dict(created=now - timedelta(seconds=rows - i), username=user, group=group, kind=kind,
                          action=action, status=status, message=f"{kind} {action} #{i}",
                          workload_id=f"{user}/{group}", link=f"/hub/portal/logs?group={group}"))
    with get_engine(ctx.db_url).begin() as conn:
        conn.execute(Activity.__table__.insert(), batch)
        conn.execute(Announcement.__table__.insert(), [
            dict(title=title, body="**Maintenance** on Sunday, see [the guide](https://example.org).",
                 severity=sev, audience_groups=aud, starts=None, expires=None, published=pub, version=1,
                 author="admin", created=now, updated=now)
            for title, sev, aud, pub in [("For everyone", "info", "", True),
                                         ("For the measured group", "warning", pop.measured_groups[0], True),
                                         ("For another group", "critical", pop.groups[-1], True),
                                         ("A draft", "info", "", False)]
        ])


SEEDERS: list[Callable[[SeedContext], None]] = [seed_activities]


def seed_hubfront(data_dir: Path, population: Population) -> list[str]:
    """Run every seeder on the portal DB in ``data_dir``; returns the seeders' names."""
    ctx = SeedContext(Path(data_dir), f"sqlite:///{Path(data_dir) / 'hubfront.sqlite'}", population)
    for seeder in SEEDERS:
        seeder(ctx)
    return [s.__name__ for s in SEEDERS]
