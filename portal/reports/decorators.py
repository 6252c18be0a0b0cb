"""What reporter views put around themselves: the signed-in case, and answers that undo a write.

`case_required` gives a follow-up view the case its reporter signed in to (or sends the
browser back to the sign-in page), the way SecureDrop's source interface hands its views
the logged-in source. `discards` lets a view leave its write block with an answer: a
`Discard` raised inside `with state.database().transaction():` rolls back what the
request wrote, and the view answers with the response it names, built after the rollback.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from flask import redirect, url_for

from portal import state
from portal.reports.receipts import SignedInCase


def case_required(view: Callable[..., Any] | None = None, *,
                  when_expired: Callable[[], Any] | None = None) -> Callable[..., Any]:
    """Call `view(..., signed_in=SignedInCase)` for a live follow-up session; else, cookie dropped, to
    sign-in, or to `when_expired()` (a response) for a view that must not lose what was sent to it."""
    if view is None:
        return lambda decorated: case_required(decorated, when_expired=when_expired)

    @wraps(view)
    def signed_in_view(*args: Any, **kwargs: Any) -> Any:
        store = state.server_sessions()
        # Its own transaction: the restarted idle timer, or the deletion of an expired session, is kept
        # whatever the view does next.
        with state.database().transaction() as db:
            payload = store.load(db, store.cookie())
        signed_in = SignedInCase.from_session(state.db_session(), payload) if payload is not None else None
        if signed_in is None:
            response = when_expired() if when_expired else redirect(url_for("reporter.follow_up", expired=1))
            return store.forget_cookie(response)
        return view(*args, signed_in=signed_in, **kwargs)

    return signed_in_view


class Discard(Exception):  # noqa: N818 (an instruction, not an error)
    """Roll back the open transaction and answer with `respond(*args, **kwargs)` (see `discards`)."""

    def __init__(self, respond: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
        super().__init__()
        self.respond, self.args_, self.kwargs = respond, args, kwargs


def discards(view: Callable[..., Any]) -> Callable[..., Any]:
    """Turn a `Discard` raised in the view (its transaction already rolled back) into the view's answer."""

    @wraps(view)
    def discarding_view(*args: Any, **kwargs: Any) -> Any:
        try:
            return view(*args, **kwargs)
        except Discard as discard:
            return discard.respond(*discard.args_, **discard.kwargs)

    return discarding_view
