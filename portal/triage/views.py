"""The triage interface: routes only. Every action is a function in portal.triage.service."""

from __future__ import annotations

import io
import time

import segno
from flask import Blueprint, Response, abort, current_app, flash, redirect, render_template, request, url_for
from sqlalchemy import select

from portal import state
from portal.admission.storage import IntakeToday
from portal.crypto.keys import change_passphrase
from portal.triage import accounts, audit, auth, conflicts, junk, rules, service
from portal.triage.accounts import (
    AccountError,
    create_reviewer,
    generate_passphrase,
    passphrase_problem,
    password_hasher,
    replace_key_pair,
)
from portal.triage.forms import (
    AccessForm,
    ApprovalForm,
    AssignForm,
    BulkJunkForm,
    CategoriseForm,
    CloseForm,
    CodeForm,
    ConfirmForm,
    ConflictForm,
    EscalateForm,
    JunkForm,
    LoginForm,
    MessageForm,
    NewReviewerForm,
    NoteForm,
    PassphraseForm,
    ReopenForm,
    ReviewerSettingsForm,
    SubjectForm,
)
from portal.triage.models import Reviewer, Role
from portal.triage.sanitise import SUPPORTED_DESCRIPTION, CannotSanitise, kind_of, sanitise
from portal.web import download_response

bp = Blueprint("triage", __name__)


def _db():
    return state.db_session()


def _ctx() -> service.Context:
    return service.Context(
        db=_db(),
        settings=state.settings(),
        audit_key=state.triage_secrets().audit_key,
        blind_index_key=state.triage_secrets().blind_index_key,
    )


def _safe_next() -> str | None:
    """The local path to return to after signing in (?next=), or None if it could lead off-site.

    Browsers drop tabs and newlines from a URL and read a backslash as a slash,
    so "/<tab>/evil.example" would become "//evil.example": refuse all of those.
    """
    target = request.args.get("next") or ""
    if not target.startswith("/") or target.startswith("//") or "\\" in target or not target.isprintable():
        return None
    return target


def _set_session_cookie(response: Response, value: str) -> Response:
    return state.server_sessions().set_cookie(response, value, https=bool(state.settings().https))


_BADGE_SECONDS = 30
_badges: dict[tuple[int, int], tuple[float, int, int]] = {}  # (app, reviewer) -> (expires, overdue, approvals)


@bp.app_context_processor
def _layout_values():
    actor = auth.current_actor() if request.endpoint not in (None, "static") else None
    if actor is None:
        return {"actor": None}
    # The header's two counts scan every readable report: refreshed every 30 s per process, not per page.
    key = (id(current_app._get_current_object()), actor.reviewer.id)
    now = time.monotonic()
    cached = _badges.get(key)
    if cached is None or cached[0] < now:
        ctx = _ctx()
        cached = (now + _BADGE_SECONDS, service.overdue_count(ctx, actor), service.pending_approvals(ctx, actor))
        _badges[key] = cached
    return {"actor": actor, "overdue_total": cached[1], "approvals_total": cached[2], "Role": Role}


# -- signing in and out -------------------------------------------------------------


@bp.route("/login", methods=["GET", "POST"])
def login():
    form = LoginForm()
    error = None
    status = 200
    if form.validate_on_submit():
        login_name = form.login.data
        if auth.throttled(login_name):
            error, status = auth.LOGIN_FAILED, 429
        else:
            result = auth.check_passphrase(login_name, form.passphrase.data)
            if result is None:
                error, status = auth.LOGIN_FAILED, 400
            else:
                reviewer, private = result
                cookie = auth.start_session(reviewer, private, auth.STAGE_PENDING)
                _db().commit()
                return _set_session_cookie(redirect(url_for("triage.second_factor", next=_safe_next())), cookie)
    elif request.method == "POST":
        status = 400
    form.passphrase.data = ""
    return render_template("triage/login.html", form=form, error=error), status


