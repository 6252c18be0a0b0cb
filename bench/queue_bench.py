"""Triage queue page latency with many reports (DESIGN.md: p95 < 150 ms at 100,000 reports).

    .venv/bin/python bench/queue_bench.py                                   # SQLite, 100,000 reports
    .venv/bin/python bench/queue_bench.py --database-url postgresql:///test # PostgreSQL (schema reset first)
    .venv/bin/python bench/queue_bench.py --reports 20000 --requests 100    # quicker
    .venv/bin/python bench/queue_bench.py --explain                         # also: which statements cost what
    .venv/bin/python bench/queue_bench.py --database-url postgresql:///bench --sizes 10000,100000,1000000
                                                # one fresh load per size, then one table comparing them

1. A fresh instance (`portal init --dev`: the lead reviewer and the recovery key), four more
   reviewer rows, then N reports inserted straight into the database with SQLAlchemy Core:
   random ("sealed") blobs of realistic size (report ~600 B, reporter wrap 112 B, one
   1,218 B key wrap for the lead and one for the recovery key), received_on spread over
   3 years, stages that depend on age (old reports mostly closed), random categories,
   priorities, risk flags and assignees, ~30% of reports naming 1-3 subjects (blind-index
   rows, some subjects named by dozens of reports, so linked counts are not all zero) and a
   few declared conflicts for the lead (so the conflict filter hides something).
   Every report is marked `subjects_indexed` (steady state: the queue has nothing to decrypt).
2. The triage interface under gunicorn (`portal serve triage`, 2 sync workers), a reviewer
   signed in through /login and /login/code (TOTP with pyotp), then --requests GET requests
   of the queue, one at a time, mixing page 1, later pages, the last pages, filters (overdue,
   category, status, assignee=me, priority) and sorts (received, deadline, priority); each
   is timed from sending the request to the whole page received. The queue pages by keyset,
   so later pages are reached as a reviewer reaches them, by following the page's Next page,
   Last page and Previous page links (untimed); the page reached is timed.
3. With --explain, the same mix runs in-process against listing.queue() (plus the two
   counts the page layout shows) with every SQL statement timed; the slowest are printed
   with their query plan.

On PostgreSQL the reports are generated inside the database (populate_pg_bulk: generate_series,
one INSERT ... SELECT per table), so 1,000,000 reports load in minutes; every person named gets
one blind-index value of each kind linking uses (name, name in any order, numbers, phonetic,
initial), the coarser "possible" kinds shared by a few people each. On PostgreSQL the script drops and recreates --pg-schema (default `public`, like the test
suite does; pass e.g. `--pg-schema portal_bench` to leave a concurrent test run alone:
connections then use that schema through search_path). It runs VACUUM ANALYZE on the loaded tables, as
autovacuum would soon after such a bulk insert; SQLite gets no ANALYZE (nothing in the
portal runs it) unless --sqlite-analyze is given.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import html
import http.cookiejar
import os
import random
import re
import shutil
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from collections import defaultdict
from pathlib import Path
from types import SimpleNamespace

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import benchlib  # noqa: E402
from benchlib import Summary, ms  # noqa: E402
from queue_pg_load import WRAP_BYTES, populate_pg_bulk  # noqa: E402

TARGET_P95 = 0.150
STAGE_BY_AGE = [  # (max age in days, [(stage, weight), ...])
    (30, [("new", 35), ("assessing", 45), ("escalated", 10), ("closed", 8), ("closure-pending", 2)]),
    (180, [("new", 3), ("assessing", 25), ("escalated", 15), ("closed", 52), ("closure-pending", 5)]),
    (10_000, [("assessing", 3), ("escalated", 5), ("closed", 91), ("closure-pending", 1)]),
]
ROUTES = ["professional-standards", "anti-corruption", "external-oversight", "safeguarding", "management-action"]
OUTCOMES = ["action-taken", "referred-elsewhere", "no-further-action"]
REF_ALPHABET = "23456789ABCDEFGHJKMNPQRSTVWXYZ"
REPORTER_WRAP_BYTES = 112
BATCH = 5000


def reference(i: int) -> str:
    """Unique, random-looking R-XXXX-XXXX for row i (a bijection on 30^8)."""
    n = (i * 2_654_435_761 + 12345) % (30 ** 8)
    chars = []
    for _ in range(8):
        n, r = divmod(n, 30)
        chars.append(REF_ALPHABET[r])
    body = "".join(chars)
    return f"R-{body[:4]}-{body[4:]}"


def weighted(rng: random.Random, pairs: list[tuple[str, int]]) -> str:
    return rng.choices([p[0] for p in pairs], weights=[p[1] for p in pairs])[0]


# -- loading ----------------------------------------------------------------------------------


def populate(database_url: str, n: int, seed: int, log) -> dict:
    """Bulk-insert n reports (+ wraps, subjects, conflicts); returns facts for the request mix."""
    from sqlalchemy import func, insert, select, text

    import portal.models  # noqa: F401
    from portal.config import load_taxonomy
    from portal.db import make_engine
    from portal.deadlines import Deadlines
    from portal.reports.models import KeyWrap, Message, Report, SubjectIndex
    from portal.triage.models import Conflict, RecoveryKey, Reviewer
    from portal.triage.vocabulary import PRIORITY_RANK

    rng = random.Random(seed)
    deadlines = Deadlines(acknowledge_days=7, feedback_days=90)  # config/defaults.toml, as the instance uses
    engine = make_engine(database_url)
    today = dt.datetime.now(dt.UTC).date()
    categories = [c.key for c in load_taxonomy().categories]
    flags = [k for k, _ in load_taxonomy().risk_flags]
    with engine.begin() as conn:
        lead = conn.execute(select(Reviewer.id, Reviewer.key_fingerprint)).first()
        recovery_fp = conn.scalar(select(RecoveryKey.fingerprint))
        template = conn.execute(select(Reviewer.__table__).where(Reviewer.id == lead.id)).mappings().first()
        others = []
        for k in range(4):  # reviewers that only appear as assignees (they never sign in here)
            row = {c: template[c] for c in template.keys() if c != "id"}
            row.update(login=f"reviewer{k + 2}", display_name=f"Reviewer {k + 2}", role="reviewer",
                       key_fingerprint=os.urandom(16).hex(), public_key=os.urandom(len(template["public_key"])))
            others.append(conn.execute(insert(Reviewer).values(**row).returning(Reviewer.id)).scalar_one())
    assignees = [(None, 20), (lead.id, 25)] + [(o, 55 // len(others)) for o in others]

    hot = [os.urandom(32) for _ in range(200)]
    cold = [os.urandom(32) for _ in range(20_000)]
    start = time.perf_counter()
    counts = defaultdict(int)
    message_id = [0]
    with engine.begin() as conn:
        for base in range(0, n, BATCH):
            reports, wraps, subjects, messages = [], [], [], []
            for i in range(base + 1, min(n, base + BATCH) + 1):
                age = rng.randint(0, 3 * 365)
                received = today - dt.timedelta(days=age)
                stage = weighted(rng, next(p for limit, p in STAGE_BY_AGE if age <= limit))
                acknowledged = None if stage == "new" else min(today, received + dt.timedelta(days=rng.randint(0, 10)))
                closed = min(today, received + dt.timedelta(days=rng.randint(10, 200))) if stage == "closed" else None
                if closed is not None and acknowledged is not None:
                    closed = max(closed, acknowledged)
                escalated = stage == "escalated" or (stage == "closed" and rng.random() < 0.3)
                assignee = None if stage == "new" else weighted(rng, [(a, w) for a, w in assignees])
                counts[stage] += 1
                priority = weighted(rng, [("normal", 75), ("high", 18), ("urgent", 7)])
                due = deadlines.due_on(SimpleNamespace(stage=stage, acknowledged_on=acknowledged, received_on=received, junk=False))
                reports.append({
                    "id": i, "public_id": os.urandom(16), "reference": reference(i), "lookup_id": os.urandom(32),
                    "received_on": received, "reporter_urgent": rng.random() < 0.05,
                    "encrypted_in_browser": rng.random() < 0.6,
                    "sealed_report": b"\x01\x01" + os.urandom(rng.randint(450, 750)),
                    "reporter_wrap": os.urandom(REPORTER_WRAP_BYTES),
                    "stage": stage,
                    "category": None if stage == "new" and rng.random() < 0.5 else rng.choice(categories),
                    "risk_flags": ",".join(sorted(rng.sample(flags, rng.choice([0, 0, 0, 1, 1, 2])))),
                    "priority": priority, "priority_rank": PRIORITY_RANK[priority], "due_on": due,
                    "assignee_id": assignee, "acknowledged_on": acknowledged,
                    "escalation_route": rng.choice(ROUTES) if escalated else None,
                    "outcome": rng.choice(OUTCOMES) if stage in ("closed", "closure-pending") else None,
                    "closed_on": closed, "subjects_indexed": True, "names_reviewer": rng.random() < 0.001,
                    "rule_reasons": "",
                })
                # The conversation: half the reports have 1-4 messages; 5% of the reporter's are unread,
                # 2% of those on closed reports came after closure (the queue's signals).
                if stage != "new" and rng.random() < 0.5:
                    for _ in range(rng.randint(1, 4)):
                        message_id[0] += 1
                        from_reporter = rng.random() < 0.5
                        messages.append({"id": message_id[0], "report_id": i, "public_id": os.urandom(16),
                                         "from_reporter": from_reporter, "reviewer_id": None if from_reporter else lead.id,
                                         "sent_on": acknowledged or received, "sealed_body": os.urandom(rng.randint(60, 400)),
                                         "unread": from_reporter and rng.random() < 0.05,
                                         "after_closure": from_reporter and stage == "closed" and rng.random() < 0.02})
                wraps.append({"report_id": i, "recipient_fingerprint": lead.key_fingerprint, "wrap": os.urandom(WRAP_BYTES)})
                wraps.append({"report_id": i, "recipient_fingerprint": recovery_fp, "wrap": os.urandom(WRAP_BYTES)})
                if rng.random() < 0.3:
                    seen = set()
                    for _ in range(rng.choice([1, 1, 2, 3])):
                        value = rng.choice(hot) if rng.random() < 0.1 else rng.choice(cold)
                        kind = rng.choice(["name", "identifier"])
                        if (kind, value) in seen:
                            continue
                        seen.add((kind, value))
                        subjects.append({"report_id": i, "kind": kind, "value": value, "sealed_label": None,
                                         "removed": rng.random() < 0.02})
            conn.execute(insert(Report), reports)
            conn.execute(insert(KeyWrap), wraps)
            if messages:
                conn.execute(insert(Message), messages)
            if subjects:
                conn.execute(insert(SubjectIndex), subjects)
            if (base // BATCH) % 4 == 3:
                log(f"  {base + len(reports):,} reports ...")
        # A few declared conflicts for the lead: reports naming these are hidden from them.
        for value in hot[:3]:
            for kind in ("name", "identifier"):
                conn.execute(insert(Conflict).values(reviewer_id=lead.id, kind=kind, value=value, own_identity=False,
                                                     declared_on=today))
        if engine.dialect.name == "postgresql":
            conn.execute(text("SELECT setval(pg_get_serial_sequence('reports', 'id'), (SELECT max(id) FROM reports))"))
            conn.execute(text("SELECT setval(pg_get_serial_sequence('key_wraps', 'id'), (SELECT max(id) FROM key_wraps))"))
            if message_id[0]:
                conn.execute(text("SELECT setval(pg_get_serial_sequence('messages', 'id'), (SELECT max(id) FROM messages))"))
        subject_rows = conn.scalar(select(func.count()).select_from(SubjectIndex))
    load_seconds = time.perf_counter() - start
    engine.dispose()
    return {"lead_id": lead.id, "other_ids": others, "categories": categories, "stages": dict(counts),
            "subject_rows": subject_rows, "load_seconds": load_seconds}


def analyze(database_url: str) -> float:
    from sqlalchemy import text

    from portal.db import make_engine

    engine = make_engine(database_url)
    start = time.perf_counter()
    if engine.dialect.name == "postgresql":
        # Only the tables loaded here: a database-wide VACUUM waits on whatever else uses the database.
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("VACUUM ANALYZE reports, key_wraps, subject_index, reviewer_conflicts, reviewers, messages"))
    else:
        with engine.begin() as conn:
            conn.execute(text("ANALYZE"))
    engine.dispose()
    return time.perf_counter() - start


# -- the request mix --------------------------------------------------------------------------


NEXT, PREVIOUS, LAST = "Next page", "Previous page", "Last page"


def request_mix(count: int, facts: dict, seed: int) -> list[tuple[str, str, tuple[str, ...]]]:
    """(kind, query string, links to follow first) triples: what reviewers do, weighted, shuffled
    with a fixed seed. The queue pages by keyset, so a deep page is reached as a reviewer would:
    by following the page's own links (Next page, Last page, Previous page); only the last
    request of each navigation is timed."""
    rng = random.Random(seed)
    cats = facts["categories"]

    def nexts(*choices: int) -> tuple[str, ...]:
        return (NEXT,) * rng.choice(choices)

    def combination() -> dict[str, object]:
        """Any of the queue page's filters together, in any of its orders."""
        query: dict[str, object] = {"sort": rng.choice(["received", "deadline", "priority"]), "order": rng.choice(["asc", "desc"])}
        for name, values in (("status", ["new", "assessing", "escalated", "closure-pending", "closed"]), ("category", cats),
                             ("priority", ["urgent", "high", "normal"]), ("assignee", ["me", "none"]), ("overdue", [1])):
            if rng.random() < 0.4:
                query[name] = rng.choice(values)
        return query

    kinds = [
        ("page 1 (newest)", 22, lambda: ({}, ())),
        ("pages 2-5", 10, lambda: ({}, nexts(1, 2, 3, 4))),
        ("last pages", 14, lambda: ({}, (LAST,) + (PREVIOUS,) * rng.choice([0, 1, 3]))),
        ("oldest first", 4, lambda: ({"order": "asc"}, nexts(0, 1, 2))),
        ("overdue", 10, lambda: ({"overdue": 1}, nexts(0, 0, 0, 1, 3))),
        ("category", 8, lambda: ({"category": rng.choice(cats)}, rng.choice([(), (), (NEXT,), (LAST,)]))),
        ("status", 8, lambda: ({"status": rng.choice(["new", "assessing", "escalated", "closure-pending", "closed"])}, ())),
        ("assignee=me", 8, lambda: ({"assignee": "me"}, rng.choice([(), (), (NEXT,), (LAST,)]))),
        ("priority filter", 4, lambda: ({"priority": rng.choice(["urgent", "high"])}, ())),
        ("sort=deadline", 6, lambda: ({"sort": "deadline", "order": rng.choice(["asc", "desc"])}, nexts(0, 0, 4))),
        ("sort=priority", 4, lambda: ({"sort": "priority"}, rng.choice([(), (), (NEXT,) * 9, (LAST,)]))),
        ("overdue+me+deadline", 6, lambda: ({"overdue": 1, "assignee": "me", "sort": "deadline", "order": "asc"},
                                            rng.choice([(), (), (NEXT,), (LAST,)]))),
        ("filters+sort (any)", 8, lambda: (combination(), rng.choice([(), (NEXT,), (LAST,)]))),
    ]
    out = []
    for _ in range(count):
        kind = rng.choices(kinds, weights=[k[1] for k in kinds])[0]
        query, follow = kind[2]()
        out.append((kind[0], urllib.parse.urlencode(query), follow))
    return out


