"""The ``hubfront`` command: operator tasks that do not need a running hub."""

from __future__ import annotations

import argparse
import sys

from .accounts import add_parser as accounts_parser
from .jobs import add_parser as jobs_parser
from ..settings import Hubfront


def _private_data_dir(url: str, data_dir: str) -> None:
    """The data dir holding the SQLite file: others may pass (0711, as the isolation keeps it), not list.

    Only the configured data dir is touched (a URL may point anywhere), through
    a descriptor that is no symbolic link.
    """
    import os
    from pathlib import Path

    from ..isolation.hardening import DATA_DIR_MODE

    if not url.startswith("sqlite:///"):
        return
    parent = Path(url[len("sqlite:///"):].split("?", 1)[0]).parent
    if not parent.exists() or os.path.abspath(parent) != os.path.abspath(data_dir):
        return
    fd = os.open(parent, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    try:
        mode = os.fstat(fd).st_mode & 0o7777
        if mode & ~DATA_DIR_MODE:
            os.fchmod(fd, mode & DATA_DIR_MODE)
    finally:
        os.close(fd)


def _db_upgrade(args) -> int:
    from ..store import upgrade
    from ..store.engine import current_revision

    hubfront = Hubfront.instance()
    url = args.db_url or hubfront.db_url
    upgrade(url)  # the files 0600 (store.engine.private_sqlite_files)
    _private_data_dir(url, hubfront.data_dir)
    print(f"portal database at revision {current_revision(url)}")
    return 0


def _license_keygen(args) -> int:
    import os

    from ..license.token import keygen

    path = args.private_key
    if os.path.exists(path):
        print(f"refusing to overwrite {path}", file=sys.stderr)
        return 1
    pem, public = keygen()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(pem)
    print(f"private key written to {path} (keep it secret; it signs licenses)", file=sys.stderr)
    print("public key for c.HubfrontLicense.public_keys:", file=sys.stderr)
    print(public)
    return 0


def _license_issue(args) -> int:
    from datetime import timedelta

    from ..license.token import LicenseError, LicenseTerms, issue, parse_when
    from ..store.models import utcnow

    try:
        expires = parse_when(args.expires)
        starts = parse_when(args.starts) if args.starts else utcnow() - timedelta(minutes=5)
    except ValueError as exc:
        print(f"hubfront license issue: {exc}", file=sys.stderr)
        return 2
    if expires <= starts:
        print("hubfront license issue: --expires must be after --starts", file=sys.stderr)
        return 2
    if args.max_nodes < 0 or args.max_deployments < 0:
        print("hubfront license issue: limits cannot be negative", file=sys.stderr)
        return 2
    with open(args.private_key, "rb") as f:
        pem = f.read()
    terms = LicenseTerms(licensed_to=args.licensed_to, starts=starts, expires=expires,
                         max_nodes=args.max_nodes, max_deployments=args.max_deployments)
    try:
        print(issue(pem, terms))
    except (LicenseError, ValueError) as exc:
        print(f"hubfront license issue: {exc}", file=sys.stderr)
        return 2
    return 0


def _license_parser(sub) -> None:
    lic = sub.add_parser("license", help="vendor side: signing keys and license tokens")
    cmds = lic.add_subparsers(dest="license_command", required=True)
    kg = cmds.add_parser("keygen", help="make an Ed25519 key pair; prints the public key")
    kg.add_argument("--private-key", default="hubfront-license.key",
                    help="where to write the private key (default: %(default)s; never overwritten)")
    kg.set_defaults(func=_license_keygen)
    iss = cmds.add_parser("issue", help="sign a license token; prints it")
    iss.add_argument("--private-key", required=True, help="the vendor private key (PEM) from keygen")
    iss.add_argument("--expires", required=True, help="ISO date or datetime (UTC) the license ends")
    iss.add_argument("--max-nodes", required=True, type=int, help="nodes granted")
    iss.add_argument("--max-deployments", required=True, type=int, help="model deployments granted")
    iss.add_argument("--licensed-to", default="", help="customer name shown on the License page")
    iss.add_argument("--starts", help="ISO date or datetime (UTC) the license starts (default: now)")
    iss.set_defaults(func=_license_issue)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="hubfront", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    db = sub.add_parser("db", help="portal database").add_subparsers(dest="db_command", required=True)
    up = db.add_parser("upgrade", help="apply the alembic migrations (idempotent)")
    up.add_argument("--db-url", help="SQLAlchemy URL (default: from $HUBFRONT_DB_URL or the data dir)")
    up.set_defaults(func=_db_upgrade)
    _license_parser(sub)
    accounts_parser(sub)
    jobs_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.func(args)