@bp.route("/login/code", methods=["GET", "POST"])
def second_factor():
    reviewer = auth.pending_reviewer()
    if reviewer is None:
        return redirect(url_for("triage.login"))
    form = CodeForm()
    error = None
    status = 200
    if form.validate_on_submit():
        if auth.throttled(reviewer.login):
            error, status = auth.LOGIN_FAILED, 429
        elif auth.verify_totp(reviewer, form.code.data):
            payload = auth.session_payload()
            store = state.server_sessions()
            store.destroy(_db(), store.cookie())
            reviewer.totp_enrolled = True
            cookie = store.create(_db(), {**payload, "stage": auth.STAGE_FULL})
            audit.record(_db(), state.triage_secrets().audit_key, reviewer.login, "reviewer.signed-in")
            _db().commit()
            auth.forgive(reviewer.login)
            if reviewer.must_change_passphrase:  # someone else chose it: replace it before anything else
                target = url_for("triage.account")
            else:
                target = _safe_next() or url_for("triage.queue")
            return _set_session_cookie(redirect(target), cookie)
        else:
            _db().commit()
            error, status = auth.LOGIN_FAILED, 400
    elif request.method == "POST":
        status = 400
    return render_template("triage/code.html", form=form, error=error, enrol=not reviewer.totp_enrolled,
                           secret=auth.totp_secret(reviewer) if not reviewer.totp_enrolled else None), status


@bp.get("/login/code/qr.svg")
def enrolment_qr():
    reviewer = auth.pending_reviewer()
    if reviewer is None or reviewer.totp_enrolled:
        abort(404)
    uri = __import__("pyotp").TOTP(auth.totp_secret(reviewer)).provisioning_uri(name=reviewer.login, issuer_name="Confidential reporting portal")
    out = io.BytesIO()
    segno.make(uri, error="m").save(out, kind="svg", scale=6, border=2, xmldecl=False, svgns=True)
    return Response(out.getvalue(), mimetype="image/svg+xml")


@bp.post("/logout")
def logout():
    ConfirmForm().validate_on_submit() or abort(400)
    actor = auth.current_actor()
    if actor is not None:
        audit.record(_db(), state.triage_secrets().audit_key, actor.reviewer.login, "reviewer.signed-out")
    response = state.server_sessions().sign_out(
        _db(), redirect(url_for("triage.login", signed_out=1)), current_app.config["SESSION_COOKIE_NAME"]
    )
    _db().commit()
    return response


# -- queue ------------------------------------------------------------------------------


def _small_int(value: str | None) -> int | None:
    """An id or page number sent by the client, or None. ASCII digits only ("²".isdigit() is True
    but int("²") fails) and at most 9 of them (SQLite cannot bind a larger Python int)."""
    value = value or ""
    return int(value) if value.isascii() and value.isdigit() and len(value) <= 9 else None


def _filters() -> service.QueueFilters:
    args = request.args
    return service.QueueFilters(
        status=args.get("status", "")[:20],
        category=args.get("category", "")[:64],
        risk=args.get("priority", "")[:10],
        assignee=args.get("assignee", "")[:10],
        overdue=args.get("overdue") == "1",
        junk=args.get("view") == "junk",
        sort=args.get("sort", "received") if args.get("sort") in ("received", "deadline", "priority") else "received",
        descending=args.get("order", "desc") != "asc",
        after=args.get("after", "")[:41],
        before=args.get("before", "")[:41],
        last=args.get("last") == "1",
        start=_small_int(args.get("start")) or 1,
    )


def _page_links(page: service.QueuePage) -> dict[str, str]:
    """First / previous / next / last links that keep the filters and order."""
    base = {k: v for k, v in request.args.items() if k not in ("after", "before", "last", "start", "page")}
    links = {}
    if page.has_previous:
        links["first"] = url_for("triage.queue", **base)
        previous = dict(base, before=page.first_key)
        if page.start is not None:
            previous["start"] = str(max(1, page.start - service.PAGE_SIZE))
        links["previous"] = url_for("triage.queue", **previous)
    if page.has_next:
        following = dict(base, after=page.last_key)
        if page.start is not None:
            following["start"] = str(page.start + len(page.rows))
        links["next"] = url_for("triage.queue", **following)
        links["last"] = url_for("triage.queue", **dict(base, last="1"))
    return links


