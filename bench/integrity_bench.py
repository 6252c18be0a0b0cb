"""What integrity (issue 19) adds to a submission and to a report open, on this machine.

    .venv/bin/python bench/integrity_bench.py

Per submission (no-JavaScript path): the key commitment, the checks that every wrap and record
the server can open holds that key (the reporter's wrap, the sealed report, two files' details) and
the Ed25519 signature of the report statement; the JavaScript path pays only the signature.
Per report open: `verify_report` over a report with two files and six messages (three from the
reporter, signed; three from reviewers, bound) and two notes, rows in memory (no database).
Per reporter message: its position and signature. Medians of 2,000 runs, in microseconds.
"""

from __future__ import annotations

import datetime as dt
import os
import statistics
import time

from portal.crypto.envelope import new_data_key, seal_record
from portal.crypto.integrity import FileEntry, key_commitment, signer_public_key, triage_binding_key
from portal.crypto.keys import unwrap_dek_for_reporter, wrap_dek_for_reporter_root
from portal.crypto.receipt import reporter_root
from portal.instance import SignerPin
from portal.reports.integrity import (
    Checker,
    bind_note,
    check_one_key,
    reporter_signer,
    sign_message,
    sign_report,
    triage_binder,
    verify_report,
)
from portal.reports.models import Attachment, InternalNote, Message, Report

RUNS = 2000


def median_us(work) -> float:
    times = []
    for _ in range(RUNS):
        start = time.perf_counter()
        work()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1e6


def build():
    seed, audit_key, secret = os.urandom(32), os.urandom(32), os.urandom(32)
    dek, report_id = new_data_key(), os.urandom(16)
    sealed = seal_record(dek, report_id, "report", b"{" + b"x" * 4000 + b"}")
    ids = [os.urandom(16) for _ in range(2)]
    files = [(i, seal_record(dek, report_id, "attachment-meta", b'{"name":"a.jpg"}', i)) for i in ids]
    wrap = wrap_dek_for_reporter_root(dek, reporter_root(secret), report_id)
    report = Report(public_id=report_id, received_on=dt.date(2026, 12, 6), sealed_report=sealed,
                    key_commitment=key_commitment(dek, report_id))
    report.attachments = [Attachment(public_id=i, sealed_meta=m, message_id=None) for i, m in files]
    signer, binder, binding = reporter_signer(seed), triage_binder(triage_binding_key(audit_key)), triage_binding_key(audit_key)
    sign_report(report, signer)
    for seq in range(1, 7):
        message = Message(id=seq, public_id=os.urandom(16), seq=seq, from_reporter=seq % 2 == 1, reviewer_id=None if seq % 2 else 3,
                          sent_on=dt.date(2026, 12, 7), sealed_body=seal_record(dek, report_id, "message", b"m" * 500))
        report.messages.append(message)
        sign_message(report, message, [], signer if message.from_reporter else binder)
    for _ in range(2):
        note = InternalNote(public_id=os.urandom(16), author_id=3, written_on=dt.date(2026, 12, 7), sealed_body=b"n" * 300)
        report.notes.append(note)
        bind_note(report, note, binding)
    checker = Checker(SignerPin(signer_public_key(seed)), binding)
    return seed, secret, dek, report_id, sealed, files, wrap, report, checker, signer


def main() -> None:
    seed, secret, dek, report_id, sealed, files, wrap, report, checker, signer = build()
    assert not verify_report(report, dek, checker).altered

    def submission() -> None:
        commitment = key_commitment(dek, report_id)
        check_one_key(dek, report_id, unwrap_dek_for_reporter(wrap, secret, report_id), commitment, sealed, files)
        sign_report(report, signer)

    rows = [
        ("submission, no JavaScript (commitment + checks + signature)", median_us(submission)),
        ("submission, JavaScript (signature only)", median_us(lambda: sign_report(report, signer))),
        ("reporter message (signature)", median_us(lambda: sign_message(report, report.messages[0], [FileEntry(b"\0" * 16, b"\0" * 32)], signer))),
        ("report open: verify_report (2 files, 6 messages, 2 notes)", median_us(lambda: verify_report(report, dek, checker))),
    ]
    sign_message(report, report.messages[0], [], signer)
    for label, value in rows:
        print(f"{label:<62} {value:8.0f} us")


if __name__ == "__main__":
    main()
