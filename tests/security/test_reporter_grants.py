"""Issue 19: the reporter host's database role, created exactly as docs/operations.md says, can only add.

The `roles` and `grants` blocks are taken from the guide as written (only role and database names
are made unique), the schema is made by the owner role with the migrations, and then, through the
reporter role: a whole submission with a file, a follow-up sign-in, a reply with a file and a
download work; and every forbidden action is attempted and refused. The reporter role cannot
select, change or end a reviewer's session, cannot read the triage columns of a report, cannot
change or delete anything already sent (a sent file's ciphertext included), and cannot upgrade a
receipt that is not format 1. PostgreSQL only (row security and column grants are PostgreSQL's).
"""

from __future__ import annotations

import io
import os
import re
import subprocess
import uuid
from pathlib import Path
from types import SimpleNamespace

import pytest
from sqlalchemy import create_engine, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from support import csrf_from, receipt_from, sign_in
from triage_support import screen_now, sign_in_reviewer

from portal.app import create_app
from portal.config import load_settings
from portal.crypto import kdf
from portal.crypto.keys import RecipientPrivateKey
from portal.instance import ensure_instance, read_secret
from portal.migrate import upgrade
from portal.reports.models import REPORTER_READABLE
from portal.storage import open_database
from portal.triage import screener
from portal.triage.accounts import create_reviewer, register_recovery_key
from portal.triage.models import Role

GUIDE = Path(__file__).resolve().parents[2] / "docs" / "operations.md"
PG_URL = os.environ.get("PORTAL_TEST_DATABASE_URL", "")
PASSPHRASE = "correct-horse-battery-staple-orbit"
MARKER = "GRANTS-TEST: the inspector deletes custody records"
TRIAGE_COLUMNS = ("stage", "category", "risk_flags", "priority", "assignee_id", "escalation_route", "outcome",
                  "names_reviewer", "due_on", "acknowledged_on", "closed_on", "screening", "junk", "rule_reasons",
                  "sealed_subjects", "closure_proposer_id")


def guide_sql(name: str) -> str:
    found = dict((n, body) for n, body in re.findall(r"<!-- deploy: (\S+) -->\n```sql\n(.*?)```\n", GUIDE.read_text("utf-8"), re.S))
    return found[name]


def test_the_reporter_reads_exactly_the_report_columns_the_guide_grants():
    """Runs everywhere: the reporter's queries (load_only) and its grant name the same columns."""
    grant = re.search(r"GRANT SELECT \(([^)]*)\) ON reports TO portal_reporter;", guide_sql("grants"))
    assert grant is not None
    assert sorted(c.strip() for c in grant.group(1).split(",")) == sorted(REPORTER_READABLE)
    assert not set(TRIAGE_COLUMNS) & set(REPORTER_READABLE)


class Deployment:
    def __init__(self, tmp: Path) -> None:
        self.tag = uuid.uuid4().hex[:8]
        self.name = f"{make_url(PG_URL).database}_grants_{self.tag}"
        self.tmp = tmp

    def role(self, role: str) -> str:
        return f"{role}_{self.tag}"

    def url(self, role: str | None = None) -> str:
        base = make_url(PG_URL).set(database=self.name)
        if role is not None:
            base = base.set(username=self.role(role), password=None)
        return base.render_as_string(hide_password=False)

    def psql(self, body: str, database: str) -> None:
        body = re.sub(r"\bportal_(owner|app|reporter)\b", lambda m: self.role(m.group(0)), body)
        body = body.replace("DATABASE portal", f"DATABASE {self.name}").replace("\\c portal", f"\\c {self.name}")
        url = make_url(PG_URL).set(database=database).render_as_string(hide_password=False)
        result = subprocess.run(["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", url], input=body, capture_output=True,
                                text=True, timeout=120)
        assert result.returncode == 0, f"{body}\n{result.stderr}"

    def settings(self, role: str) -> dict:
        return {"instance_dir": str(self.tmp / "instance"), "database_url": self.url(role), "blob_store": "database",
                "blob_dir": ""}


