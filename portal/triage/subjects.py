"""Keyed blind index of subject identifiers: link reports about one person
without storing who that person is.

value = HMAC-SHA256(blind index key, kind || normalised identifier). Names are
normalised (case, accents, punctuation, spacing, rank words, common short
forms) so that "Sgt. John O'Neill" and "john oneill" meet; collar and staff
numbers keep only letters and digits. linked_report_ids() is the one query that
says which reports share a value: the links reviewers see and the repeat-subject
rule both count with it.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import unicodedata

from sqlalchemy import Select, and_, select
from sqlalchemy.orm import aliased

from portal.reports.models import Report, SubjectIndex

RANK_WORDS = {
    "pc", "psc", "dc", "ds", "di", "dci", "dsi", "dcs", "ps", "sgt", "sergeant", "insp", "inspector", "ch", "chief",
    "supt", "superintendent", "constable", "detective", "officer", "mr", "mrs", "ms", "miss", "dr", "acting", "a",
    "temporary", "t", "special", "commander", "cdr", "acc", "dcc", "cc", "police", "staff", "pcso",
}
# Common short forms of first names, so "Jim Smith" and "James Smith" link.
NAME_FORMS = {
    "jim": "james", "jimmy": "james", "jamie": "james", "bob": "robert", "rob": "robert", "bobby": "robert",
    "robbie": "robert", "bill": "william", "will": "william", "billy": "william", "liam": "william",
    "mike": "michael", "mick": "michael", "micky": "michael", "dave": "david", "davy": "david",
    "steve": "stephen", "steven": "stephen", "chris": "christopher", "tom": "thomas", "tommy": "thomas",
    "tony": "anthony", "andy": "andrew", "drew": "andrew", "rick": "richard", "rich": "richard",
    "dick": "richard", "ricky": "richard", "pete": "peter", "joe": "joseph", "joey": "joseph",
    "dan": "daniel", "danny": "daniel", "matt": "matthew", "nick": "nicholas", "sam": "samuel",
    "ben": "benjamin", "alex": "alexander", "ed": "edward", "eddie": "edward", "ted": "edward",
    "jon": "jonathan", "johnny": "john", "jack": "john", "greg": "gregory", "phil": "philip",
    "kate": "katherine", "katie": "katherine", "kathy": "katherine", "cathy": "katherine",
    "catherine": "katherine", "liz": "elizabeth", "beth": "elizabeth", "lizzie": "elizabeth",
    "sue": "susan", "suzy": "susan", "jen": "jennifer", "jenny": "jennifer", "becky": "rebecca",
    "becca": "rebecca", "vicky": "victoria", "vic": "victoria", "mandy": "amanda", "sally": "sarah",
    "sara": "sarah", "steph": "stephanie", "jo": "joanne", "maggie": "margaret", "meg": "margaret",
    "debbie": "deborah", "deb": "deborah", "nicky": "nicola", "pat": "patrick", "paddy": "patrick",
    "gerry": "gerald", "ken": "kenneth", "kenny": "kenneth", "len": "leonard", "ron": "ronald",
    "don": "donald", "stu": "stuart", "stewart": "stuart", "si": "simon", "tim": "timothy",
    "ollie": "oliver", "charlie": "charles", "chas": "charles", "fred": "frederick", "harry": "henry",
}


def _fold(text: str) -> str:
    text = unicodedata.normalize("NFKD", text)
    return "".join(ch for ch in text if not unicodedata.combining(ch)).lower()


def normalise_name(raw: str) -> str:
    """'Sgt. John O'Neill' -> 'john oneill'. Empty when nothing identifying is left."""
    folded = _fold(raw)
    folded = re.sub(r"['’`]", "", folded)  # O'Neill -> oneill
    tokens = [t for t in re.split(r"[^a-z0-9]+", folded) if t]
    tokens = [t for t in tokens if t not in RANK_WORDS and not t.isdigit()]
    tokens = [NAME_FORMS.get(t, t) for t in tokens]
    return " ".join(tokens)


def normalise_identifier(raw: str) -> str:
    """Collar or staff number: letters and digits only, upper case, leading zeros kept."""
    return re.sub(r"[^A-Z0-9]", "", _fold(raw).upper())


def blind_index(key: bytes, kind: str, normalised: str) -> bytes:
    return hmac.new(key, b"portal/v1/subject:" + kind.encode() + b":" + normalised.encode("utf-8"), hashlib.sha256).digest()


def subject_values(key: bytes, name: str, identifier: str) -> set[tuple[str, bytes]]:
    """Blind-index values for one person as entered; a name counts only with at least two parts or an identifier."""
    values: set[tuple[str, bytes]] = set()
    normal_name = normalise_name(name)
    if normal_name and len(normal_name.split()) >= 2:
        values.add(("name", blind_index(key, "name", normal_name)))
    normal_id = normalise_identifier(identifier)
    if len(normal_id) >= 3:
        values.add(("identifier", blind_index(key, "identifier", normal_id)))
    return values


def linked_report_ids(report_id: int) -> Select:
    """Other reports naming the same person; junk ones do not count (a flood naming a real
    officer must not raise the priority of, or add links to, the genuine reports about them)."""
    mine = aliased(SubjectIndex)
    other = aliased(SubjectIndex)
    linked = aliased(Report)  # an alias: callers nest this in queries over `reports`, which must not correlate
    return (
        select(other.report_id)
        .join(mine, and_(mine.kind == other.kind, mine.value == other.value))
        .join(linked, and_(linked.id == other.report_id, linked.junk.is_(False)))
        .where(mine.report_id == report_id, other.report_id != report_id, mine.removed.is_(False), other.removed.is_(False))
    )
