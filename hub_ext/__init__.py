"""Hubfront: a group-aware ML platform portal on top of JupyterHub.

The hub side (``hub_ext.auth``, ``hub_ext.portal``) and the managed service
(``hub_ext.services``) share one portal database (``hub_ext.store``) and one
ledger (``hub_ext.ledger``).
"""

from pathlib import Path

__version__ = "0.1.0"

_HERE = Path(__file__).resolve().parent


def _data_path(name: str) -> Path:
    """Find shipped data both in a wheel (``hub_ext/_data``) and in a checkout.

    A wheel built by hatchling carries templates/static under ``hub_ext/_data``;
    an editable install or a plain checkout finds them beside the package.
    """
    packaged = _HERE / "_data" / name
    if packaged.exists():
        return packaged
    return _HERE.parent / name


def template_dir() -> str:
    return str(_data_path("templates"))


def static_dir() -> str:
    return str(_data_path("static"))


def default_catalog_file() -> str:
    packaged = _HERE / "_data" / "hubfront.yaml"
    if packaged.exists():
        return str(packaged)
    return str(_HERE.parent / "config" / "hubfront.yaml")
