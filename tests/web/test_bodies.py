"""Receiving bodies: the configured list, `portal bodies keygen/add/list`, and their keys."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from portal.config import load_settings
from portal.crypto.keyfile import format_fingerprint, import_private_key, import_public_key
from portal.instance import read_secret
from portal.referrals.bodies import BodiesError, bodies_for_route, body_key, independent_body, load_bodies, parse_bodies
from portal.referrals.models import ReceivingBodyKey
from portal.triage.audit import AuditEntry, verify_chain
from portal.triage.vocabulary import Route

PASSPHRASE = "a long passphrase for the body key"


@pytest.fixture
def cli(cli_environment):
    def run(*args: str, input: str | None = None):  # noqa: A002
        return cli_environment.invoke(["--instance", cli_environment.instance_dir, *args], input)
    return run


@pytest.fixture
def keygen(cli_environment):
    """`portal bodies keygen ...` on the body's own machine: no --instance."""
    def run(*args: str, input: str | None = None):  # noqa: A002
        return cli_environment.invoke(["bodies", "keygen", *args], input)
    return run


def ok(result) -> str:
    assert result.exit_code == 0, (result.output, result.exception)
    return result.output


def _entries(database):
    with database.transaction() as session:
        return [(e.actor, e.action, json.loads(e.detail)) for e in session.scalars(select(AuditEntry).order_by(AuditEntry.seq))]


def _fingerprint_line(output: str) -> str:
    return next(line for line in output.splitlines() if line.startswith("Fingerprint:")).split(":", 1)[1].strip()


def test_the_configured_bodies_cover_the_escalation_routes(settings_overrides):
    bodies = load_bodies(load_settings(settings_overrides))
    assert set(bodies) == {"iopc", "anti-corruption-unit", "criminal-investigation", "police-and-crime-commissioner"}
    assert independent_body(load_settings(settings_overrides)).slug == "iopc"
    served = {route for body in bodies.values() for route in body.routes}
    assert {Route.EXTERNAL_OVERSIGHT, Route.ANTI_CORRUPTION, Route.CRIMINAL_INVESTIGATION} <= served
    assert [b.slug for b in bodies_for_route(load_settings(settings_overrides), Route.CRIMINAL_INVESTIGATION)] == ["criminal-investigation"]
    assert bodies_for_route(load_settings(settings_overrides), Route.MANAGEMENT_ACTION) == []
    for body in bodies.values():  # no invented telephone numbers: the operator adds the details
        assert not any(ch.isdigit() for ch in body.contact.replace("www", "")), body.contact


def test_an_instance_bodies_file_replaces_the_default(settings_overrides, instance_dir):
    (instance_dir / "bodies.toml").write_text(
        '[[body]]\nslug = "watchdog"\nname = "W"\ncontact = "Room 1"\nroutes = ["external-oversight"]\nindependent = true\n')
    assert list(load_bodies(load_settings(settings_overrides))) == ["watchdog"]


@pytest.mark.parametrize("text, message", [
    ('[[body]]\nslug = "A b"\nname = "n"\ncontact = "c"\nroutes = []\n', "slug"),
    ('[[body]]\nslug = "a"\nname = "n"\ncontact = "c"\nroutes = ["nowhere"]\n', "unknown route"),
    ('[[body]]\nslug = "a"\nname = "n"\ncontact = "c"\nroutes = []\n' * 2, "used twice"),
    ('[[body]]\nslug = "a"\nname = "n"\nroutes = []\n', "needs slug"),
    ('[[body]]\nslug = "a"\nname = "n"\ncontact = "c"\nroutes = []\nindependent = true\n'
     '[[body]]\nslug = "b"\nname = "n"\ncontact = "c"\nroutes = []\nindependent = true\n', "at most one"),
    ("[[body]\n", "bodies.toml"),
])
def test_a_bad_bodies_file_is_refused_naming_the_problem(text, message):
    with pytest.raises(BodiesError, match=message):
        parse_bodies(text)


def test_keygen_needs_no_instance_and_add_shows_the_same_fingerprint(cli_environment, cli, database, instance_dir, tmp_path):
    passphrase_file = tmp_path / "passphrase.txt"
    passphrase_file.write_text(PASSPHRASE + "\n")
    out = tmp_path / "body-machine"
    # keygen on the body's machine: no instance at all
    made = ok(cli_environment.invoke(["bodies", "keygen", "--out", str(out), "--name", "iopc",
                                      "--passphrase-file", str(passphrase_file)]))
    private_text = (out / "iopc.key").read_text()
    assert (out / "iopc.key").stat().st_mode & 0o777 == 0o600
    public = import_public_key((out / "iopc.pub").read_text())
    assert import_private_key(private_text, PASSPHRASE).public_key() == public
    assert _fingerprint_line(made) == format_fingerprint(public.fingerprint)

    refused = cli("bodies", "add", "iopc", str(out / "iopc.pub"), input="n\n")
    assert refused.exit_code == 1 and "nothing registered" in refused.output
    wrong = cli("bodies", "add", "iopc", str(out / "iopc.pub"), "--fingerprint", "00" * 16)
    assert wrong.exit_code == 1 and "nothing registered" in wrong.output
    with database.transaction() as session:
        assert body_key(session, "iopc") is None

    added = ok(cli("bodies", "add", "iopc", str(out / "iopc.pub"), input="y\n"))
    assert _fingerprint_line(added) == _fingerprint_line(made)
    with database.transaction() as session:
        key = body_key(session, "iopc")
        assert key.fingerprint == public.fingerprint and key.recipient() == public
        assert session.scalars(select(ReceivingBodyKey)).one().added_by == "cli"
    assert ("cli", "body-key.registered", {"body": "iopc", "fingerprint": public.fingerprint}) in _entries(database)
    assert verify_chain(database.session, read_secret(instance_dir, "audit_key")).ok
    listed = ok(cli("bodies", "list"))
    assert f"key: {format_fingerprint(public.fingerprint)}" in listed and "none registered" in listed
    again = cli("bodies", "add", "anti-corruption-unit", str(out / "iopc.pub"), "--fingerprint", public.fingerprint)
    assert again.exit_code == 1 and "already registered" in again.output


