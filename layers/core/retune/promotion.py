"""Whether a challenger replaces the champion: both scored by the same evaluation job on the same held-out data.

The margin is a relative improvement in the objective's direction: with Minimize, the challenger must score below
champion × (1 − margin) (for a negative score, its magnitude is used); with Maximize, above champion × (1 + margin).
A challenger that merely ties never wins. No champion yet (None): the challenger wins. A score that is not a finite
number never wins, the champion's included.
"""

from __future__ import annotations

import math
from typing import Literal, NamedTuple

from retune.profile import Profile

ApprovalStatus = Literal["Approved", "Rejected", "PendingManualApproval"]


class Verdict(NamedTuple):
    wins: bool
    approval: ApprovalStatus
    outcome: Literal["approved", "rejected", "pending_manual"]
    reason: str


def relative_improvement(objective_type: str, challenger: float, champion: float) -> float:
    """How much better the challenger is, as a share of the champion's magnitude (negative: worse)."""
    scale = abs(champion) or 1.0
    gain = champion - challenger if objective_type == "Minimize" else challenger - champion
    return gain / scale


def judge(profile: Profile, challenger: float | None, champion: float | None) -> Verdict:
    metric, margin = profile.objective.metric_name, profile.promotion.margin
    manual = profile.promotion.approval == "manual"
    if challenger is None or not math.isfinite(challenger):
        return Verdict(
            False, "Rejected", "rejected", f"the evaluation reported no finite {metric} for the challenger"
        )
    if champion is None:
        wins, why = (
            True,
            f"first champion: the challenger scored {challenger:.4f} and there is no champion to beat",
        )
    elif not math.isfinite(champion):
        # A champion whose score is not a number is not an absent champion: nothing can be said to beat it.
        return Verdict(
            False, "Rejected", "rejected", f"the evaluation reported no finite {metric} for the champion"
        )
    else:
        gain = relative_improvement(profile.objective.type, challenger, champion)
        wins = gain > margin
        comparison = (
            f"challenger {challenger:.4f} vs champion {champion:.4f} on the same test data: "
            f"{gain:+.2%} {'better' if gain >= 0 else 'worse'}"
        )
        if wins:
            why = f"{comparison}, beyond the {margin:.2%} margin"
        elif gain > 0:
            why = f"{comparison}, within the {margin:.2%} margin: the champion stays"
        else:
            why = f"{comparison}: the champion stays"
    if not wins:
        return Verdict(False, "Rejected", "rejected", why)
    if manual:
        return Verdict(
            True, "PendingManualApproval", "pending_manual", f"{why}; the profile asks for manual approval"
        )
    return Verdict(True, "Approved", "approved", why)
