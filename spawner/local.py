"""Local processes (embedded default)."""

from jupyterhub.spawner import LocalProcessSpawner


class LocalGroupSpawner(LocalProcessSpawner):
    pass
