"""``hubfront accounts ...``: account rescue without a running hub (e.g. an admin who lost a password).

The operations themselves are in accounts.py, shared with the portal's Manage Users page.
"""

from __future__ import annotations

import getpass
import sys


def _db_url(args) -> str:
    from ..settings import Hubfront

    return args.db_url or Hubfront.instance().db_url


def _unlock(args) -> int:
    from ..auth import accounts

    accounts.unlock(_db_url(args), args.username)
    print(f"{args.username}: failed sign-ins cleared (no wait before the next attempt)")
    return 0


def _reset_2fa(args) -> int:
    from ..auth import accounts

    accounts.reset_2fa(_db_url(args), args.username)
    print(f"{args.username}: two-factor authentication reset")
    return 0


def _set_password(args) -> int:
    from ..auth import accounts
    from ..auth.passwords import rule_errors

    password = sys.stdin.readline().rstrip("\n") if args.stdin else getpass.getpass("New password: ")
    problem = rule_errors(password, args.username)
    if problem:
        print(f"hubfront accounts set-password: {problem}", file=sys.stderr)
        return 2
    accounts.create_account(_db_url(args), args.username, password, args.temporary)
    print(f"{args.username}: password set" + (" (must be changed at next login)" if args.temporary else ""))
    return 0


def _reset_password(args) -> int:
    from ..auth import accounts

    password = accounts.reset_password(_db_url(args), args.username)
    print(f"{args.username}: temporary password {password} (must be changed at next login)")
    return 0


def _disable(args) -> int:
    from ..auth import accounts

    accounts.set_disabled(_db_url(args), args.username, True)
    print(f"{args.username}: disabled")
    return 0


def _enable(args) -> int:
    from ..auth import accounts

    accounts.set_disabled(_db_url(args), args.username, False)
    print(f"{args.username}: enabled")
    return 0


COMMANDS = (
    ("unlock", _unlock, "clear failed sign-ins: no wait before the next attempt"),
    ("reset-2fa", _reset_2fa, "turn off a user's two-factor authentication"),
    ("set-password", _set_password, "set a password (prompted, or --stdin)"),
    ("reset-password", _reset_password, "generate a temporary password (printed once; must be changed)"),
    ("disable", _disable, "refuse the account's logins, sessions and tokens"),
    ("enable", _enable, "undo disable"),
)


def add_parser(sub) -> None:
    acc = sub.add_parser("accounts", help="local accounts: unlock, reset 2FA or password, disable, enable")
    cmds = acc.add_subparsers(dest="accounts_command", required=True)
    for name, func, text in COMMANDS:
        p = cmds.add_parser(name, help=text)
        p.add_argument("username")
        p.add_argument("--db-url", help="SQLAlchemy URL (default: from $HUBFRONT_DB_URL or the data dir)")
        if name == "set-password":
            p.add_argument("--stdin", action="store_true", help="read the password from standard input")
            p.add_argument("--temporary", action="store_true", help="make the user change it at next login")
        p.set_defaults(func=func)
