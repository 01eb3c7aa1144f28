"""The ``hubfront`` command: operator tasks that do not need a running hub."""

from __future__ import annotations

import argparse
import sys

from .settings import Hubfront


def _db_upgrade(args) -> int:
    from .store import upgrade
    from .store.engine import current_revision

    url = args.db_url or Hubfront.instance().db_url
    upgrade(url)
    print(f"portal database at revision {current_revision(url)}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="hubfront", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    db = sub.add_parser("db", help="portal database").add_subparsers(dest="db_command", required=True)
    up = db.add_parser("upgrade", help="apply the alembic migrations (idempotent)")
    up.add_argument("--db-url", help="SQLAlchemy URL (default: from $HUBFRONT_DB_URL or the data dir)")
    up.set_defaults(func=_db_upgrade)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
