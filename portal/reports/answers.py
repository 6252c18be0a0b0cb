"""The reporter's answers as one JSON document: the plaintext sealed as purpose "report".

The same shape is produced by the browser (static/js/report-form.js) and by the
server on the no-JavaScript path, so both render identically for reviewers.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field

from flask_babel import lazy_gettext as _l

from portal.evidence.names import SafeName, safe_file_name

RISK_CHOICES = {"yes": _l("Yes"), "no": _l("No"), "unsure": _l("Not sure")}
HOW_KNOWN_CHOICES = {
    "saw": _l("I saw or heard it myself"),
    "told": _l("Someone told me"),
    "suspect": _l("I suspect it from what I have noticed"),
}
PERSON_FIELDS = ("name", "role", "identifier", "unit")


@dataclass
class Person:
    name: str = ""
    role: str = ""
    identifier: str = ""
    unit: str = ""

    def is_blank(self) -> bool:
        return not any(getattr(self, f).strip() for f in PERSON_FIELDS)


@dataclass
class ReportAnswers:
    what_happened: str = ""
    people: list[Person] = field(default_factory=list)
    when: str = ""
    where: str = ""
    risk_now: str = ""
    vulnerable_person: str = ""
    witnesses: str = ""
    how_known: str = ""
    category: str = ""
    # The reporter asked for the report to go only to the independent body (portal.triage.routing).
    only_independent: bool = False

    def to_json(self) -> bytes:
        data = {"v": 1, **asdict(self)}
        if not self.only_independent:
            del data["only_independent"]  # the same document as before for every other report
        data["people"] = [asdict(p) for p in self.people if not p.is_blank()]
        return json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode("utf-8")

    @classmethod
    def from_json(cls, raw: bytes) -> ReportAnswers:
        data = json.loads(raw.decode("utf-8"))
        if not isinstance(data, dict) or data.get("v") != 1:
            raise ValueError("unknown report document version")

        def text(key: str) -> str:
            value = data.get(key, "")
            return value if isinstance(value, str) else ""

        people = []
        for entry in data.get("people", []) if isinstance(data.get("people"), list) else []:
            if isinstance(entry, dict):
                people.append(Person(**{f: entry.get(f, "") if isinstance(entry.get(f, ""), str) else "" for f in PERSON_FIELDS}))
        return cls(
            what_happened=text("what_happened"),
            people=people,
            when=text("when"),
            where=text("where"),
            risk_now=text("risk_now"),
            vulnerable_person=text("vulnerable_person"),
            witnesses=text("witnesses"),
            how_known=text("how_known"),
            category=text("category"),
            only_independent=data.get("only_independent") is True,
        )


@dataclass
class MessageBody:
    text: str

    def to_json(self) -> bytes:
        return json.dumps({"v": 1, "text": self.text}, ensure_ascii=False).encode("utf-8")

    @classmethod
    def from_json(cls, raw: bytes) -> MessageBody:
        data = json.loads(raw.decode("utf-8"))
        return cls(text=data.get("text", "") if isinstance(data, dict) else "")


@dataclass
class AttachmentMeta:
    name: str
    type: str
    size: int
    readable: bool = True  # False: the sealed details did not open (shown as such, never as content)

    @classmethod
    def unreadable(cls) -> AttachmentMeta:
        return cls(name="file", type="", size=0, readable=False)

    @property
    def safe_name(self) -> SafeName:
        """The name to show or save as: NFC, no format characters (bidi overrides), capped; the
        extension apart, shown but never trusted for the type."""
        return safe_file_name(self.name)

    def to_json(self) -> bytes:
        return json.dumps({"name": self.name, "type": self.type, "size": self.size}, ensure_ascii=False).encode("utf-8")

    @classmethod
    def from_json(cls, raw: bytes) -> AttachmentMeta:
        data = json.loads(raw.decode("utf-8"))
        if not isinstance(data, dict):
            raise ValueError("attachment metadata malformed")
        name = data.get("name") if isinstance(data.get("name"), str) else "attachment"
        ctype = data.get("type") if isinstance(data.get("type"), str) else ""
        size = data.get("size") if isinstance(data.get("size"), int) else 0
        # Made safe (and capped) keeping the extension; a browser-sealed name can be anything.
        return cls(name=str(safe_file_name(name)), type=ctype[:100], size=size)


MAX_SUBJECTS = 20  # people in one subject list (the form offers far fewer)
MAX_SUBJECT_CHARS = 200  # per name or number, as the form's own limit


@dataclass(frozen=True)
class Subject:
    """One person as the screening key sees them: a name, a collar or staff number and the rank or
    role as the reporter wrote it (for the senior-rank rule), nothing else."""

    name: str
    identifier: str
    role: str = ""


@dataclass(frozen=True)
class SubjectList:
    people: list[Subject]
    only_independent: bool  # the reporter asked for the report to go only to the independent body


def subject_document(people: list[Person], only_independent: bool = False) -> bytes:
    """The subject list sealed to the screening key:
    {"v":1,"people":[{"name":…,"identifier":…,"role":…}]} and, when the reporter chose it, "only_independent":true.

    Only what identifies the person (for conflicts and links) and their rank (for routing); the unit
    and every other answer stay in the report, which the screening key cannot read.
    static/js/report-form.js makes the same. A person with only a rank is listed too (it routes).
    """
    listed = []
    for p in people:
        entry = {"name": p.name.strip(), "identifier": p.identifier.strip()}
        if p.role.strip():
            entry["role"] = p.role.strip()
        if p.name.strip() or p.identifier.strip() or p.role.strip():
            listed.append(entry)
    document: dict = {"v": 1, "people": listed}
    if only_independent:
        document["only_independent"] = True
    return json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def parse_subject_document(raw: bytes) -> SubjectList:
    """ValueError for anything but a well-formed subject list within the limits (quarantined as such)."""
    data = json.loads(raw.decode("utf-8"))
    if not isinstance(data, dict) or data.get("v") != 1 or not isinstance(data.get("people"), list):
        raise ValueError("not a subject list")
    if len(data["people"]) > MAX_SUBJECTS:
        raise ValueError("too many people in the subject list")
    if not isinstance(data.get("only_independent", False), bool):
        raise ValueError("malformed choice in the subject list")
    subjects = []
    for entry in data["people"]:
        if not isinstance(entry, dict) or not all(isinstance(entry.get(f, ""), str) for f in ("name", "identifier", "role")):
            raise ValueError("malformed person in the subject list")
        name, identifier, role = entry.get("name", ""), entry.get("identifier", ""), entry.get("role", "")
        if max(len(name), len(identifier), len(role)) > MAX_SUBJECT_CHARS or "\x00" in name + identifier + role:
            raise ValueError("subject too long")
        subjects.append(Subject(name, identifier, role))
    return SubjectList(subjects, data.get("only_independent", False))
