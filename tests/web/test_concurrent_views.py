"""Issue 13: 16 of 20 concurrent views of a report answered 500 on SQLite
(`UNIQUE constraint failed: audit_log.seq`). Twenty reviewers' browsers open a report at the same
moment through the triage app: every one is answered, every view is in the chain, the chain
verifies against its checkpoints. SQLite and PostgreSQL."""

from __future__ import annotations

import threading

from triage_support import reviewer_cookie, seed_report, set_reviewer_cookie, signed_in_client

from portal.config import load_settings
from portal.instance import read_secret
from portal.triage.audit import history
from portal.triage.checkpoints import Checkpointer, verify


def test_twenty_concurrent_audited_views_never_fail(app_of_kind, database, instance_dir, settings_overrides, lead):
    reference, _ = seed_report(database, instance_dir)
    app = app_of_kind("triage")
    cookie = reviewer_cookie(signed_in_client(app, lead))
    barrier = threading.Barrier(20)
    statuses: list[int] = []

    def view() -> None:
        client = app.test_client()
        set_reviewer_cookie(client, cookie)
        barrier.wait()
        statuses.append(client.get(f"/reports/{reference}").status_code)

    threads = [threading.Thread(target=view) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert sorted(statuses) == [200] * 20
    with database.transaction() as session:
        assert sum(1 for e in history(session, reference) if e.action == "report.viewed") == 20
        result = verify(session, read_secret(instance_dir, "audit_key"),
                        Checkpointer.from_settings(load_settings(settings_overrides)).file)
    assert result.ok, result.problem
    assert result.latest is not None and result.latest.seq >= 11  # checkpointed while the views went on
