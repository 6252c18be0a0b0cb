"""Case bundles end to end: a lead's referral and a routed report, opened by the body with
`portal referral open` and its own key file (no instance); wrong keys and tampering write nothing."""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
import os

import pytest
from click.testing import CliRunner
from sqlalchemy import select
from triage_support import seed_report

from portal.blobs.io import BlobWriter
from portal.cli import main
from portal.crypto.bundle import open_bundle
from portal.crypto.envelope import seal_record
from portal.crypto.keyfile import export_private_key, import_public_key
from portal.crypto.keys import RecipientPrivateKey, wrap_dek
from portal.crypto.stream import encrypt_stream
from portal.referrals.bodies import BodyKey
from portal.referrals.bundles import BundleFile, build_referral_bundle, build_routed_bundle
from portal.referrals.contents import BundleMessage, BundleNote
from portal.reports.answers import AttachmentMeta, MessageBody, Person, ReportAnswers
from portal.reports.models import Attachment, KeyWrap, Message, Report
from portal.reports.recovery import recovery_dek

PASSPHRASE = "the body's own key passphrase"
MARKER = "The inspector took the seized cash home on the 3rd"
BODY_KEY = RecipientPrivateKey.generate()
BODY = BodyKey("iopc", BODY_KEY.public_key().fingerprint, BODY_KEY.public_key().to_bytes())
PHOTO = os.urandom(200_000)


def _key_file(tmp_path, private=BODY_KEY, passphrase: str | None = PASSPHRASE, name="body.key"):
    from portal.crypto.kdf import Argon2Params

    path = tmp_path / name
    path.write_text(export_private_key(private, passphrase, Argon2Params(1, 8 * 1024, 1)))
    return path


def open_cli(*args: str, input: str | None = None):  # noqa: A002
    """`portal referral open ...` on the body's machine: no --instance, no PORTAL_* environment."""
    env = {name: None for name in os.environ if name.startswith("PORTAL_")}
    return CliRunner(env=env).invoke(main, ["referral", "open", *args], input=input, catch_exceptions=True)


def _referral():
    return build_referral_bundle(
        BODY, reference="RPT-7Q2X", received_on=dt.date(2026, 3, 2),
        answers=ReportAnswers(what_happened=MARKER, people=[Person(name="Insp Dale Moss", role="Inspector")], where="Evidence store"),
        messages=[BundleMessage(True, dt.date(2026, 3, 3), "I can give you the date."),
                  BundleMessage(False, dt.date(2026, 3, 4), "Thank you: which date?")],
        notes=[BundleNote("lead", dt.date(2026, 3, 5), "Cash log entries for the 3rd are missing.")],
        files=[BundleFile("photo of log.jpg", "image/jpeg", io.BytesIO(PHOTO)),
               BundleFile("photo of log.jpg", "image/png", iter([b"safe", b" copy"]), variant="safe-copy")],
        audit_excerpt=[{"seq": 4, "actor": "lead", "action": "report.escalated", "on": "2026-03-05"}],
        case={"category": "dishonesty-corruption", "route": "external-oversight"}, referred_by="lead",
        created_on=dt.date(2026, 3, 6),
    )


def test_a_referral_bundle_opens_with_the_body_key_file(tmp_path):
    bundle = _referral()
    assert bundle.sha256 == hashlib.sha256(bundle.data).hexdigest()
    assert MARKER.encode() not in bundle.data and b"Moss" not in bundle.data and PHOTO[:64] not in bundle.data
    (tmp_path / "case.bundle").write_bytes(bundle.data)
    out = tmp_path / "opened"
    result = open_cli(str(tmp_path / "case.bundle"), "--key", str(_key_file(tmp_path)), "--out", str(out), input=PASSPHRASE + "\n")
    assert result.exit_code == 0, (result.output, result.exception)
    assert f"Bundle SHA-256: {bundle.sha256}" in result.output and "report RPT-7Q2X" in result.output
    report = json.loads((out / "report.json").read_text())
    assert report["answers"]["what_happened"] == MARKER and report["answers"]["people"][0]["name"] == "Insp Dale Moss"
    assert report["case"]["category"] == "dishonesty-corruption"
    text = (out / "report.txt").read_text()
    assert MARKER in text and "Person: Insp Dale Moss | Inspector" in text and "[2026-03-04] Reviewer: Thank you: which date?" in text
    assert [m["text"] for m in json.loads((out / "messages.json").read_text())] == ["I can give you the date.", "Thank you: which date?"]
    assert json.loads((out / "notes.json").read_text())[0]["text"] == "Cash log entries for the 3rd are missing."
    assert json.loads((out / "audit.json").read_text())[0]["action"] == "report.escalated"
    assert (out / "files" / "001-photo_of_log.jpg").read_bytes() == PHOTO
    assert (out / "files" / "002-safe-copy-photo_of_log.jpg").read_bytes() == b"safe copy"
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["details"] == {"body": "iopc", "created_on": "2026-03-06", "reference": "RPT-7Q2X", "referred_by": "lead"}
    assert {e["path"]: e["sha256"] for e in manifest["entries"]}["files/001-photo_of_log.jpg"] == hashlib.sha256(PHOTO).hexdigest()
    assert (out / "report.json").stat().st_mode & 0o777 == 0o600