def _render_queue(bulk_form: BulkJunkForm | None = None, error: str | None = None, status: int = 200):
    ctx = _ctx()
    actor = auth.current_actor()
    page = service.queue(ctx, actor, _filters())
    _db().commit()
    return render_template("triage/queue.html", page=page, links=_page_links(page), stages=service.STAGES,
                           priorities=service.PRIORITIES, reviewers=service.active_reviewers(ctx), args=request.args,
                           bulk=bulk_form or BulkJunkForm(formdata=None), junk_reasons=junk.JUNK_REASONS,
                           max_bulk=junk.MAX_BULK, confirm=ConfirmForm(formdata=None), error=error), status


@bp.get("/")
@auth.login_required
def queue():
    return _render_queue()


@bp.post("/junk")
@auth.login_required
def mark_junk_bulk():
    """Mark the reports ticked on the queue as junk (leads only; the service checks again)."""
    form = BulkJunkForm()
    if not auth.current_actor().is_lead:
        return _render_queue(form, "Only a lead can mark several reports as junk at once.", 403)
    if not form.validate_on_submit():
        return _render_queue(form, next((e for errors in form.errors.values() for e in errors), "Check the form and try again."), 400)
    try:
        marked = junk.mark_many(_ctx(), auth.current_actor(), request.form.getlist("report"), form.reason.data)
        _db().commit()
    except (service.ActionError, service.Forbidden, service.NotFound) as exc:
        _db().rollback()
        status = 403 if isinstance(exc, service.Forbidden) else 400
        return _render_queue(form, str(exc) or "Those reports could not be marked.", status)
    flash(f"Marked {marked} report{'' if marked == 1 else 's'} as junk. They are listed under Junk reports, where they can be restored.")
    return redirect(url_for("triage.queue"))


# -- one report -------------------------------------------------------------------------


def _report_forms(ctx: service.Context, report) -> dict:
    taxonomy = ctx.settings.taxonomy
    categorise = CategoriseForm(taxonomy=taxonomy, formdata=None, category=report.category or "",
                                flags=[f for f in report.risk_flags.split(",") if f], priority=report.priority)
    readers = service.readers(ctx, report)
    assign = AssignForm(formdata=None, assignee=str(report.assignee_id or ""))
    assign.assignee.choices = [("", "Nobody")] + [(str(r.id), r.display_name) for r in readers]
    access = AccessForm(formdata=None)
    others = [r for r in service.active_reviewers(ctx) if r not in readers]
    access.reviewer.choices = [("", "Choose a reviewer")] + [(str(r.id), f"{r.display_name} ({r.role})") for r in others]
    return {"categorise": categorise, "assign": assign, "message": MessageForm(formdata=None), "note": NoteForm(formdata=None),
            "escalate": EscalateForm(formdata=None), "close": CloseForm(formdata=None), "approval": ApprovalForm(formdata=None),
            "reopen": ReopenForm(formdata=None), "junk": JunkForm(formdata=None), "access": access, "subject": SubjectForm(formdata=None), "confirm": ConfirmForm(formdata=None), "readers": readers}


def _render_report(reference: str, replace: dict | None = None, error: str | None = None, status: int = 200):
    ctx = _ctx()
    actor = auth.current_actor()
    try:
        case = service.open_case(ctx, actor, reference)
    except service.NotFound:
        abort(404)
    forms = _report_forms(ctx, case.report)
    forms.update(replace or {})
    _db().commit()
    return render_template("triage/report.html", case=case, forms=forms, error=error, stages=service.STAGES,
                           routes=service.ROUTES, outcomes=service.OUTCOMES, priorities=service.PRIORITIES,
                           sanitisable=lambda meta: kind_of(meta.name, meta.type) is not None,
                           supported_description=SUPPORTED_DESCRIPTION,
                           rules_fired=rules.rule_explanations(case.report), junk_reasons=junk.JUNK_REASONS,
                           junk_blocked_stages=junk.NOT_JUNK_STAGES,
                           reviewer_names=dict(_db().execute(select(Reviewer.login, Reviewer.display_name)).all())), status


@bp.get("/reports/<reference>")
@auth.login_required
def report(reference: str):
    return _render_report(reference)


