"""Triage forms (Flask-WTF: CSRF token bound to the reviewer's browser session)."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, PasswordField, RadioField, SelectField, SelectMultipleField, StringField, TextAreaField
from wtforms.validators import DataRequired, EqualTo, Length, Optional
from wtforms.widgets import CheckboxInput, ListWidget

from portal.triage.closure import CLOSURE_BASES, MIN_REASON_CHARS
from portal.triage.junk import JUNK_REASONS, MAX_DETAILS
from portal.triage.vocabulary import OUTCOMES, PRIORITIES, ROLES, ROUTES


def _reason(field_id: str, label: str | None = None) -> TextAreaField:
    # Each form's own id: the escalate and close forms share a page, and a shared id
    # would tie both "Reason" labels (and error links) to the first textarea.
    return TextAreaField(label or _l("Reason"), id=field_id, validators=[DataRequired(message=_l("Give a reason.")), Length(max=5000)])


class LoginForm(FlaskForm):
    login = StringField(_l("Login"), validators=[DataRequired(message=_l("Enter your login")), Length(max=64)])
    passphrase = PasswordField(_l("Passphrase"), validators=[DataRequired(message=_l("Enter your passphrase")), Length(max=256)])


class CodeForm(FlaskForm):
    code = StringField(_l("6-digit code"), validators=[DataRequired(message=_l("Enter the 6-digit code from your authenticator app")),
                                                   Length(max=12)])


class ConfirmForm(FlaskForm):
    """A button that only needs CSRF protection (acknowledge, sign out, deactivate)."""


class CheckboxesField(SelectMultipleField):
    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


class CategoriseForm(FlaskForm):
    category = SelectField(_l("Category"), validators=[Optional()])
    flags = CheckboxesField(_l("Risk flags"), validators=[Optional()])
    priority = SelectField(_l("Priority"), choices=list(PRIORITIES.items()))

    def __init__(self, *args, taxonomy=None, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.category.choices = [("", _l("Not yet categorised"))] + [(c.key, c.label) for c in taxonomy.categories]
        self.flags.choices = list(taxonomy.risk_flags)


class AssignForm(FlaskForm):
    assignee = SelectField(_l("Assign to"), validators=[Optional()])


class MessageForm(FlaskForm):
    text = TextAreaField(_l("Message to the reporter"), id="message-text", validators=[DataRequired(message=_l("Write a message to send.")), Length(max=20000)])


class NoteForm(FlaskForm):
    text = TextAreaField(_l("Internal note"), id="note-text", validators=[DataRequired(message=_l("Write a note to add.")), Length(max=20000)])


class EscalateForm(FlaskForm):
    route = RadioField(_l("Route"), choices=list(ROUTES.items()), validators=[DataRequired(message=_l("Choose an escalation route."))])
    reason = _reason("escalate-reason")


class CloseForm(FlaskForm):
    outcome = RadioField(_l("Outcome"), choices=list(OUTCOMES.items()), validators=[DataRequired(message=_l("Choose an outcome."))])
    basis = RadioField(_l("Basis for closing"), id="close-basis", choices=list(CLOSURE_BASES.items()),
                       validators=[DataRequired(message=_l("Choose the basis for closing from the list."))])
    reason = TextAreaField(_l("Reason"), id="close-reason", validators=[
        DataRequired(message=_l("Give a reason.")),
        Length(min=MIN_REASON_CHARS, max=5000, message=_l("Explain the closure in at least %(count)s characters: what was done, and why nothing more will be.",
                                                                  count=MIN_REASON_CHARS))])
    # Only asked for a report that must be referred to the oversight body and was not (portal.triage.mandatory).
    no_referral_reason = TextAreaField(_l("Why it is closed without a referral to the oversight body"), id="close-no-referral",
                                       validators=[Optional(), Length(max=5000, message=_l("The reason must be 5,000 characters or fewer."))])


class ApprovalForm(FlaskForm):
    decision = RadioField(_l("Decision"), choices=[("approve", _l("Approve the closure as proposed")),
                                               ("refuse", _l("Do not approve: keep it open"))],
                          validators=[DataRequired(message=_l("Choose approve or do not approve."))])
    reason = TextAreaField(_l("Reason (needed if you do not approve)"), id="approval-reason", validators=[Optional(), Length(max=5000)])


class NewInformationForm(FlaskForm):
    """The decision on a reporter's message after closure: reopen, or record that it changes nothing."""

    decision = RadioField(_l("Decision"), id="new-information-decision",
                          choices=[("reopen", _l("Reopen the report")), ("stays-closed", _l("It does not change the outcome: keep it closed"))],
                          validators=[DataRequired(message=_l("Choose whether to reopen the report."))])
    reason = _reason("new-information-reason")


