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


SEEDERS: list[Callable[[SeedContext], None]] = [
    # The activity feed is not built yet: when it is, its seeder of 10,000
    # activity rows goes here.
]


def seed_hubfront(data_dir: Path, population: Population) -> list[str]:
    """Run every seeder on the portal DB in ``data_dir``; returns the seeders' names."""
    ctx = SeedContext(Path(data_dir), f"sqlite:///{Path(data_dir) / 'hubfront.sqlite'}", population)
    for seeder in SEEDERS:
        seeder(ctx)
    return [s.__name__ for s in SEEDERS]