def _act(reference: str, form_name: str, form, do, success: str):
    """Validate `form`, run `do()`; re-render the report with the error (and what was typed) if not."""
    ctx = _ctx()
    actor = auth.current_actor()
    try:
        service.get_report(ctx, actor, reference)
    except service.NotFound:
        abort(404)
    if not form.validate_on_submit():
        _db().rollback()
        first = next((e for errors in form.errors.values() for e in errors), "Check the form and try again.")
        return _render_report(reference, {form_name: form}, str(first), 400)
    try:
        do(ctx, actor)
        _db().commit()
    except service.NotFound:
        _db().rollback()
        abort(404)
    except service.Forbidden as exc:
        _db().rollback()
        return _render_report(reference, {form_name: form}, str(exc), 403)
    except service.ActionError as exc:
        _db().rollback()
        return _render_report(reference, {form_name: form}, str(exc), 400)
    flash(success)
    return redirect(url_for("triage.report", reference=reference))


@bp.post("/reports/<reference>/acknowledge")
@auth.login_required
def acknowledge(reference: str):
    return _act(reference, "confirm", ConfirmForm(), lambda c, a: service.acknowledge(c, a, reference),
                "Acknowledged. The reporter has been sent the acknowledgement message.")


@bp.post("/reports/<reference>/categorise")
@auth.login_required
def categorise(reference: str):
    form = CategoriseForm(taxonomy=state.settings().taxonomy)
    return _act(reference, "categorise", form,
                lambda c, a: service.categorise(c, a, reference, form.category.data or "", form.flags.data or [], form.priority.data),
                "Category, risk flags and priority saved.")


@bp.post("/reports/<reference>/assign")
@auth.login_required
def assign(reference: str):
    form = AssignForm()
    form.assignee.choices = [(form.assignee.data or "", "")]

    def do(c, a):
        value = form.assignee.data or ""
        service.assign(c, a, reference, _small_int(value))

    return _act(reference, "assign", form, do, "Assignment saved.")


@bp.post("/reports/<reference>/message")
@auth.login_required
def message(reference: str):
    form = MessageForm()
    return _act(reference, "message", form, lambda c, a: service.message_reporter(c, a, reference, form.text.data),
                "Message encrypted and sent. The reporter will see it when they next sign in with their code.")


@bp.post("/reports/<reference>/note")
@auth.login_required
def note(reference: str):
    form = NoteForm()
    return _act(reference, "note", form, lambda c, a: service.add_note(c, a, reference, form.text.data), "Internal note added.")


@bp.post("/reports/<reference>/escalate")
@auth.login_required
def escalate(reference: str):
    form = EscalateForm()
    return _act(reference, "escalate", form, lambda c, a: service.escalate(c, a, reference, form.route.data, form.reason.data),
                "Escalated.")


@bp.post("/reports/<reference>/close")
@auth.login_required
def close(reference: str):
    form = CloseForm()
    state = {}

    def do(c, a):
        state["closed"] = service.close(c, a, reference, form.outcome.data, form.reason.data)

    response = _act(reference, "close", form, do, "Closure recorded.")
    if state.get("closed") is False:
        flash("This is a high-risk category: a lead must approve closing it with no further action.")
    return response


@bp.post("/reports/<reference>/approval")
@auth.login_required
def approval(reference: str):
    form = ApprovalForm()
    return _act(reference, "approval", form,
                lambda c, a: service.approve_closure(c, a, reference, form.decision.data == "approve", form.reason.data or ""),
                "Decision recorded.")


@bp.post("/reports/<reference>/reopen")
@auth.login_required
def reopen(reference: str):
    form = ReopenForm()
    return _act(reference, "reopen", form, lambda c, a: service.reopen(c, a, reference, form.reason.data), "Report reopened.")


@bp.post("/reports/<reference>/junk")
@auth.login_required
def mark_junk(reference: str):
    form = JunkForm()
    return _act(reference, "junk", form,
                lambda c, a: junk.mark(c, a, reference, form.reason.data or "", form.details.data or ""),
                "Marked as junk. It is no longer in the queue, counts or themes; it is listed under Junk reports.")


@bp.post("/reports/<reference>/junk/restore")
@auth.login_required
def restore_junk(reference: str):
    return _act(reference, "confirm", ConfirmForm(), lambda c, a: junk.restore(c, a, reference),
                "Restored to the queue, with its deadline as before.")


