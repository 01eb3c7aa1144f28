"""Ending a user's other sessions (after a password change).

JupyterHub's login cookie carries the user's ``cookie_id``; giving the user a
new one invalidates every login cookie at once. The OAuth tokens that
single-user servers got through those other sessions are deleted too. The
caller then sets a fresh cookie on the current response, so the session that
changed the password survives.
"""

from __future__ import annotations

from jupyterhub import orm
from jupyterhub.utils import new_token


def end_other_sessions(db, orm_user, keep_session_id: str | None) -> int:
    """Rotate the cookie id and drop other sessions' tokens; returns tokens dropped."""
    orm_user.cookie_id = new_token()
    query = db.query(orm.APIToken).filter(
        orm.APIToken.user_id == orm_user.id, orm.APIToken.session_id.isnot(None)
    )
    if keep_session_id:
        query = query.filter(orm.APIToken.session_id != keep_session_id)
    dropped = 0
    for token in query:
        db.delete(token)
        dropped += 1
    db.commit()
    return dropped
