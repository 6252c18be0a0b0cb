"""The workflow vocabulary's stored values are a contract with the database (no migration
renames them), and the derived maps must agree with the enums they come from."""

from __future__ import annotations

import json

from portal.triage.vocabulary import (
    INVESTIGATION_ROUTES,
    OUTCOMES,
    PRIORITIES,
    PRIORITY_RANK,
    ROUTES,
    STAGES,
    Outcome,
    Priority,
    Route,
    Stage,
)


def test_stored_values_are_unchanged():
    assert [s.value for s in Stage] == ["new", "assessing", "escalated", "closure-pending", "closed"]
    assert [r.value for r in Route] == [
        "professional-standards", "anti-corruption", "external-oversight", "criminal-investigation", "safeguarding",
        "management-action",
    ]
    assert [o.value for o in Outcome] == ["action-taken", "referred-elsewhere", "no-further-action"]
    assert [p.value for p in Priority] == ["normal", "high", "urgent"]


def test_members_are_the_strings_they_store():
    assert Stage.CLOSURE_PENDING == "closure-pending" and str(Stage.CLOSURE_PENDING) == "closure-pending"
    assert f"{Route.SAFEGUARDING}" == "safeguarding"
    assert json.dumps({"stage": Stage.NEW}) == '{"stage": "new"}'
    assert Stage("closed") is Stage.CLOSED


def test_label_maps_look_up_plain_strings():
    assert STAGES["closure-pending"] == "Closure awaiting approval"
    assert ROUTES["anti-corruption"] == "Anti-corruption unit (covert enquiries)"
    assert OUTCOMES["no-further-action"] == "No further action"
    assert list(PRIORITIES.items()) == [("normal", "Normal"), ("high", "High"), ("urgent", "Urgent")]


def test_investigation_routes_and_priority_rank_are_derived():
    assert INVESTIGATION_ROUTES == {"professional-standards", "anti-corruption", "external-oversight", "criminal-investigation",
                                   "safeguarding"}
    assert "management-action" not in INVESTIGATION_ROUTES
    assert PRIORITY_RANK == {"normal": 0, "high": 1, "urgent": 2}