@bp.post("/reports/<reference>/access/grant")
@auth.login_required
def grant(reference: str):
    form = AccessForm()
    form.reviewer.choices = [(form.reviewer.data or "", "")]

    def do(c, a):
        value = form.reviewer.data or ""
        if _small_int(value) is None:
            raise service.ActionError("Choose a reviewer.")
        service.grant_access(c, a, reference, _small_int(value))

    return _act(reference, "access", form, do, "Access granted: the report's key has been wrapped to that reviewer.")


@bp.post("/reports/<reference>/access/<int(max=999999999):reviewer_id>/revoke")
@auth.login_required
def revoke(reference: str, reviewer_id: int):
    return _act(reference, "confirm", ConfirmForm(), lambda c, a: service.revoke_access(c, a, reference, reviewer_id),
                "Access removed.")


@bp.post("/reports/<reference>/subjects")
@auth.login_required
def add_subject(reference: str):
    form = SubjectForm()
    return _act(reference, "subject", form,
                lambda c, a: service.add_subject(c, a, reference, form.name.data or "", form.identifier.data or ""),
                "Identifier added: reports naming the same person are now linked.")


@bp.post("/reports/<reference>/subjects/<int(max=999999999):subject_id>/remove")
@auth.login_required
def remove_subject(reference: str, subject_id: int):
    return _act(reference, "confirm", ConfirmForm(), lambda c, a: service.remove_subject(c, a, reference, subject_id),
                "Identifier removed from linking.")


def _download(reference: str, attachment_hex: str, sanitised: bool):
    ctx = _ctx()
    actor = auth.current_actor()
    try:
        report, meta, chunks = service.attachment_plaintext(ctx, actor, reference, attachment_hex)
    except service.NotFound:
        abort(404)
    name = meta.name
    if sanitised:
        ctype = kind_of(meta.name, meta.type)
        if ctype is None:
            abort(404)
        try:
            body = sanitise(b"".join(chunks), ctype)
        except CannotSanitise as exc:
            _db().rollback()
            flash(f"A sanitised copy of that file could not be made ({exc}). Download the original with care.")
            return redirect(url_for("triage.report", reference=reference) + "#evidence")
        chunks = [body]
        name = "sanitised-" + name
    audit.record(_db(), ctx.audit_key, actor.reviewer.login, "attachment.downloaded", report.reference,
                 attachment=attachment_hex[:32], sanitised=sanitised)
    _db().commit()
    return download_response(chunks, name)


@bp.get("/reports/<reference>/files/<attachment_hex>")
@auth.login_required
def download(reference: str, attachment_hex: str):
    return _download(reference, attachment_hex, sanitised=False)


@bp.get("/reports/<reference>/files/<attachment_hex>/sanitised")
@auth.login_required
def download_sanitised(reference: str, attachment_hex: str):
    return _download(reference, attachment_hex, sanitised=True)


# -- account and administration -----------------------------------------------------


@bp.route("/account", methods=["GET", "POST"])
@auth.login_required
def account():
    actor = auth.current_actor()
    form = PassphraseForm()
    error = None
    if form.validate_on_submit():
        problem = passphrase_problem(form.new.data, (actor.reviewer.login, actor.reviewer.display_name))
        if problem:
            error = problem
        elif auth.throttled(actor.reviewer.login):
            error = auth.LOGIN_FAILED  # a stolen session cannot guess the passphrase without limit
        elif not auth.check_passphrase(actor.reviewer.login, form.current.data):
            error = "Your current passphrase is not right."
        else:
            reviewer = actor.reviewer
            auth.forgive(reviewer.login)
            reviewer.passphrase_hash = password_hasher().hash(form.new.data)
            if reviewer.must_change_passphrase:
                return _replace_chosen_passphrase(actor, form.new.data)
            reviewer.locked_private_key = change_passphrase(reviewer.locked_private_key, form.current.data, form.new.data)
            audit.record(_db(), state.triage_secrets().audit_key, reviewer.login, "reviewer.passphrase-changed")
            _db().commit()
            flash("Passphrase changed. Your reports did not need to be re-encrypted.")
            return redirect(url_for("triage.account"))
    elif request.method == "POST":
        error = next((e for errors in form.errors.values() for e in errors), "Check the form and try again.")
    for field in (form.current, form.new, form.confirm):
        field.data = ""
    return _render_account(form, ConflictForm(formdata=None), error)


