"""What the triage views are wrapped in: one transaction per request, sign-in and role checks,
and how a refused action is answered.

Order on a view: the route, then @in_transaction (outermost: the session lookup that
@login_required makes is committed with the rest), then @login_required, then @role_required.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

from flask import Response, flash, g, redirect, request, url_for

from portal import state
from portal.triage import auth
from portal.triage.context import NotFound, require_role
from portal.triage.models import Role

# Until a reviewer has replaced a passphrase someone else chose, only these pages open.
MUST_CHANGE_ALLOWED = frozenset({"account.account", "signin.logout"})

# Renders the page a refused action answers with, from the message and the status code.
RefusalPage = Callable[[str, int], object]


def run_in_transaction(work: Callable, *args, **kwargs):
    """Run `work` in one transaction: committed when it returns, rolled back when it raises,
    except a NotFound that keeps what was written before it (a report hidden by its new index)."""
    with state.database().transaction():
        try:
            return work(*args, **kwargs)
        except NotFound as exc:
            if not exc.keep_changes:
                raise
            kept = exc
    raise kept


def in_transaction(view):
    """The view's reads and writes are one transaction, opened and closed here and nowhere else."""

    @functools.wraps(view)
    def wrapper(*args, **kwargs):
        return run_in_transaction(view, *args, **kwargs)

    return wrapper


def login_required(view):
    """A signed-in reviewer, who has chosen their own passphrase (or is on a page that lets them)."""

    @functools.wraps(view)
    def wrapper(*args, **kwargs):
        actor = auth.current_actor()
        if actor is None:
            response = redirect(url_for("signin.login", next=request.path if request.method == "GET" else None))
            store = state.server_sessions()
            if store.cookie():
                store.forget_cookie(response)
            return response
        if actor.reviewer.must_change_passphrase and request.endpoint not in MUST_CHANGE_ALLOWED:
            return redirect(url_for("account.account"))
        return view(*args, **kwargs)

    return wrapper


def role_required(role: Role):
    """Only an actor holding `role` (or a role above it) reaches the view; others get a 403.
    Put it under @login_required."""

    def decorate(view):
        @functools.wraps(view)
        def wrapper(*args, **kwargs):
            require_role(auth.current_actor(), role)
            return view(*args, **kwargs)

        return wrapper

    return decorate


def on_refusal(page: RefusalPage) -> None:
    """How this request answers an ActionError or Forbidden raised after this call (the app's
    error handlers use it, after the transaction was rolled back). Without one, a Forbidden is
    the 403 page and an ActionError the 400 page."""
    g.refusal_page = page


def refusal_page() -> RefusalPage | None:
    return g.get("refusal_page")


def flash_and_redirect(target: str) -> RefusalPage:
    """A refusal answered by the message as a flash, on the page at `target`."""

    def page(message: str, _status: int) -> Response:
        flash(message)
        return redirect(target)

    return page
