"""Reporter forms: field definitions, limits and the messages shown beside fields.

CSRF for these forms is the one-time token in portal.forms (checked by the
views), because no session cookie exists before a reporter signs in.
"""

from __future__ import annotations

from flask_babel import lazy_gettext
from flask_wtf import FlaskForm
from wtforms import BooleanField, FieldList, Form, FormField, RadioField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional

from portal.reports.answers import HOW_KNOWN_CHOICES, RISK_CHOICES, Person, ReportAnswers

SHORT = 200
LONG = 20000


class _NoCsrfForm(FlaskForm):
    class Meta:
        csrf = False  # portal.forms one-time tokens are checked by the view


def _length(limit: int, what: str) -> Length:
    return Length(max=limit, message=f"{what} must be {limit:,} characters or fewer")


class PersonForm(Form):
    name = StringField("Name", validators=[Optional(), _length(SHORT, "Name")])
    role = StringField("Rank or role", validators=[Optional(), _length(SHORT, "Rank or role")])
    identifier = StringField("Collar or staff number", validators=[Optional(), _length(SHORT, "Collar or staff number")])
    unit = StringField("Unit or station", validators=[Optional(), _length(SHORT, "Unit or station")])


class ReportForm(_NoCsrfForm):
    what_happened = TextAreaField(
        "What happened?",
        validators=[DataRequired(message="Tell us what happened. A few sentences are enough to start."), _length(LONG, "This answer")],
    )
    people = FieldList(FormField(PersonForm), min_entries=1, max_entries=10)  # one block; "Add another person" adds more
    when_happened = StringField("When did it happen?", validators=[Optional(), _length(SHORT, "When it happened")])
    where_happened = StringField("Where did it happen?", validators=[Optional(), _length(SHORT, "Where it happened")])
    risk_now = RadioField("Is anyone at risk of harm now?", choices=list(RISK_CHOICES.items()), validators=[Optional()],
                          validate_choice=True)
    vulnerable_person = RadioField("Is a vulnerable person or a child involved?", choices=list(RISK_CHOICES.items()),
                                   validators=[Optional()])
    witnesses = TextAreaField("Who else knows about this, or saw it?", validators=[Optional(), _length(LONG, "This answer")])
    how_known = RadioField("How do you know about it?", choices=list(HOW_KNOWN_CHOICES.items()), validators=[Optional()])
    category = RadioField(lazy_gettext("What kind of concern is it? (optional)"), validators=[Optional()])  # radios: long labels wrap on a phone
    # templates/reporter/_independent_choice.html (shown only while the independent body's key is registered)
    only_independent = BooleanField(lazy_gettext("Send this only to the independent body"), false_values=("", "no", "false"))

    def __init__(self, *args, taxonomy=None, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.category.choices = [(c.key, c.label) for c in taxonomy.categories] + [("", lazy_gettext("Not sure, or prefer not to say"))]

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
    receipt_code = StringField("Your receipt code", validators=[DataRequired(message="Enter your receipt code"),
                                                                _length(SHORT, "A receipt code")])


class ReplyForm(_NoCsrfForm):
    message = TextAreaField("Your message", validators=[Optional(), _length(LONG, "Your message")])
