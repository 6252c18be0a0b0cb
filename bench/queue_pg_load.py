"""The queue benchmark's PostgreSQL loader (bench/queue_bench.py): a million reports in minutes.

The same population as queue_bench.populate(), generated inside the database with generate_series
and one INSERT ... SELECT per table, secondary indexes dropped for the load and built once after it.
"""

from __future__ import annotations

import datetime as dt
import os
import time

WRAP_BYTES = 1218  # nested MLKEM768_X25519 + X25519 HPKE wrap of a DEK (measured)

# Kinds of blind-index values a person gets (portal.triage.subjects.KIND_STRENGTH), and how many
# people share one value of each kind here: a "possible" kind is coarser (sounds alike, same initial).
BULK_KINDS = {"name": 1, "name-set": 1, "identifier": 1, "id-number": 1, "phonetic": 2, "initial": 5, "id-digits": 2}


def populate_pg_bulk(database_url: str, n: int, seed: int, log) -> dict:
    """The same population as populate(), generated inside PostgreSQL (generate_series, one
    INSERT ... SELECT per table): a million reports load in minutes, not hours. Blobs are filler
    bytes of the real sizes (nothing reads them); every person gets one value per BULK_KINDS kind."""
    from sqlalchemy import func, insert, select, text

    import portal.models  # noqa: F401
    from portal.config import load_taxonomy
    from portal.db import make_engine
    from portal.reports.models import SubjectIndex
    from portal.triage.models import Conflict, RecoveryKey, Reviewer

    engine = make_engine(database_url)
    categories = [c.key for c in load_taxonomy().categories]
    flags = [k for k, _ in load_taxonomy().risk_flags]
    start = time.perf_counter()
    with engine.begin() as conn:
        lead = conn.execute(select(Reviewer.id, Reviewer.key_fingerprint)).first()
        recovery_fp = conn.scalar(select(RecoveryKey.fingerprint))
        template = conn.execute(select(Reviewer.__table__).where(Reviewer.id == lead.id)).mappings().first()
        others = []
        for k in range(4):
            row = {c: template[c] for c in template.keys() if c != "id"}
            row.update(login=f"reviewer{k + 2}", display_name=f"Reviewer {k + 2}", role="reviewer",
                       key_fingerprint=os.urandom(16).hex(), public_key=os.urandom(len(template["public_key"])))
            others.append(conn.execute(insert(Reviewer).values(**row).returning(Reviewer.id)).scalar_one())
        params = {"n": n, "lead": lead.id, "o1": others[0], "o2": others[1], "o3": others[2], "o4": others[3],
                  "cats": categories, "flags": flags, "lead_fp": lead.key_fingerprint, "recovery_fp": recovery_fp,
                  "cold": max(20_000, n // 5), "wrap_md5s": WRAP_BYTES // 16}
        # Secondary indexes are built once after the load, not maintained row by row (minutes at 1M);
        # the constraints' own indexes (primary and unique keys) stay.
        secondary = conn.execute(text("""
            SELECT i.indexname, i.indexdef FROM pg_indexes i
            WHERE i.schemaname = current_schema() AND i.tablename IN ('reports', 'key_wraps', 'subject_index')
              AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conname = i.indexname)""")).all()
        for name, _ in secondary:
            conn.execute(text(f'DROP INDEX "{name}"'))
        conn.execute(text("SELECT setseed(:s)"), {"s": (seed % 1000) / 1000})
        conn.execute(text("""
            CREATE TEMP TABLE draws ON COMMIT DROP AS
            SELECT i, floor(random() * 1096)::int AS age, random() AS st, random() AS ack, random() AS clo, random() AS asg,
                   random() AS pri, random() AS cat, random() AS fl, random() AS subj, random() AS misc
            FROM generate_series(1, :n) AS i"""), params)
        conn.execute(text("""
            CREATE TEMP TABLE shaped ON COMMIT DROP AS
            SELECT d.*, current_date - d.age AS received,
              CASE WHEN d.age <= 30 THEN CASE WHEN st < .35 THEN 'new' WHEN st < .80 THEN 'assessing' WHEN st < .90 THEN 'escalated'
                                              WHEN st < .98 THEN 'closed' ELSE 'closure-pending' END
                   WHEN d.age <= 180 THEN CASE WHEN st < .03 THEN 'new' WHEN st < .28 THEN 'assessing' WHEN st < .43 THEN 'escalated'
                                              WHEN st < .95 THEN 'closed' ELSE 'closure-pending' END
                   ELSE CASE WHEN st < .03 THEN 'assessing' WHEN st < .08 THEN 'escalated' WHEN st < .99 THEN 'closed'
                             ELSE 'closure-pending' END END AS stage,
              CASE WHEN pri < .75 THEN 'normal' WHEN pri < .93 THEN 'high' ELSE 'urgent' END AS priority
            FROM draws d"""))
        log("  reports ...")
        conn.execute(text("""
            INSERT INTO reports (id, public_id, reference, lookup_id, received_on, reporter_urgent, encrypted_in_browser,
                sealed_report, reporter_wrap, stage, category, risk_flags, priority, priority_rank, due_on, assignee_id,
                acknowledged_on, escalation_route, outcome, closed_on, subjects_indexed, names_reviewer, rule_reasons, junk)
            SELECT i, decode(md5(i::text || 'p'), 'hex'), 'R-' || upper(substr(md5(i::text), 1, 4)) || '-' || lpad(i::text, 7, '0'),
                sha256(convert_to(i::text, 'UTF8')), received, misc < .05, misc > .4,
                decode('0101' || repeat(md5(i::text || 's'), 19 + (i % 19)), 'hex'), decode(repeat(md5(i::text || 'w'), 7), 'hex'),
                stage, CASE WHEN stage = 'new' AND cat < .5 THEN NULL ELSE (CAST(:cats AS text[]))[1 + floor(cat * cardinality(CAST(:cats AS text[])))::int] END,
                CASE WHEN fl < .5 THEN '' ELSE (CAST(:flags AS text[]))[1 + floor(fl * 100)::int % cardinality(CAST(:flags AS text[]))] END,
                priority, CASE priority WHEN 'urgent' THEN 2 WHEN 'high' THEN 1 ELSE 0 END,
                CASE WHEN stage = 'closed' THEN NULL WHEN stage = 'new' THEN received + 7 ELSE received + 90 END,
                CASE WHEN stage = 'new' OR asg < .20 THEN NULL WHEN asg < .45 THEN :lead WHEN asg < .5875 THEN :o1
                     WHEN asg < .725 THEN :o2 WHEN asg < .8625 THEN :o3 ELSE :o4 END,
                CASE WHEN stage = 'new' THEN NULL ELSE least(current_date, received + floor(ack * 11)::int) END,
                CASE WHEN stage = 'escalated' OR (stage = 'closed' AND clo < .3) THEN 'professional-standards' END,
                CASE WHEN stage IN ('closed', 'closure-pending') THEN 'no-further-action' END,
                CASE WHEN stage = 'closed' THEN least(current_date, received + 10 + floor(clo * 191)::int) END,
                true, misc < .001, '', false
            FROM shaped"""), params)
        log("  key wraps ...")
        conn.execute(text("""
            INSERT INTO key_wraps (report_id, recipient_fingerprint, wrap)
            SELECT i, fp, decode(repeat(md5(i::text || fp), :wrap_md5s), 'hex')
            FROM generate_series(1, :n) AS i CROSS JOIN (VALUES (CAST(:lead_fp AS varchar)), (CAST(:recovery_fp AS varchar))) AS f(fp)"""),
                     params)
        log("  subjects ...")
        conn.execute(text("""
            CREATE TEMP TABLE named ON COMMIT DROP AS
            SELECT DISTINCT d.i AS report_id,
                   CASE WHEN random() < .1 THEN floor(random() * 200)::int ELSE 200 + floor(random() * :cold)::int END AS person
            FROM draws d CROSS JOIN LATERAL generate_series(1, 1 + (d.misc * 1000)::int % 3) AS k
            WHERE d.subj < .3"""), params)
        kinds = ", ".join(f"('{kind}', {share})" for kind, share in BULK_KINDS.items())
        conn.execute(text(f"""
            INSERT INTO subject_index (report_id, kind, value, sealed_label, removed)
            SELECT DISTINCT ON (report_id, kind, value) report_id, kind, value, NULL, random() < .02 FROM (
              SELECT report_id, k.kind, sha256(convert_to(k.kind || ':' || (person / k.share)::text, 'UTF8')) AS value
              FROM named CROSS JOIN (VALUES {kinds}) AS k(kind, share)) AS v"""))  # noqa: S608 (constants above)
        log("  indexes ...")
        for _, ddl in secondary:
            conn.execute(text(ddl))
        for person in range(3):  # the lead declared three of the most named people
            for kind in ("name", "identifier"):
                value = conn.scalar(text("SELECT sha256(convert_to(:v, 'UTF8'))"), {"v": f"{kind}:{person}"})
                conn.execute(insert(Conflict).values(reviewer_id=lead.id, kind=kind, value=value, own_identity=False,
                                                     declared_on=dt.date.today()))
        conn.execute(text("SELECT setval(pg_get_serial_sequence('reports', 'id'), (SELECT max(id) FROM reports))"))
        conn.execute(text("SELECT setval(pg_get_serial_sequence('key_wraps', 'id'), (SELECT max(id) FROM key_wraps))"))
        stages = dict(conn.execute(text("SELECT stage, count(*) FROM reports GROUP BY stage")).all())
        subject_rows = conn.scalar(select(func.count()).select_from(SubjectIndex))
    load_seconds = time.perf_counter() - start
    engine.dispose()
    return {"lead_id": lead.id, "other_ids": others, "categories": categories, "stages": stages,
            "subject_rows": subject_rows, "load_seconds": load_seconds}