def test_a_wrong_key_or_passphrase_writes_nothing(tmp_path):
    (tmp_path / "case.bundle").write_bytes(_referral().data)
    out = tmp_path / "opened"
    wrong_passphrase = open_cli(str(tmp_path / "case.bundle"), "--key", str(_key_file(tmp_path)), "--out", str(out),
                                input="not the passphrase\n")
    assert wrong_passphrase.exit_code == 1 and "wrong passphrase" in wrong_passphrase.output
    stranger = _key_file(tmp_path, RecipientPrivateKey.generate(), None, "stranger.key")
    wrong_key = open_cli(str(tmp_path / "case.bundle"), "--key", str(stranger), "--out", str(out))
    assert wrong_key.exit_code == 1 and "did not open" in wrong_key.output and "Nothing was written" in wrong_key.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["body.key", "case.bundle", "stranger.key"]


@pytest.mark.parametrize("where", ["header", "wrap", "content", "manifest", "last byte"])
def test_a_tampered_bundle_writes_nothing(tmp_path, where):
    data = bytearray(_referral().data)
    header_len = 46 + 1218 + 32
    position = {"header": 10, "wrap": 46 + 600, "content": header_len + 100, "manifest": len(data) - 300, "last byte": len(data) - 1}[where]
    data[position] ^= 0x40
    (tmp_path / "case.bundle").write_bytes(bytes(data))
    result = open_cli(str(tmp_path / "case.bundle"), "--key", str(_key_file(tmp_path, passphrase=None)), "--out", str(tmp_path / "opened"))
    assert result.exit_code == 1 and "Nothing was written" in result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["body.key", "case.bundle"]


def test_open_refuses_a_destination_that_holds_something(tmp_path):
    (tmp_path / "case.bundle").write_bytes(_referral().data)
    (tmp_path / "opened").mkdir()
    (tmp_path / "opened" / "mine.txt").write_text("keep")
    result = open_cli(str(tmp_path / "case.bundle"), "--key", str(_key_file(tmp_path, passphrase=None)), "--out", str(tmp_path / "opened"))
    assert result.exit_code == 1 and "exists" in result.output
    assert [p.name for p in (tmp_path / "opened").iterdir()] == ["mine.txt"]


def _route_to_body(database, instance_dir, recovery_key) -> tuple[int, str]:
    """A report with a reporter's message and a file, wrapped to the body's key (as routing does)."""
    reference, _ = seed_report(database, instance_dir, what_happened=MARKER, people=[{"name": "Ch Supt Ann Lee"}])
    with database.transaction() as session:
        report = session.scalar(select(Report).where(Report.reference == reference))
        dek = recovery_dek(session, recovery_key, report)
        session.add(KeyWrap(report_id=report.id, recipient_fingerprint=BODY.fingerprint, wrap=wrap_dek(dek, BODY.recipient(), report.public_id)))
        message_id = os.urandom(16)
        session.add(Message(report_id=report.id, public_id=message_id, from_reporter=True, sent_on=dt.date(2026, 4, 1),
                            sealed_body=seal_record(dek, report.public_id, "message", MessageBody("One more thing.").to_json(), message_id)))
        attachment_id = os.urandom(16)
        writer = BlobWriter(session, attachment_id, attached=True)
        encrypt_stream(dek, report.public_id, attachment_id, io.BytesIO(PHOTO), writer)
        writer.close()
        meta = AttachmentMeta("rota.pdf", "application/pdf", len(PHOTO)).to_json()
        session.add(Attachment(report_id=report.id, public_id=attachment_id, ciphertext_bytes=writer.size,
                               sealed_meta=seal_record(dek, report.public_id, "attachment-meta", meta, attachment_id)))
        return report.id, reference