def page_link(body: bytes, label: str) -> str | None:
    """The href of a pagination link on a queue page (None when the page has no such link)."""
    match = re.search(rb'href="([^"]+)">' + label.encode() + b"<", body)
    return html.unescape(match.group(1).decode()) if match else None


# -- over HTTP --------------------------------------------------------------------------------


class Browser:
    """Cookies and redirects, like a reviewer's browser (no JavaScript needed)."""

    def __init__(self, port: int) -> None:
        self.base = f"http://{benchlib.HOST}:{port}"
        self.jar = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.jar))

    def get(self, path: str) -> tuple[int, str, bytes]:
        with self.opener.open(self.base + path, timeout=120) as response:
            return response.status, response.geturl(), response.read()

    def post(self, path: str, fields: dict[str, str]) -> tuple[int, str, bytes]:
        data = urllib.parse.urlencode(fields).encode()
        with self.opener.open(self.base + path, data=data, timeout=120) as response:
            return response.status, response.geturl(), response.read()


def sign_in(browser: Browser, creds: benchlib.Credentials) -> None:
    import pyotp

    _, _, page = browser.get("/login")
    _, url, page = browser.post("/login", {"csrf_token": benchlib.csrf_from(page), "login": creds.login,
                                           "passphrase": creds.passphrase})
    if not url.endswith("/login/code"):
        raise RuntimeError("passphrase refused")
    _, url, page = browser.post("/login/code", {"csrf_token": benchlib.csrf_from(page),
                                                "code": pyotp.TOTP(creds.totp_secret).now()})
    if "/login" in urllib.parse.urlparse(url).path:
        raise RuntimeError("TOTP code refused")


