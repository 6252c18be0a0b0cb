"""Break-glass, the reporter's side (portal/reports/recovery.py): the organisation's offline
recovery key alone opens a report, its files' names and its conversation; nothing else does.
(The `portal keys recover` command around it has its own test.)"""

from __future__ import annotations

import pytest
from support import BLOB_STORES
from triage_support import integrity_checker, reporter_keys, seed_report

from portal.crypto.keys import RecipientPrivateKey
from portal.crypto.receipt import normalise_receipt_code, receipt_secret
from portal.reports.answers import Person
from portal.reports.receipts import find_with_secret
from portal.reports.recovery import recover_report, recovery_dek
from portal.reports.service import add_message, reporter_dek
from portal.reports.upload import EncryptingSink
from portal.triage.models import RecoveryKey


def _register(database, private: RecipientPrivateKey) -> None:
    public = private.public_key()
    with database.transaction() as session:
        session.add(RecoveryKey(fingerprint=public.fingerprint, public_key=public.to_bytes(), active=True))


@pytest.mark.parametrize("blob_store", BLOB_STORES)
def test_the_recovery_key_alone_reads_a_report_its_files_and_its_conversation(database, instance_dir, blob_store):
    recovery = RecipientPrivateKey.generate()
    _register(database, recovery)
    reference, code = seed_report(database, instance_dir, what_happened="RECOVER-WHAT-HAPPENED", when="last Tuesday",
                                  people=[Person(name="RECOVER-NAME", role="Sergeant", identifier="1234", unit="North")])
    keys = reporter_keys(instance_dir)
    secret = receipt_secret(normalise_receipt_code(code), keys.install_salt)
    with database.transaction() as session:  # the reporter follows up with a message and a file
        report = find_with_secret(session, keys.pepper, secret)
        dek = reporter_dek(report, secret)
        sink = EncryptingSink(session, dek, report.public_id, "RECOVER-FILE.txt", "text/plain")
        sink.write(b"evidence bytes")
        staged = sink.finish()
        add_message(session, report, dek, "RECOVER-REPLY", from_reporter=True, signer=keys.signer, attachments=[staged])

    with database.transaction() as session:
        text = recover_report(session, recovery, "  " + reference.lower() + " ", integrity_checker(instance_dir))  # as typed at the command line

    assert text.startswith(f"Report {reference}, received ")
    assert "RECOVER-WHAT-HAPPENED" in text and "When: last Tuesday" in text
    assert "Person: RECOVER-NAME | Sergeant | 1234 | North" in text
    assert "Attachment: RECOVER-FILE.txt (text/plain, 14 bytes)" in text
    assert "] Reporter: RECOVER-REPLY" in text
    with database.transaction() as session:  # the same data key the reporter's own code opens
        report = find_with_secret(session, keys.pepper, secret)
        assert recovery_dek(session, recovery, report) == reporter_dek(report, secret)


def test_recovery_refuses_an_unknown_reference_and_a_key_the_report_was_not_wrapped_to(database, instance_dir):
    recovery = RecipientPrivateKey.generate()
    _register(database, recovery)
    reference, _code = seed_report(database, instance_dir)
    with database.transaction() as session:
        with pytest.raises(LookupError, match="no report with that reference"):
            recover_report(session, recovery, "R-XXXX-XXXX", integrity_checker(instance_dir))
        with pytest.raises(LookupError, match="not wrapped to that recovery key"):
            recover_report(session, RecipientPrivateKey.generate(), reference, integrity_checker(instance_dir))