def test_a_routed_bundle_needs_no_plaintext_and_opens_with_the_body_key(database, instance_dir, recovery_key, tmp_path):
    report_id, reference = _route_to_body(database, instance_dir, recovery_key)
    with database.transaction() as session:
        bundle = build_routed_bundle(session, report_id, BODY)
        sealed_report = session.get(Report, report_id).sealed_report
    opened = open_bundle(io.BytesIO(bundle.data), BODY_KEY)
    stored: dict[str, io.BytesIO] = {}
    opened.extract(lambda entry: stored.setdefault(entry.path, io.BytesIO()))
    assert stored["sealed/report.bin"].getvalue() == sealed_report  # the stored ciphertext travels as it is
    assert opened.kind == "routed" and opened.details["reference"] == reference
    (tmp_path / "routed.bundle").write_bytes(bundle.data)
    result = open_cli(str(tmp_path / "routed.bundle"), "--key", str(_key_file(tmp_path)), "--out", str(tmp_path / "opened"),
                      input=PASSPHRASE + "\n")
    assert result.exit_code == 0, (result.output, result.exception)
    assert "Verified routed bundle" in result.output
    out = tmp_path / "opened"
    report = json.loads((out / "report.json").read_text())
    assert report["reference"] == reference and report["answers"]["what_happened"] == MARKER
    assert report["case"] == {"routed_to": "iopc"}
    assert json.loads((out / "messages.json").read_text()) == [{"from": "reporter", "sent_on": "2026-04-01", "text": "One more thing."}]
    assert (out / "files" / "001-rota.pdf").read_bytes() == PHOTO
    assert "Ch Supt Ann Lee" in (out / "report.txt").read_text()
    assert not (out / "sealed").exists()


def test_a_routed_bundle_needs_the_body_s_wrap(database, instance_dir, recovery_key):
    reference, _ = seed_report(database, instance_dir)
    other = RecipientPrivateKey.generate().public_key()
    with database.transaction() as session:
        report_id = session.scalar(select(Report.id).where(Report.reference == reference))
        with pytest.raises(LookupError, match="not wrapped to the body"):
            build_routed_bundle(session, report_id, BodyKey("pcc", other.fingerprint, other.to_bytes()))


def test_a_key_split_between_holders_opens_with_two_shares(tmp_path):
    """`portal bodies keygen --split 2-of-3` on the body's machine; `referral open` needs 2 of the shares."""
    keys = tmp_path / "keys"
    made = CliRunner().invoke(main, ["bodies", "keygen", "--out", str(keys), "--name", "iopc", "--split", "2-of-3"])
    assert made.exit_code == 0, (made.output, made.exception)
    assert "any 2 of the 3 share files" in made.output
    assert sorted(p.name for p in keys.iterdir()) == ["iopc.key", "iopc.pub", "iopc.share-1", "iopc.share-2", "iopc.share-3"]
    assert {(keys / f"iopc.share-{x}").stat().st_mode & 0o777 for x in (1, 2, 3)} == {0o600}
    public = import_public_key((keys / "iopc.pub").read_text())
    bundle = build_referral_bundle(BodyKey("iopc", public.fingerprint, public.to_bytes()), reference="RPT-SPLT",
                                   received_on=dt.date(2026, 5, 1), answers=ReportAnswers(what_happened=MARKER))
    (tmp_path / "case.bundle").write_bytes(bundle.data)
    one = open_cli(str(tmp_path / "case.bundle"), "--key", str(keys / "iopc.key"), "--share", str(keys / "iopc.share-2"),
                   "--out", str(tmp_path / "opened"))
    assert one.exit_code == 1 and "2 of its 3 shares are needed" in one.output and not (tmp_path / "opened").exists()
    two = open_cli(str(tmp_path / "case.bundle"), "--key", str(keys / "iopc.key"), "--share", str(keys / "iopc.share-3"),
                   "--share", str(keys / "iopc.share-1"), "--out", str(tmp_path / "opened"))
    assert two.exit_code == 0, (two.output, two.exception)
    assert MARKER in (tmp_path / "opened" / "report.txt").read_text()
