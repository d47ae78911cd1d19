"""Alerts: one message per outcome, readable by a person on call from the message alone.

An alert has a natural key (profile, outcome, and what it is about), so that however many times its cause is
delivered, it is published once (the SNS adapter makes publishing idempotent on the key).
"""

from __future__ import annotations

from pydantic import BaseModel, Field

from retune.profile import Outcome

SUBJECT_MAX = 100  # SNS's limit for e-mail subjects


class Alert(BaseModel):
    key: str = Field(description="Natural key: the same key is published once.")
    profile: str
    outcome: Outcome
    subject: str
    lines: list[str] = Field(default_factory=list)

    @property
    def body(self) -> str:
        return "\n".join(self.lines) + "\n"

    @property
    def sns_subject(self) -> str:
        """SNS subjects are at most 100 printable ASCII characters on one line."""
        text = "".join(c if 32 <= ord(c) < 127 else "?" for c in self.subject.replace("\n", " "))
        return text if len(text) <= SUBJECT_MAX else text[: SUBJECT_MAX - 3] + "..."


def drop_failed(profile: str, drop_id: str, version: str, key: str, errors: list[str]) -> Alert:
    return Alert(
        key=f"{profile}/drop/{drop_id}/{version}/failed",
        profile=profile,
        outcome="drop_failed",
        subject=f"[retune] {profile} drop {drop_id}: failed validation ({len(errors)} error(s))",
        lines=[
            f"The drop {drop_id} of profile {profile} was not started: its manifest or profile is invalid.",
            f"Manifest: {key}",
            "",
            "Errors:",
            *[f"  - {e}" for e in errors],
            "",
            "What to do: fix the manifest (or profiles/<profile>.json) and upload the manifest again;",
            "a new upload of the manifest retries the drop.",
        ],
    )


def limit_exceeded(profile: str, drop_id: str, seq: int, message: str) -> Alert:
    return Alert(
        key=f"{profile}/drop/{drop_id}/limit/{seq}",
        profile=profile,
        outcome="limit_exceeded",
        subject=f"[retune] {profile} drop {drop_id}: waiting for SageMaker capacity",
        lines=[
            f"SageMaker refused round {seq} of {profile} (drop {drop_id}) with ResourceLimitExceeded:",
            f"  {message}",
            "",
            "The drop stays queued; Reconcile retries it every few minutes.",
            "What to do: nothing, unless it persists: then raise the account's SageMaker limits",
            "or stop other tuning jobs.",
        ],
    )