def measure_http(port: int, creds: benchlib.Credentials, mix: list[tuple[str, str, tuple[str, ...]]],
                 warmup: int) -> dict[str, list[float]]:
    browser = Browser(port)
    sign_in(browser, creds)
    for _kind, query, _follow in mix[:warmup]:
        browser.get("/?" + query)
    timings: dict[str, list[float]] = defaultdict(list)
    for kind, query, follow in mix[warmup:]:
        path = "/?" + query
        for label in follow:  # navigate as a reviewer would (untimed), then time the page reached
            _, _, body = browser.get(path)
            path = page_link(body, label) or path
        start = time.perf_counter()
        status, url, body = browser.get(path)
        elapsed = time.perf_counter() - start
        if status != 200 or b'id="queue-count"' not in body or "/login" in url:
            raise RuntimeError(f"queue request {path!r} failed: {status} {url}")
        timings[kind].append(elapsed)
        timings["all"].append(elapsed)
    return timings


# -- in-process statement timing --------------------------------------------------------------


def explain(instance: Path, database_url: str, mix: list[tuple[str, str, tuple[str, ...]]], top: int) -> None:
    from sqlalchemy import event, select

    from portal import state as app_state
    from portal.app import create_app
    from portal.crypto.keys import RecipientPrivateKey
    from portal.triage import listing, service
    from portal.triage.context import Actor, Context
    from portal.triage.models import Reviewer

    app = create_app("triage", {"instance_dir": str(instance), "database_url": database_url})
    db = app.extensions["portal.db"]
    engine = db.engine
    statements: dict[str, list[float]] = defaultdict(list)
    params_of: dict[str, object] = {}
    started: list[float] = []

    @event.listens_for(engine, "before_cursor_execute")
    def _before(conn, cursor, statement, parameters, context, executemany):
        started.append(time.perf_counter())

    @event.listens_for(engine, "after_cursor_execute")
    def _after(conn, cursor, statement, parameters, context, executemany):
        statements[statement].append(time.perf_counter() - started.pop())
        params_of.setdefault(statement, parameters)

    per_kind: dict[str, list[float]] = defaultdict(list)
    with app.test_request_context("/"):
        session = db.session
        reviewer = session.scalar(select(Reviewer).where(Reviewer.login == "lead"))
        actor = Actor(reviewer, RecipientPrivateKey.generate())
        ctx = Context(db=session, settings=app_state.SETTINGS.get(app), audit_key=b"\0" * 32, blind_index_key=b"\0" * 32)
        for kind, query, follow in mix:
            args = dict(urllib.parse.parse_qsl(query))
            filters = listing.QueueFilters(status=args.get("status", ""), category=args.get("category", ""),
                                           risk=args.get("priority", ""), assignee=args.get("assignee", ""),
                                           overdue=args.get("overdue") == "1", sort=args.get("sort", "received"),
                                           descending=args.get("order", "desc") != "asc")
            for label in follow:  # the same navigation as over HTTP, untimed
                page = listing.queue(ctx, actor, filters)
                if label == NEXT and page.has_next:
                    filters = dataclasses.replace(filters, after=page.last_key, before="", last=False)
                elif label == PREVIOUS and page.has_previous:
                    filters = dataclasses.replace(filters, before=page.first_key, after="", last=False)
                elif label == LAST and page.has_next:
                    filters = dataclasses.replace(filters, last=True, after="", before="")
            session.rollback()
            start = time.perf_counter()
            listing.queue(ctx, actor, filters)
            listing.overdue_count(ctx, actor)
            listing.pending_approvals(ctx, actor)
            listing.attention_counts(ctx, actor)
            service.active_reviewers(ctx)
            per_kind[kind].append(time.perf_counter() - start)
            session.rollback()
    print("\nIn-process service time (queue() + the layout's counts, no HTTP, no template):")
    for kind, values in sorted(per_kind.items(), key=lambda kv: -Summary.of(kv[1]).p95):
        s = Summary.of(values)
        print(f"  {kind:<22} n={s.n:<4} median {ms(s.median):>10}  p95 {ms(s.p95):>10}")
    ranked = sorted(statements.items(), key=lambda kv: -sum(kv[1]))[:top]
    print(f"\nStatements by total time (top {top}):")
    with engine.connect() as conn:
        for statement, values in ranked:
            s = Summary.of(values)
            one_line = " ".join(statement.split())
            print(f"\n  total {sum(values):.2f} s, n={s.n}, median {ms(s.median)}, p95 {ms(s.p95)}")
            print(f"  {one_line[:600]}{' ...' if len(one_line) > 600 else ''}")
            prefix = "EXPLAIN QUERY PLAN " if engine.dialect.name == "sqlite" else "EXPLAIN "
            try:
                plan = conn.exec_driver_sql(prefix + statement, params_of[statement]).all()
            except Exception as exc:  # noqa: BLE001 (a plan we cannot show is not fatal)
                print(f"    (no plan: {type(exc).__name__})")
                continue
            for row in plan:
                print("    " + (str(row[-1]) if engine.dialect.name == "sqlite" else str(row[0])))
    db.dispose()


