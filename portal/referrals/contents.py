"""What a case bundle holds once opened, in one layout for both kinds (docs/operations.md,
"Receiving bodies"): report.json and report.txt, messages.json, notes.json, audit.json, files/.

The referral builder writes these documents into the bundle; the opener of a routed bundle makes
the same documents from the report's decrypted records, so a body reads both kinds alike.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from portal.reports.answers import ReportAnswers

FILE_NAME_CHARS = re.compile(r"[^A-Za-z0-9._-]+")
MAX_FILE_STEM = 80


@dataclass(frozen=True)
class BundleMessage:
    """One message of the conversation, as the lead's session decrypted it."""

    from_reporter: bool
    sent_on: dt.date
    text: str

    def to_json(self) -> dict[str, Any]:
        return {"from": "reporter" if self.from_reporter else "reviewer", "sent_on": self.sent_on.isoformat(), "text": self.text}


@dataclass(frozen=True)
class BundleNote:
    """An internal note the lead chose to include."""

    author: str
    written_on: dt.date
    text: str

    def to_json(self) -> dict[str, Any]:
        return {"author": self.author, "written_on": self.written_on.isoformat(), "text": self.text}


def json_document(value: Any) -> bytes:
    return (json.dumps(value, ensure_ascii=False, indent=2, sort_keys=True) + "\n").encode("utf-8")


def report_document(reference: str, received_on: dt.date, answers: ReportAnswers, case: Mapping[str, Any]) -> dict[str, Any]:
    """report.json: the reporter's answers as they wrote them, and the case details the lead included."""
    people = [asdict(person) for person in answers.people if not person.is_blank()]
    return {"reference": reference, "received_on": received_on.isoformat(), "answers": {**asdict(answers), "people": people},
            "case": dict(case)}


def report_text(document: Mapping[str, Any], messages: Sequence[Mapping[str, Any]], attachments: Sequence[Mapping[str, Any]]) -> str:
    """report.txt: the report, its files and the conversation for a person to read."""
    answers = document["answers"]
    lines = [f"Report {document['reference']}, received {document['received_on']}", "", "What happened:", answers["what_happened"], ""]
    for person in answers["people"]:
        lines.append("Person: " + " | ".join(person[key] for key in ("name", "role", "identifier", "unit") if person.get(key)))
    lines += [f"When: {answers['when']}", f"Where: {answers['where']}", f"At risk now: {answers['risk_now']}",
              f"Vulnerable person: {answers['vulnerable_person']}", f"Witnesses: {answers['witnesses']}",
              f"How known: {answers['how_known']}", f"Category (reporter): {answers['category']}"]
    for key, value in document.get("case", {}).items():
        lines.append(f"{key.replace('_', ' ').capitalize()}: {value}")
    lines.append("")
    for attachment in attachments:
        lines.append(f"File: {attachment['path']} ({attachment.get('name', '')}, {attachment.get('media_type', '')}, "
                     f"{attachment.get('variant', 'original')})")
    if attachments:
        lines.append("")
    for message in messages:
        who = "Reporter" if message["from"] == "reporter" else "Reviewer"
        lines.append(f"[{message['sent_on']}] {who}: {message['text']}")
    return "\n".join(lines).rstrip("\n") + "\n"


def file_path(index: int, name: str, variant: str = "original") -> str:
    """files/NNN-name for the index-th file: ASCII letters, digits, '.', '_', '-' only, never hidden."""
    stem = FILE_NAME_CHARS.sub("_", name).strip("._-")[:MAX_FILE_STEM] or "file"
    suffix = "-safe-copy" if variant == "safe-copy" else ""
    return f"files/{index:03d}{suffix}-{stem}"
