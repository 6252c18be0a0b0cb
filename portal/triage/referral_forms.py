"""The referral forms (Flask-WTF, CSRF like every triage form). The choices (bodies, notes, files)
depend on the report: the view fills them in, and the service checks every submitted id again."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import DateField, RadioField, SelectMultipleField, TextAreaField
from wtforms.validators import DataRequired, Length
from wtforms.widgets import CheckboxInput, ListWidget

from portal.triage.referrals import MAX_OUTCOME_CHARS

MAX_ITEMS = 500  # notes or files ticked at once


class _Checkboxes(SelectMultipleField):
    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


class ReferralForm(FlaskForm):
    body = RadioField(_l("Body to refer to"), id="referral-body",
                      validators=[DataRequired(message=_l("Choose a body from the list."))])
    notes = _Checkboxes(_l("Internal notes to include"), id="referral-notes", validate_choice=False)
    originals = _Checkboxes(_l("Original files to include"), id="referral-originals", validate_choice=False)
    safe_copies = _Checkboxes(_l("Safe copies to include"), id="referral-safe-copies", validate_choice=False)

    def validate(self, extra_validators=None) -> bool:
        valid = super().validate(extra_validators)
        for field in (self.notes, self.originals, self.safe_copies):
            if len(field.data or []) > MAX_ITEMS:
                field.errors = [*field.errors, _l("Choose at most %(n)s items.", n=MAX_ITEMS)]
                valid = False
        return valid


class AcknowledgedForm(FlaskForm):
    day = DateField(_l("Date the body acknowledged the referral"), id="referral-acknowledged-on",
                    validators=[DataRequired(message=_l("Enter the date the body acknowledged it, as day, month and year."))])


class OutcomeForm(FlaskForm):
    day = DateField(_l("Date of the body's decision"), id="referral-outcome-on",
                    validators=[DataRequired(message=_l("Enter the date the body decided, as day, month and year."))])
    text = TextAreaField(_l("What the body decided"), id="referral-outcome-text", validators=[
        DataRequired(message=_l("Say what the body decided, in a few words.")),
        Length(max=MAX_OUTCOME_CHARS, message=_l("The outcome must be %(n)s characters or fewer: add detail as an internal note.",
                                                 n=f"{MAX_OUTCOME_CHARS:,}"))])