# -- main -------------------------------------------------------------------------------------


def load(args, n: int, url: str, kind: str, log) -> tuple[Path, Path, dict, benchlib.Credentials]:
    """A fresh instance with n reports: (temporary directory, instance, facts, credentials)."""
    tmp = Path(tempfile.mkdtemp(prefix="portal-queue-bench-"))
    instance = tmp / "instance"
    if url:
        log(f"Resetting PostgreSQL schema {args.pg_schema} ...")
        benchlib.reset_postgres_schema(args.database_url, args.pg_schema)
    log(f"Initialising {instance} ({kind}) ...")
    creds = benchlib.init_instance(instance, url or None)
    db_url = url or f"sqlite:///{instance / 'portal.sqlite3'}"
    log(f"Loading {n:,} reports ...")
    facts = populate_pg_bulk(db_url, n, args.seed, log) if url else populate(db_url, n, args.seed, log)
    if url or args.sqlite_analyze:
        facts["analyze_seconds"] = analyze(db_url)
    (instance / "bench-facts.txt").write_text(repr({**facts, "credentials": [creds.login, creds.passphrase, creds.totp_secret],
                                                    "database_url": url, "reports": n}))
    return tmp, instance, facts, creds


def timed(instance: Path, url: str, creds: benchlib.Credentials, mix, warmup: int, requests: int, log) -> dict[str, list[float]]:
    server = benchlib.Gunicorn("triage", instance, url or None)
    try:
        ready = server.wait_ready()
        log(f"gunicorn triage ready in {ready:.1f} s on port {server.port}; timing {requests} queue requests ...")
        return measure_http(server.port, creds, mix, warmup)
    finally:
        server.stop()