def _replace_chosen_passphrase(actor, passphrase: str) -> Response:
    """First passphrase of their own: also a new key pair, every report key re-wrapped to it in
    this session, so whoever chose the previous passphrase cannot open anything with it."""
    reviewer = actor.reviewer
    old_fingerprint = reviewer.key_fingerprint
    private = replace_key_pair(_db(), reviewer, actor.private_key, passphrase)
    reviewer.must_change_passphrase = False
    audit.record(_db(), state.triage_secrets().audit_key, reviewer.login, "reviewer.passphrase-chosen",
                 previous_key=old_fingerprint, new_key=reviewer.key_fingerprint)
    store = state.server_sessions()
    store.destroy(_db(), store.cookie())
    cookie = auth.start_session(reviewer, private, auth.STAGE_FULL)
    _db().commit()
    flash("Passphrase set, and you have a new encryption key that only your passphrase opens.")
    return _set_session_cookie(redirect(url_for("triage.queue")), cookie)


def _render_account(form, conflict_form, error):
    actor = auth.current_actor()
    declared = conflicts.declared_conflicts(_ctx(), actor)
    return render_template("triage/account.html", form=form, conflict_form=conflict_form, error=error, conflicts=declared,
                           confirm=ConfirmForm(formdata=None)), (400 if error else 200)


@bp.post("/account/conflicts")
@auth.login_required
def declare_conflict():
    actor = auth.current_actor()
    form = ConflictForm()
    error = None
    if form.validate_on_submit():
        try:
            conflicts.declare_conflict(_ctx(), actor, form.name.data or "", form.identifier.data or "", bool(form.own_identity.data))
            _db().commit()
            flash("Declared. Reports about this person are now hidden from you, in the queue, in counts and by address.")
            return redirect(url_for("triage.account") + "#conflicts")
        except service.ActionError as exc:
            _db().rollback()
            error = str(exc)
    else:
        error = next((e for errors in form.errors.values() for e in errors), "Check the form and try again.")
    return _render_account(PassphraseForm(formdata=None), form, error)


@bp.post("/account/conflicts/withdraw")
@auth.login_required
def withdraw_conflict():
    if not ConfirmForm().validate_on_submit():
        abort(400)
    ids = [i for i in map(_small_int, request.form.get("conflict", "").split(",")) if i is not None][:20]
    try:
        conflicts.withdraw_conflict(_ctx(), auth.current_actor(), ids)
        _db().commit()
        flash("Declaration withdrawn.")
    except service.ActionError as exc:
        _db().rollback()
        flash(str(exc))
    return redirect(url_for("triage.account") + "#conflicts")


def _admin_required():
    actor = auth.current_actor()
    if actor.role not in (Role.LEAD, Role.ADMINISTRATOR):
        abort(403)
    return actor


@bp.route("/admin/reviewers", methods=["GET", "POST"])
@auth.login_required
def reviewers():
    actor = _admin_required()
    form = NewReviewerForm()
    error = None
    created = None
    if request.method == "POST":
        if actor.role != Role.ADMINISTRATOR and form.role.data == "administrator":
            error = "Only an administrator can create another administrator."
        elif form.validate_on_submit():
            try:
                new = create_reviewer(_db(), state.triage_secrets().totp_key, login=form.login.data,
                                      display_name=form.display_name.data, role=Role(form.role.data),
                                      passphrase=form.passphrase.data, receives_new_reports=False,
                                      blind_index_key=state.triage_secrets().blind_index_key,
                                      must_change_passphrase=True)
                audit.record(_db(), state.triage_secrets().audit_key, actor.reviewer.login, "reviewer.created",
                             reviewer=new.reviewer.login, role=new.reviewer.role)
                _db().commit()
                created = new.reviewer
                form = NewReviewerForm(formdata=None)
            except AccountError as exc:
                _db().rollback()
                error = str(exc)
        else:
            error = next((e for errors in form.errors.values() for e in errors), "Check the form and try again.")
    form.passphrase.data = ""
    return _reviewers_page(form, error=error, created=created)


def _reviewers_page(form, error=None, created=None, reset=None):
    """The reviewers list and the add form; `reset` is (reviewer, temporary passphrase, wraps removed)."""
    people = list(_db().scalars(select(Reviewer).order_by(Reviewer.active.desc(), Reviewer.display_name)))
    return render_template("triage/reviewers.html", form=form, error=error, created=created, reset=reset, people=people,
                           confirm=ConfirmForm(formdata=None)), (400 if error else 200)