@pytest.fixture(scope="module")
def deployment(tmp_path_factory):
    if not PG_URL.startswith("postgresql"):
        pytest.skip("needs PORTAL_TEST_DATABASE_URL (PostgreSQL): row security and column grants are PostgreSQL's")
    with pytest.MonkeyPatch.context() as patch:
        cheap = kdf.Argon2Params(time_cost=1, memory_kib=8 * 1024, parallelism=1)
        patch.setattr(kdf, "RECEIPT_ARGON2", cheap)
        patch.setattr(kdf, "PASSPHRASE_ARGON2", cheap)
        deploy = Deployment(tmp_path_factory.mktemp("grants"))
        ensure_instance(deploy.tmp / "instance")
        deploy.psql(guide_sql("roles"), make_url(PG_URL).database)
        try:
            upgrade(deploy.url("portal_owner"))
            deploy.psql(guide_sql("grants"), deploy.name)
            app_db = open_database(load_settings(deploy.settings("portal_app")))
            screener.publish(app_db, screener.load_secrets(load_settings(deploy.settings("portal_app"))))
            with app_db.transaction() as session:
                lead = create_reviewer(session, read_secret(deploy.tmp / "instance", "totp_key"), login="lead",
                                       display_name="Lead", role=Role.LEAD, passphrase=PASSPHRASE)
                register_recovery_key(session, RecipientPrivateKey.generate())
            deploy.lead = SimpleNamespace(id=lead.reviewer.id, login="lead", passphrase=PASSPHRASE, totp_secret=lead.totp_secret)
            deploy.app_db = app_db
            deploy.reporter = create_app("reporter", deploy.settings("portal_reporter"))
            deploy.triage = create_app("triage", deploy.settings("portal_app"))
            for app in (deploy.reporter, deploy.triage):
                app.config["TESTING"] = True
            deploy.reporter_engine = create_engine(deploy.url("portal_reporter").replace("postgresql://", "postgresql+psycopg://", 1))
            deploy.super_engine = create_engine(deploy.url().replace("postgresql://", "postgresql+psycopg://", 1))
            deploy.sent = _submit_and_follow_up(deploy)
            yield deploy
        finally:
            for name in ("reporter_engine", "super_engine"):
                if hasattr(deploy, name):
                    getattr(deploy, name).dispose()
            for name in ("reporter", "triage"):
                if hasattr(deploy, name):
                    getattr(deploy, name).extensions["portal.db"].dispose()
            if hasattr(deploy, "app_db"):
                deploy.app_db.dispose()
            roles = ", ".join(deploy.role(r) for r in ("portal_owner", "portal_app", "portal_reporter"))
            deploy.psql(f"DROP DATABASE IF EXISTS {deploy.name} WITH (FORCE);\nDROP ROLE IF EXISTS {roles};",
                        make_url(PG_URL).database)


def _submit_and_follow_up(deploy: Deployment) -> dict:
    """A whole submission with a file and a follow-up with a file, through the reporter role; then a
    reviewer signs in (a session row to attack) and reads the report. Returns what was sent."""
    client = deploy.reporter.test_client()
    token = csrf_from(client.get("/report").data)
    response = client.post("/report", content_type="multipart/form-data", data={
        "csrf_token": token, "draft": "", "what_happened": MARKER, "people-0-name": "Named Person",
        "evidence": [(io.BytesIO(b"%PDF-1.4 grants evidence"), "evidence.txt")]})
    assert response.status_code == 200, response.data[-1500:]
    code = receipt_from(response.data)
    screen_now(deploy.app_db, deploy.tmp / "instance")
    assert sign_in(client, code).status_code == 302
    case = client.get("/follow-up/case")
    assert case.status_code == 200 and MARKER.encode() in case.data
    assert b"Received" in case.data or b"received" in case.data
    response = client.post("/follow-up/reply", content_type="multipart/form-data", data={
        "csrf_token": csrf_from(case.data), "message": "A further detail",
        "evidence": [(io.BytesIO(b"second file"), "second.txt")]})
    assert response.status_code in (200, 302), response.data[-1500:]
    case = client.get("/follow-up/case")
    assert b"A further detail" in case.data
    links = re.findall(rb'href="(/follow-up/files/[0-9a-f]{32})"', case.data)
    assert len(links) == 2
    for link in links:
        assert client.get(link.decode()).status_code == 200
    reviewer = sign_in_reviewer(deploy.triage.test_client(), deploy.lead)
    with deploy.super_engine.connect() as c:
        report_id = c.scalar(text("SELECT id FROM reports"))
        blob = c.scalar(text("SELECT id FROM blobs WHERE attached LIMIT 1"))
        reference = c.scalar(text("SELECT reference FROM reports"))
    assert reviewer.get(f"/reports/{reference}").status_code == 200
    return {"report_id": report_id, "blob": bytes(blob), "client": client}


def refused(deploy: Deployment, statement: str, **params) -> bool:
    """True when PostgreSQL refuses the statement outright (no privilege)."""
    try:
        with deploy.reporter_engine.begin() as c:
            c.execute(text(statement), params)
    except DBAPIError as exc:
        return "permission denied" in str(exc.orig)
    return False


def refused_by_policy(deploy: Deployment, statement: str, **params) -> bool:
    """True when row security refuses the new row."""
    try:
        with deploy.reporter_engine.begin() as c:
            c.execute(text(statement), params)
    except DBAPIError as exc:
        return "row-level security" in str(exc.orig)
    return False