def print_table(total_reports: int, kind: str, machine: str, facts: dict, timings: dict[str, list[float]]) -> None:
    print(f"\nTriage queue page, {total_reports:,} reports, {kind}, gunicorn 2 sync workers, one client, sequential")
    print(f"Machine: {machine}")
    if "load_seconds" in facts:
        extra = f", ANALYZE {facts['analyze_seconds']:.1f} s" if "analyze_seconds" in facts else ", no ANALYZE"
        print(f"Data: {facts['subject_rows']:,} subject rows, stages {facts['stages']}; loaded in {facts['load_seconds']:.1f} s{extra}")
    width = 22
    print(f"\n{'request kind':<{width}} {'n':>4} {'median':>10} {'p95':>10} {'max':>10}")
    print("-" * (width + 38))
    rows = sorted(((k, v) for k, v in timings.items() if k != "all"), key=lambda kv: -Summary.of(kv[1]).median)
    for name, values in rows + [("ALL", timings["all"])]:
        s = Summary.of(values)
        if name == "ALL":
            print("-" * (width + 38))
        print(f"{name:<{width}} {s.n:>4} {ms(s.median):>10} {ms(s.p95):>10} {ms(s.maximum):>10}")
    overall = Summary.of(timings["all"])
    verdict = "meets" if overall.p95 < TARGET_P95 else "MISSES"
    print(f"\nTarget p95 < {TARGET_P95 * 1000:.0f} ms: {verdict} it (p95 {ms(overall.p95)}, "
          f"{overall.p95 / TARGET_P95:.2f}x the target).")