class ReopenForm(FlaskForm):
    reason = _reason("reopen-reason")


class AccessForm(FlaskForm):
    reviewer = SelectField(_l("Reviewer"), validators=[DataRequired(message=_l("Choose a reviewer."))])


class PassphraseForm(FlaskForm):
    current = PasswordField(_l("Current passphrase"), validators=[DataRequired(message=_l("Enter your current passphrase")), Length(max=256)])
    new = PasswordField(_l("New passphrase"), validators=[DataRequired(message=_l("Enter a new passphrase")), Length(max=256)])
    confirm = PasswordField(_l("New passphrase again"), validators=[EqualTo("new", message=_l("The two new passphrases do not match."))])


class NewReviewerForm(FlaskForm):
    login = StringField(_l("Login"), validators=[DataRequired(message=_l("Enter a login")), Length(max=64)])
    display_name = StringField(_l("Full name"), validators=[DataRequired(message=_l("Enter the reviewer's name")), Length(max=120)])
    role = RadioField(_l("Role"), choices=list(ROLES.items()),
                      default="reviewer")
    passphrase = PasswordField(_l("First passphrase"), validators=[DataRequired(message=_l("Enter a first passphrase")), Length(max=256)])


class ReviewerSettingsForm(FlaskForm):
    email = StringField(_l("E-mail address for the summary"), validators=[Optional(), Length(max=254)])
    receives_new_reports = BooleanField(_l("Receives new reports (intake pool)"))


class SubjectForm(FlaskForm):
    name = StringField(_l("Full name"), validators=[Optional(), Length(max=200)])
    identifier = StringField(_l("Collar or staff number"), validators=[Optional(), Length(max=200)])


class ConflictForm(FlaskForm):
    name = StringField(_l("Full name"), validators=[Optional(), Length(max=200)])
    identifier = StringField(_l("Collar or staff number"), validators=[Optional(), Length(max=200)])
    own_identity = BooleanField(_l("This is me (my own name or number)"))


class JunkForm(FlaskForm):
    """Mark one report as junk: a reason from the list, and optional details kept as an encrypted note."""

    reason = RadioField(_l("Why is this junk?"), id="junk-reason", choices=list(JUNK_REASONS.items()), validate_choice=False,
                        validators=[DataRequired(message=_l("Choose why this is junk from the list."))])
    details = TextAreaField(_l("Details (optional)"), id="junk-details", validators=[Optional(), Length(max=MAX_DETAILS)])


class BulkJunkForm(FlaskForm):
    """Mark the reports ticked on the queue as junk (leads). The ticked references arrive as the
    repeated field `report`, checked by portal.triage.junk.parse_references; the reason is checked
    there too (validate_choice=False), so an unknown one gets the service's message."""

    reason = SelectField(_l("Why are they junk?"), id="bulk-junk-reason", choices=[("", _l("Choose a reason"))] + list(JUNK_REASONS.items()),
                         validate_choice=False, validators=[DataRequired(message=_l("Choose why the selected reports are junk."))])
