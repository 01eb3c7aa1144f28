"""``hubfront accounts ...``: account rescue without a running hub (e.g. a locked-out admin)."""

from __future__ import annotations

import getpass
import sys


def _db_url(args) -> str:
    from ..settings import Hubfront

    return args.db_url or Hubfront.instance().db_url


def _unlock(args) -> int:
    from . import lockout

    lockout.unlock(_db_url(args), args.username)
    print(f"{args.username}: unlocked")
    return 0


def _reset_2fa(args) -> int:
    from . import otp

    otp.disable(_db_url(args), args.username)
    print(f"{args.username}: two-factor authentication reset")
    return 0


def _set_password(args) -> int:
    from . import lockout
    from .passwords import rule_errors, set_password

    password = sys.stdin.readline().rstrip("\n") if args.stdin else getpass.getpass("New password: ")
    problem = rule_errors(password, args.username)
    if problem:
        print(f"hubfront accounts set-password: {problem}", file=sys.stderr)
        return 2
    url = _db_url(args)
    set_password(url, args.username, password)
    lockout.set_must_change_password(url, args.username, args.temporary)
    print(f"{args.username}: password set" + (" (must be changed at next login)" if args.temporary else ""))
    return 0


def add_parser(sub) -> None:
    acc = sub.add_parser("accounts", help="local accounts: unlock, reset 2FA, set a password")
    cmds = acc.add_subparsers(dest="accounts_command", required=True)
    for name, func, text in (("unlock", _unlock, "end a lockout now"),
                             ("reset-2fa", _reset_2fa, "turn off a user's two-factor authentication"),
                             ("set-password", _set_password, "set a password (prompted, or --stdin)")):
        p = cmds.add_parser(name, help=text)
        p.add_argument("username")
        p.add_argument("--db-url", help="SQLAlchemy URL (default: from $HUBFRONT_DB_URL or the data dir)")
        if name == "set-password":
            p.add_argument("--stdin", action="store_true", help="read the password from standard input")
            p.add_argument("--temporary", action="store_true", help="make the user change it at next login")
        p.set_defaults(func=func)
