"""Reporter forms: field definitions, limits and the messages shown beside fields.

CSRF for these forms is the one-time token in portal.forms (checked by the
views), because no session cookie exists before a reporter signs in.
"""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, FieldList, Form, FormField, RadioField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional

from portal.i18n import N_
from portal.reports.answers import HOW_KNOWN_CHOICES, RISK_CHOICES, Person, ReportAnswers

SHORT = 200
LONG = 20000


class _NoCsrfForm(FlaskForm):
    class Meta:
        csrf = False  # portal.forms one-time tokens are checked by the view


def _length(limit: int, message: str) -> Length:
    """At most `limit` characters; `message` names the answer and says %(count)s."""
    return Length(max=limit, message=_l(message, count=f"{limit:,}"))


class PersonForm(Form):
    name = StringField(_l("Name"), validators=[Optional(), _length(SHORT, N_("Name must be %(count)s characters or fewer"))])
    role = StringField(_l("Rank or role"), validators=[
        Optional(), _length(SHORT, N_("Rank or role must be %(count)s characters or fewer"))])
    identifier = StringField(_l("Collar or staff number"), validators=[
        Optional(), _length(SHORT, N_("Collar or staff number must be %(count)s characters or fewer"))])
    unit = StringField(_l("Unit or station"), validators=[
        Optional(), _length(SHORT, N_("Unit or station must be %(count)s characters or fewer"))])


class ReportForm(_NoCsrfForm):
    what_happened = TextAreaField(
        _l("What happened?"),
        validators=[DataRequired(message=_l("Tell us what happened. A few sentences are enough to start.")),
                    _length(LONG, N_("This answer must be %(count)s characters or fewer"))],
    )
    people = FieldList(FormField(PersonForm), min_entries=1, max_entries=10)  # one block; "Add another person" adds more
    when_happened = StringField(_l("When did it happen?"), validators=[
        Optional(), _length(SHORT, N_("When it happened must be %(count)s characters or fewer"))])
    where_happened = StringField(_l("Where did it happen?"), validators=[
        Optional(), _length(SHORT, N_("Where it happened must be %(count)s characters or fewer"))])
    risk_now = RadioField(_l("Is anyone at risk of harm now?"), choices=list(RISK_CHOICES.items()), validators=[Optional()],
                          validate_choice=True)
    vulnerable_person = RadioField(_l("Is a vulnerable person or a child involved?"), choices=list(RISK_CHOICES.items()),
                                   validators=[Optional()])
    witnesses = TextAreaField(_l("Who else knows about this, or saw it?"), validators=[
        Optional(), _length(LONG, N_("This answer must be %(count)s characters or fewer"))])
    how_known = RadioField(_l("How do you know about it?"), choices=list(HOW_KNOWN_CHOICES.items()), validators=[Optional()])
    category = RadioField(_l("What kind of concern is it? (optional)"), validators=[Optional()])  # radios: long labels wrap on a phone
    # templates/reporter/_independent_choice.html (shown only while the independent body's key is registered)
    only_independent = BooleanField(_l("Send this only to the independent body"), false_values=("", "no", "false"))

    def __init__(self, *args, taxonomy=None, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.category.choices = [(c.key, c.label) for c in taxonomy.categories] + [("", _l("Not sure, or prefer not to say"))]

    def answers(self) -> ReportAnswers:
        return ReportAnswers(
            what_happened=self.what_happened.data.strip(),
            people=[Person(**{k: (entry.form[k].data or "").strip() for k in ("name", "role", "identifier", "unit")})
                    for entry in self.people],
            when=(self.when_happened.data or "").strip(),
            where=(self.where_happened.data or "").strip(),
            risk_now=self.risk_now.data or "",
            vulnerable_person=self.vulnerable_person.data or "",
            witnesses=(self.witnesses.data or "").strip(),
            how_known=self.how_known.data or "",
            category=self.category.data or "",
            only_independent=bool(self.only_independent.data),
        )


class SignInForm(_NoCsrfForm):
    receipt_code = StringField(_l("Your receipt code"), validators=[
        DataRequired(message=_l("Enter your receipt code")), _length(SHORT, N_("A receipt code must be %(count)s characters or fewer"))])


class ReplyForm(_NoCsrfForm):
    message = TextAreaField(_l("Your message"), validators=[
        Optional(), _length(LONG, N_("Your message must be %(count)s characters or fewer"))])
