"""What the About page shows: versions and the license type."""

from __future__ import annotations

import platform

import jupyterhub

from ... import __version__ as hubfront_version
from ... import license as lic


def about(db_url: str) -> dict:
    report = lic.evaluate(db_url)
    terms = report.state.terms if report.state.valid else None
    return {
        "hubfront": hubfront_version,
        "jupyterhub": jupyterhub.__version__,
        "python": platform.python_version(),
        "license_type": report.type,
        "licensed_to": terms.licensed_to if terms else None,
        "license_expires": terms.expires if terms else None,
        "license_note": report.state.reason if report.state.status not in ("valid", "missing") else "",
    }
