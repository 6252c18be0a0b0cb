"""Admission control for the reporter interface: who gets the server's CPU, memory and disk.

Behind Tor or nginx every reporter arrives from the same address, so nothing here
counts per address. Instead (docs/threat-model.md, "Availability"):

* `work`: proof of work on the JavaScript path (portal.crypto.puzzle), with a
  difficulty that follows the portal-wide rate of redeemed solutions;
* `gate`: a bounded, fair line for the Argon2id derivations the server does for
  the no-JavaScript path: two lines, with and without proof of work, taking turns;
* `storage`: a cap on the evidence files accepted per day.

`Admission` bundles the three for one application (`admission()` in a request).
"""

from __future__ import annotations

from dataclasses import dataclass

from portal import state
from portal.admission.gate import ArgonGate, GateBusy
from portal.admission.storage import DailyIntake
from portal.admission.work import LoadMeter, ProofOfWork

__all__ = ["Admission", "ArgonGate", "DailyIntake", "GateBusy", "LoadMeter", "ProofOfWork", "admission"]



@dataclass
class Admission:
    work: ProofOfWork
    gate: ArgonGate
    intake: DailyIntake

    def install(self, app) -> None:
        state.ADMISSION.install(app, self)


def admission() -> Admission:
    """The current application's admission control."""
    return state.ADMISSION.get()
