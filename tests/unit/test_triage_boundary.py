"""The triage service boundary (#16): roles ranked once, one transaction per request, shared parsers."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from portal.triage.context import Actor, Forbidden, require_role, small_int
from portal.triage.models import Reviewer, Role

TRIAGE = Path(__file__).resolve().parents[2] / "portal" / "triage"


def _actor(role: Role) -> Actor:
    return Actor(Reviewer(login="x", display_name="X", role=role.value), private_key=None)  # type: ignore[arg-type]


@pytest.mark.parametrize(("role", "holds"), [
    (Role.REVIEWER, {Role.REVIEWER}),
    (Role.LEAD, {Role.REVIEWER, Role.LEAD}),
    (Role.ADMINISTRATOR, {Role.REVIEWER, Role.LEAD, Role.ADMINISTRATOR}),
])
def test_each_role_holds_the_roles_below_it(role, holds):
    actor = _actor(role)
    assert {r for r in Role if actor.holds(r)} == holds
    assert actor.is_lead == (Role.LEAD in holds)


def test_require_role_raises_forbidden_with_the_message():
    with pytest.raises(Forbidden, match="Only a lead"):
        require_role(_actor(Role.REVIEWER), Role.LEAD, "Only a lead can do that.")
    require_role(_actor(Role.ADMINISTRATOR), Role.LEAD)


@pytest.mark.parametrize(("text", "value"), [
    ("7", 7), ("000000012", 12), ("123456789", 123456789), ("1234567890", None), ("", None), (None, None),
    ("²", None), ("-1", None), (" 1", None), ("1e3", None), ("١", None),
])
def test_small_int_takes_ascii_digits_only(text, value):
    assert small_int(text) == value


def _commit_calls(path: Path) -> list[int]:
    tree = ast.parse(path.read_text("utf-8"))
    return [node.lineno for node in ast.walk(tree)
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in ("commit", "rollback")]


@pytest.mark.parametrize("path", sorted(TRIAGE.glob("*.py")), ids=lambda p: p.name)
def test_no_triage_module_commits_or_rolls_back(path):
    """Views and services never end a transaction: decorators.in_transaction does, once per request."""
    assert _commit_calls(path) == [], f"{path.name} ends a transaction itself"
