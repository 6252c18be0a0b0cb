"""Digest, themes with small-cell suppression, retention purge (issue: patterns and oversight)."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import func, select, update
from support import submit_report
from test_patterns import reviewer_client

from portal.blobs import Blob, BlobChunk
from portal.clock import today
from portal.config import load_settings
from portal.deadlines import Deadlines
from portal.instance import read_secret
from portal.reports.models import Attachment, KeyWrap, Message, Report, SubjectIndex
from portal.triage.audit import AuditEntry, verify_chain
from portal.triage.oversight import digests, purge_due, themes, themes_csv, themes_svg


def _settings(settings_overrides, **extra):
    return load_settings({**settings_overrides, **extra})


def test_themes_suppress_small_cells(reporter_client, database, settings_overrides):
    for _ in range(6):
        submit_report(reporter_client)
    submit_report(reporter_client)
    with database.transaction() as session:
        ids = list(session.scalars(select(Report.id).order_by(Report.id)))
        session.execute(update(Report).where(Report.id.in_(ids[:6])).values(category="sexual-harassment"))
        session.execute(update(Report).where(Report.id == ids[6]).values(category="vetting-concern"))
        data = themes(session, _settings(settings_overrides))
    month = f"{today().year:04d}-{today().month:02d}"
    assert data.by_category_month[("sexual-harassment", month)] == 6
    assert data.by_category_month[("vetting-concern", month)] is None  # 1 < 5: suppressed
    assert data.category_totals["vetting-concern"] is None
    assert data.median_days_to_acknowledge is None  # nothing acknowledged yet
    text = themes_csv(data)
    assert "Sexual harassment" in text and "<5" in text
    assert ",1," not in text  # the single vetting concern is nowhere
    svg = themes_svg(data)
    assert svg.startswith("<svg") and "<script" not in svg


def test_themes_page_is_for_leads_only(reporter_client, triage_app, lead, make_reviewer):
    reviewer = make_reviewer("plain", "reviewer")
    assert reviewer_client(triage_app, lead).get("/themes").status_code == 200
    plain = reviewer_client(triage_app, reviewer)
    for path in ("/themes", "/themes.csv", "/themes/chart.svg"):
        assert plain.get(path).status_code == 403


def test_leads_see_todays_evidence_bytes_against_the_daily_cap(reporter_client, triage_app, lead, database):
    import io
    import re

    from support import csrf_from

    token = csrf_from(reporter_client.get("/report").data)
    response = reporter_client.post("/report", content_type="multipart/form-data", data={
        "csrf_token": token, "draft": "", "what_happened": "with a file", "evidence": (io.BytesIO(b"z" * 3 * 1048576), "big.bin")})
    assert response.status_code == 200
    page = reviewer_client(triage_app, lead).get("/themes").data.decode()
    block = page.split('id="intake-today"')[1].split("</dl>")[0]
    assert re.search(r"Received so far</dt><dd[^>]*>3\.0 MB", block), block
    assert "10240 MB (0% used)" in block  # the default cap, 10 GiB


def test_digest_counts_only(reporter_client, database, settings_overrides, lead):
    submit_report(reporter_client, what_happened="DIGEST-MARKER")
    submit_report(reporter_client)
    with database.transaction() as session:
        session.execute(update(Report).values(received_on=today() - dt.timedelta(days=10)))
        Deadlines.from_settings(_settings(settings_overrides)).refresh_all(session)  # as `portal digest` does first
        [item] = digests(session, _settings(settings_overrides))
    assert item.unacknowledged == 2 and item.overdue == 2
    assert "DIGEST-MARKER" not in item.text() and "R-" not in item.text()


def test_retention_purges_everything_but_a_tombstone(reporter_client, database, settings_overrides, instance_dir):
    import io

    from support import csrf_from

    token = csrf_from(reporter_client.get("/report").data)
    reporter_client.post("/report", data={"csrf_token": token, "draft": "", "what_happened": "old",
                                           "people-0-name": "Sam Subject", "evidence": (io.BytesIO(b"x" * 5000), "a.txt")},
                         content_type="multipart/form-data")
    submit_report(reporter_client, what_happened="recent")
    with database.transaction() as session:
        old_id, recent_id = session.scalars(select(Report.id).order_by(Report.id)).all()
        session.add(SubjectIndex(report_id=old_id, kind="name", value=b"v" * 32))
        session.execute(update(Report).where(Report.id == old_id).values(
            stage="closed", closed_on=today() - dt.timedelta(days=400)))
        reference = session.scalar(select(Report.reference).where(Report.id == old_id))
    key = read_secret(instance_dir, "audit_key")
    with database.transaction() as session:
        purged = purge_due(session, _settings(settings_overrides), key)
    assert purged == [reference]
    with database.transaction() as session:
        assert session.scalar(select(func.count()).select_from(Report)) == 1
        for table in (KeyWrap, Message, Attachment, SubjectIndex):
            assert session.scalar(select(func.count()).select_from(table).where(table.report_id == old_id)) == 0
        assert session.scalar(select(func.count()).select_from(Blob)) == 0
        assert session.scalar(select(func.count()).select_from(BlobChunk)) == 0
        tombstone = session.scalar(select(AuditEntry).where(AuditEntry.action == "report.purged"))
        assert tombstone.report_ref == reference
        assert verify_chain(session, key).ok
    with database.transaction() as session:  # running again purges nothing more (cron-safe)
        assert purge_due(session, _settings(settings_overrides), key) == []