@bp.route("/admin/reviewers/<int(max=999999999):reviewer_id>", methods=["GET", "POST"])
@auth.login_required
def reviewer_settings(reviewer_id: int):
    """E-mail address for the digest, and membership of the intake pool."""
    actor = _admin_required()
    target = _db().get(Reviewer, reviewer_id)
    if target is None:
        abort(404)
    form = ReviewerSettingsForm(obj=None if request.method == "POST" else target)
    error = None
    if form.validate_on_submit():
        try:
            changed = accounts.update_settings(target, form.email.data or "", bool(form.receives_new_reports.data))
            if changed:
                audit.record(_db(), state.triage_secrets().audit_key, actor.reviewer.login, "reviewer.updated",
                             reviewer=target.login, changed=changed)
            _db().commit()
            flash(f"Saved {target.display_name}'s settings." if changed else "Nothing changed.")
            return redirect(url_for("triage.reviewers"))
        except AccountError as exc:
            _db().rollback()
            error = str(exc)
    elif request.method == "POST":
        error = next((e for errors in form.errors.values() for e in errors), "Check the form and try again.")
    return render_template("triage/reviewer.html", form=form, person=target, error=error), (400 if error else 200)


@bp.post("/admin/reviewers/<int(max=999999999):reviewer_id>/reset")
@auth.login_required
def reset_sign_in(reviewer_id: int):
    """For a reviewer who lost their passphrase or authenticator app."""
    actor = _admin_required()
    if not ConfirmForm().validate_on_submit():
        abort(400)
    target = _db().get(Reviewer, reviewer_id)
    if target is None or not target.active:
        abort(404)
    if target.id == actor.reviewer.id:
        flash("You cannot reset your own sign-in: ask another lead or an administrator.")
        return redirect(url_for("triage.reviewers"))
    if target.role == Role.ADMINISTRATOR and actor.role != Role.ADMINISTRATOR:
        flash("Only an administrator can reset an administrator's sign-in.")
        return redirect(url_for("triage.reviewers"))
    passphrase = generate_passphrase()
    removed = accounts.reset_sign_in(_db(), state.triage_secrets().totp_key, target, passphrase)
    audit.record(_db(), state.triage_secrets().audit_key, actor.reviewer.login, "reviewer.sign-in-reset",
                 reviewer=target.login, access_removed=removed)
    _db().commit()
    return _reviewers_page(NewReviewerForm(formdata=None), reset=(target, passphrase, removed))


@bp.post("/admin/reviewers/<int(max=999999999):reviewer_id>/deactivate")
@auth.login_required
def deactivate(reviewer_id: int):
    actor = _admin_required()
    if not ConfirmForm().validate_on_submit():
        abort(400)
    try:
        service.deactivate_reviewer(_ctx(), actor, reviewer_id)
        _db().commit()
        flash("Reviewer deactivated. Their access to every report has been removed.")
    except (service.ActionError, service.Forbidden) as exc:
        _db().rollback()
        flash(str(exc))
    return redirect(url_for("triage.reviewers"))


# -- themes (leads) -----------------------------------------------------------------------


@bp.get("/themes")
@auth.login_required
def themes():
    _admin_required()
    from portal.triage.oversight import themes as compute

    settings = state.settings()
    data = compute(_db(), settings)
    intake = IntakeToday.read(_db(), int(settings.daily_file_bytes_cap))
    return render_template("triage/themes.html", data=data, routes=service.ROUTES, intake=intake)


@bp.get("/themes.csv")
@auth.login_required
def themes_csv():
    _admin_required()
    from portal.triage.oversight import themes as compute
    from portal.triage.oversight import themes_csv as to_csv

    body = to_csv(compute(_db(), state.settings()))
    response = Response(body, mimetype="text/csv")
    response.headers["Content-Disposition"] = 'attachment; filename="themes.csv"'
    return response


@bp.get("/themes/chart.svg")
@auth.login_required
def themes_chart():
    _admin_required()
    from portal.triage.oversight import themes as compute
    from portal.triage.oversight import themes_svg

    return Response(themes_svg(compute(_db(), state.settings())), mimetype="image/svg+xml")