def print_scaling(kind: str, results: list[tuple[int, dict[str, list[float]]]]) -> None:
    """One table, one column per size: each request kind's median / p95, and the growth of its p95."""
    sizes = [n for n, _ in results]
    names = sorted({k for _, t in results for k in t if k != "all"}) + ["all"]
    width = 22
    head = "".join(f"{f'{n:,} median / p95':>26}" for n in sizes)
    print(f"\nTriage queue page by number of reports ({kind}; ms; one client, sequential)")
    print(f"{'request kind':<{width}}{head}{'p95 growth':>14}")
    print("-" * (width + 26 * len(sizes) + 14))
    for name in names:
        cells, p95s = "", []
        for _, timings in results:
            if timings.get(name):
                s = Summary.of(timings[name])
                cells += f"{ms(s.median) + ' / ' + ms(s.p95):>26}"
                p95s.append(s.p95)
            else:
                cells += f"{'-':>26}"
        growth = f"{p95s[-1] / p95s[0]:.1f}x" if len(p95s) > 1 and p95s[0] else ""
        print(f"{name.upper() if name == 'all' else name:<{width}}{cells}{growth:>14}")
    worst = max(Summary.of(t[name]).p95 for _, t in results for name in t if name != "all")
    print(f"\nSlowest request kind's p95 at any size: {ms(worst)} (target {TARGET_P95 * 1000:.0f} ms: "
          f"{'met' if worst < TARGET_P95 else 'MISSED'}).")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--reports", type=int, default=100_000)
    ap.add_argument("--sizes", default="", help="comma-separated report counts, one fresh load each, and one table "
                                                "comparing them (e.g. 10000,100000,1000000)")
    ap.add_argument("--requests", type=int, default=200, help="timed queue requests (default 200)")
    ap.add_argument("--warmup", type=int, default=10)
    ap.add_argument("--database-url", default="", help="PostgreSQL URL (default: SQLite in the temporary instance)")
    ap.add_argument("--pg-schema", default="public", help="schema to drop, recreate and use on PostgreSQL (default public)")
    ap.add_argument("--sqlite-analyze", action="store_true", help="run ANALYZE on SQLite after loading")
    ap.add_argument("--explain", action="store_true", help="also time every SQL statement in-process and show plans")
    ap.add_argument("--top", type=int, default=6, help="statements shown by --explain")
    ap.add_argument("--seed", type=int, default=20240501)
    ap.add_argument("--instance", type=Path, help="reuse this populated instance (made with --keep) instead of loading")
    ap.add_argument("--keep", action="store_true", help="keep the temporary instance (path printed)")
    args = ap.parse_args()

    log = benchlib.log
    url, kind = benchlib.database_choice(args.database_url, args.pg_schema)
    machine = benchlib.machine_line()
    sizes = [int(x) for x in args.sizes.split(",") if x.strip()] if args.sizes else [args.reports]
    results: list[tuple[int, dict[str, list[float]]]] = []
    for n in sizes:
        tmp = None
        if args.instance:
            instance = args.instance.resolve()
            facts = eval((instance / "bench-facts.txt").read_text())  # noqa: S307 (our own repr, written by load())
            creds = benchlib.Credentials(*facts.pop("credentials"))
            url = facts.pop("database_url")
            kind = "PostgreSQL" if url else "SQLite"
            n = facts.get("reports", n)
        else:
            tmp, instance, facts, creds = load(args, n, url, kind, log)
        db_url = url or f"sqlite:///{instance / 'portal.sqlite3'}"
        mix = request_mix(args.requests + args.warmup, facts, args.seed)
        timings = timed(instance, url, creds, mix, args.warmup, args.requests, log)
        print_table(n, kind, machine, facts, timings)
        results.append((n, timings))
        if args.explain:
            explain(instance, db_url, mix[args.warmup:], args.top)
        if tmp is not None:
            if args.keep:
                print(f"\nInstance kept: {instance}  (rerun with --instance {instance})")
            else:
                shutil.rmtree(tmp, ignore_errors=True)
    if len(results) > 1:
        print_scaling(kind, results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
