"""KubeSpawner pods (production)."""

from kubespawner import KubeSpawner


class KubeGroupSpawner(KubeSpawner):
    pass