def test_a_new_key_replaces_the_body_s_older_one(cli, keygen, database, tmp_path):
    for name in ("first", "second"):
        ok(keygen("--out", str(tmp_path / "keys"), "--name", name, "--no-passphrase"))
    first = import_public_key((tmp_path / "keys" / "first.pub").read_text())
    second = import_public_key((tmp_path / "keys" / "second.pub").read_text())
    ok(cli("bodies", "add", "criminal-investigation", str(tmp_path / "keys" / "first.pub"), "--fingerprint", first.fingerprint))
    # An attacker review replaced the independent body's active key with a bare "y": now it needs --replace.
    refused = cli("bodies", "add", "criminal-investigation", str(tmp_path / "keys" / "second.pub"), input="y\n")
    assert refused.exit_code == 1 and "already has an active key" in refused.output and "--replace" in refused.output
    with database.transaction() as session:
        assert body_key(session, "criminal-investigation").fingerprint == first.fingerprint
    ok(cli("bodies", "add", "criminal-investigation", str(tmp_path / "keys" / "second.pub"), "--replace",
           "--fingerprint", format_fingerprint(second.fingerprint).upper()))
    with database.transaction() as session:
        assert body_key(session, "criminal-investigation").fingerprint == second.fingerprint
        assert session.scalar(select(ReceivingBodyKey.active).where(ReceivingBodyKey.fingerprint == first.fingerprint)) is False
    assert ("cli", "body-key.registered", {"body": "criminal-investigation", "fingerprint": second.fingerprint,
                                           "replaced": first.fingerprint}) in _entries(database)


def test_add_refuses_an_unknown_body_and_a_file_that_is_no_public_key(cli, keygen, tmp_path):
    ok(keygen("--out", str(tmp_path / "k"), "--no-passphrase"))
    unknown = cli("bodies", "add", "nobody", str(tmp_path / "k" / "body-key.pub"), input="y\n")
    assert unknown.exit_code == 1 and "no body 'nobody'" in unknown.output
    private = cli("bodies", "add", "iopc", str(tmp_path / "k" / "body-key.key"), input="y\n")
    assert private.exit_code == 1 and "not a usable public key file" in private.output


def test_keygen_never_overwrites_and_needs_a_passphrase_choice(keygen, tmp_path):
    ok(keygen("--out", str(tmp_path), "--no-passphrase"))
    before = (tmp_path / "body-key.key").read_text()
    again = keygen("--out", str(tmp_path), "--no-passphrase")
    assert again.exit_code == 1 and "refusing to overwrite" in again.output
    assert (tmp_path / "body-key.key").read_text() == before
    assert keygen("--out", str(tmp_path / "x")).exit_code == 2
    short = tmp_path / "short.txt"
    short.write_text("too short\n")
    result = keygen("--out", str(tmp_path / "y"), "--passphrase-file", str(short))
    assert result.exit_code == 1 and "12 to" in result.output and not (tmp_path / "y").exists()
    prompted = ok(keygen("--out", str(tmp_path / "z"), "--prompt", input=f"{PASSPHRASE}\n{PASSPHRASE}\n"))
    assert "passphrase-protected" in prompted
    assert import_private_key((tmp_path / "z" / "body-key.key").read_text(), PASSPHRASE)


@pytest.mark.parametrize("command", [("bodies", "keygen"), ("keys", "keygen")])
def test_keygen_refuses_to_write_a_private_key_in_a_portal_instance(command, cli_environment, instance_dir, tmp_path):
    """Attacker review: keygen wrote an unprotected private key inside an instance without a word."""
    explicit = cli_environment.invoke(["--instance", str(instance_dir), *command, "--out", str(tmp_path / "keys"),
                                       "--no-passphrase"])
    assert explicit.exit_code == 2 and "without --instance" in explicit.output
    for out in (instance_dir, instance_dir / "keys", instance_dir / "secrets" / "k"):
        inside = cli_environment.invoke([*command, "--out", str(out), "--no-passphrase"])
        assert inside.exit_code == 2 and "portal instance directory" in inside.output, inside.output
    assert not list(instance_dir.rglob("*.key")) and not (tmp_path / "keys").exists()
    ok(cli_environment.invoke([*command, "--out", str(tmp_path / "own-machine"), "--no-passphrase"]))
    (tmp_path / "home" / "secrets").mkdir(parents=True)  # a folder merely called "secrets" is no instance
    ok(cli_environment.invoke([*command, "--out", str(tmp_path / "home" / "keys"), "--no-passphrase"]))