def rows_changed(deploy: Deployment, statement: str, **params) -> int:
    """How many rows a statement the role may run reaches (row security hides the others); rolled back."""
    with deploy.reporter_engine.connect() as c, c.begin() as transaction:
        count = c.execute(text(statement), params).rowcount
        transaction.rollback()
    return count


def test_the_reporter_role_cannot_touch_reviewer_sessions(deployment):
    with deployment.super_engine.connect() as c:
        assert c.scalar(text("SELECT count(*) FROM reviewer_sessions")) >= 1
    for statement in ("SELECT * FROM reviewer_sessions", "SELECT count(*) FROM reviewer_sessions",
                      "UPDATE reviewer_sessions SET absolute_expires_at = absolute_expires_at + interval '1 year'",
                      "DELETE FROM reviewer_sessions", "TRUNCATE reviewer_sessions",
                      "INSERT INTO reviewer_sessions (id_hash, kind, sealed_payload, idle_expires_at, absolute_expires_at, "
                      "reviewer_id) VALUES ('\\x00', 'reviewer', '\\x00', now(), now(), 1)"):
        assert refused(deployment, statement), statement


def test_the_reporter_role_cannot_change_or_delete_a_sent_files_ciphertext(deployment):
    blob = deployment.sent["blob"]
    with deployment.super_engine.connect() as c:
        before = [bytes(d) for d in c.scalars(text("SELECT data FROM blob_chunks WHERE blob_id = :b ORDER BY seq"), {"b": blob})]
    assert before
    assert rows_changed(deployment, "UPDATE blob_chunks SET data = '\\x00' WHERE blob_id = :b", b=blob) == 0
    assert rows_changed(deployment, "DELETE FROM blob_chunks WHERE blob_id = :b", b=blob) == 0
    assert rows_changed(deployment, "DELETE FROM blob_chunks") == 0
    assert refused_by_policy(deployment, "INSERT INTO blob_chunks (blob_id, seq, data) VALUES (:b, 999, '\\x00')", b=blob)
    assert rows_changed(deployment, "UPDATE blobs SET attached = false WHERE id = :b", b=blob) == 0
    assert rows_changed(deployment, "UPDATE blobs SET size = 1 WHERE attached") == 0
    assert rows_changed(deployment, "DELETE FROM blobs WHERE id = :b", b=blob) == 0
    assert refused(deployment, "TRUNCATE blob_chunks") and refused(deployment, "TRUNCATE blobs")
    with deployment.super_engine.connect() as c:
        after = [bytes(d) for d in c.scalars(text("SELECT data FROM blob_chunks WHERE blob_id = :b ORDER BY seq"), {"b": blob})]
    assert after == before


def test_the_reporter_role_cannot_change_or_delete_what_was_sent(deployment):
    report_id = deployment.sent["report_id"]
    for statement in ("UPDATE reports SET stage = 'closed'", "UPDATE reports SET sealed_report = '\\x00'",
                      "DELETE FROM reports", "TRUNCATE reports CASCADE",
                      "UPDATE messages SET sealed_body = '\\x00'", "DELETE FROM messages",
                      "UPDATE attachments SET sealed_meta = '\\x00'", "DELETE FROM attachments",
                      "UPDATE key_wraps SET wrap = '\\x00'", "DELETE FROM key_wraps",
                      "UPDATE held_wraps SET held = '\\x00'", "DELETE FROM held_wraps",
                      "DELETE FROM audit_log", "SELECT * FROM audit_log", "SELECT * FROM internal_notes",
                      "SELECT * FROM subject_index", "SELECT * FROM reviewer_conflicts", "SELECT * FROM link_decisions", "SELECT * FROM safe_copies",
                      "SELECT locked_private_key FROM reviewers", "SELECT passphrase_hash FROM reviewers",
                      "UPDATE reviewers SET public_key = '\\x00'", "UPDATE recovery_keys SET active = false"):
        assert refused(deployment, statement), statement
    # the columns it may update, only on a receipt still in format 1: this report is format 2
    assert rows_changed(deployment, "UPDATE reports SET reporter_wrap = '\\x00' WHERE id = :r", r=report_id) == 0
    with deployment.super_engine.connect() as c:
        assert c.scalar(text("SELECT receipt_format FROM reports WHERE id = :r"), {"r": report_id}) == 2


def test_the_reporter_role_cannot_read_triage_metadata(deployment):
    for column in TRIAGE_COLUMNS:
        assert refused(deployment, f"SELECT {column} FROM reports"), column  # noqa: S608 (our own column names)
        assert refused(deployment, f"SELECT id FROM reports WHERE {column} IS NULL"), column  # noqa: S608
    assert refused(deployment, "SELECT * FROM reports")
    with deployment.reporter_engine.connect() as c:  # what it may read
        assert c.execute(select(*(text(name) for name in REPORTER_READABLE)).select_from(text("reports"))).all()
