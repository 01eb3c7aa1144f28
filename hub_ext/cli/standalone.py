"""The client's commands alone (``hubfront jobs …``): what ``hubfront.pyz`` runs on a user's own computer.

Standard library only, like :mod:`.jobs` and :mod:`.client` it is built from: the hub serves these
modules as one self-contained zipapp (``hub_ext.portal.desktop.pyz``), without the operator commands
(``db``, ``license``, ``accounts``), which need the hub's own packages and files.
"""

from __future__ import annotations

import argparse

from .. import __version__
from .jobs import add_parser as jobs_parser


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="hubfront", description="Hubfront's command-line client: the hub's REST API from your own shell. "
        "Set HUBFRONT_URL (the hub's address) and HUBFRONT_TOKEN (an API token from the hub's API Token page).")
    parser.add_argument("--version", action="version", version=f"hubfront {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    jobs_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.func(args)
