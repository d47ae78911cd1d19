"""Alerts: one message per outcome, readable by a person on call from the message alone.

An alert has a natural key (profile, outcome, and what it is about), so that however many times its cause is
delivered, it is published once (the SNS adapter makes publishing idempotent on the key).
"""

# Annotations are evaluated as written, not postponed: see retune.modeling.
import re
from datetime import datetime

from pydantic import Field

from retune.modeling import Model
from retune.naming import PROFILE_NAME_MAX, PROFILE_NAME_PATTERN, package_group
from retune.outcomes import Outcome
from retune.records import RoundRecord

SUBJECT_MAX = 100  # SNS's limit for e-mail subjects
ERROR_SHOWN = 500  # of an unexpected error's message, in an alert


class Alert(Model):
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


def _shown(text: str) -> str:
    """A key as a person can read it in a message: what is not printable escaped."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


def drop_refused(bucket: str, key: str, problems: list[str]) -> Alert:
    """An uploaded manifest retune cannot take as a drop: keyed by the object's key, so one message per key."""
    parts = key.split("/")
    folder = parts[1] if len(parts) > 1 else ""
    profile = folder if re.match(PROFILE_NAME_PATTERN, folder) and len(folder) <= PROFILE_NAME_MAX else "*"
    shown = _shown(key)
    return Alert(
        key=f"refused/{bucket}/{key}",
        profile=profile,
        outcome="drop_refused",
        subject=f"[retune] not a drop: {shown}",
        lines=[
            f"retune cannot take s3://{bucket}/{shown} as a drop, and started nothing:",
            *problems,
            "",
            "What to do: upload the drop's files and then its manifest under datasets/<profile>/<drop>/, where",
            f"<profile> names profiles/<profile>.json (lowercase letters, digits and '-', at most {PROFILE_NAME_MAX})",
            "and <drop> is 1 to 128 printable characters other than '.' and '..'.",
        ],
    )


def launch_failed(profile: str, drop_id: str, version: str, key: str, errors: list[str]) -> Alert:
    """SageMaker would not create the round's tuning job: a refusal, or retries spent. The drop failed; its
    key is drop_failed's (a version of a drop fails once, one way or the other)."""
    return Alert(
        key=f"{profile}/drop/{drop_id}/{version}/failed",
        profile=profile,
        outcome="launch_failed",
        subject=f"[retune] {profile} drop {drop_id}: its round did not start",
        lines=[
            f"The drop {drop_id} of profile {profile} was valid, but its round did not start:",
            *[f"  - {e}" for e in errors],
            f"Manifest: {key}",
            "",
            "The drop is failed and the profile is free for its next drop.",
            "What to do: fix the cause above (the SageMaker execution role and who may pass it, the profile's",
            "training settings), then retry the drop: `retune retry <profile> <drop>` or upload its manifest again.",
        ],
    )


def limit_exceeded(profile: str, drop_id: str, seq: int, message: str, since: datetime) -> Alert:
    """Keyed by the profile and the start of the episode: one message while capacity stays short, whichever drop
    meets the limit and however often Reconcile tries."""
    return Alert(
        key=f"{profile}/limit/{since.isoformat()}",
        profile=profile,
        outcome="limit_exceeded",
        subject=f"[retune] {profile} drop {drop_id}: waiting for SageMaker capacity",
        lines=[
            f"SageMaker refused round {seq} of {profile} (drop {drop_id}) with ResourceLimitExceeded:",
            f"  {message}",
            "",
            "The profile's newest drop stays queued; Reconcile retries it at its next run, then after 5, 10, 20",
            "and 40 minutes, then every hour. This is the one alert until a round of the profile starts again.",
            "What to do: nothing, unless it persists: then raise the account's SageMaker limits",
            "or stop other tuning jobs.",
        ],
    )


def _console(region: str | None, fragment: str) -> str:
    if not region:
        return ""
    return f"https://{region}.console.aws.amazon.com/sagemaker/home?region={region}#/{fragment}"


def _package_lines(package_arn: str, region: str | None) -> list[str]:
    """The package's ARN and a console link to its group (arn:...:model-package/<group>/<version>)."""
    lines = [f"Model package: {package_arn}"]
    group = package_group(package_arn)
    link = _console(region, f"model-registry/{group}") if group else ""
    if link:
        lines.append(f"Model registry: {link}")
    return lines


def _range(r: dict[str, object]) -> str:
    if "values" in r:
        return "{" + ", ".join(map(str, r["values"])) + "}"  # type: ignore[call-overload]
    scaling = str(r.get("scaling") or "Auto")
    suffix = "" if scaling == "Auto" else f" {scaling.lower()}"
    return f"{r.get('min_value'):.4g}..{r.get('max_value'):.4g}{suffix}"


def _change(setting: str, before: object, after: object) -> str:
    """A plan's move as a person reads it; for the search ranges, only the ranges that moved."""
    if setting == "ranges" and isinstance(before, list) and isinstance(after, list):
        old = {r["name"]: r for r in before if isinstance(r, dict)}
        new = {r["name"]: r for r in after if isinstance(r, dict)}
        moved = [
            f"{name} {_range(old[name]) if name in old else '(none)'} -> "
            f"{_range(new[name]) if name in new else '(not searched)'}"
            for name in [*old, *(n for n in new if n not in old)]
            if old.get(name) != new.get(name)
        ]
        return "; ".join(moved) or "unchanged"
    return f"{before!r} -> {after!r}"


def saved_line(rnd: RoundRecord) -> str | None:
    """What the round's plan saved against the profile's full budget: that many trials at the round's mean
    billable seconds per trial, minus what it billed."""
    trials = sum(rnd.trial_counts.values())
    if not rnd.budget_max_jobs or not trials or not rnd.billable_seconds:
        return None
    full = rnd.budget_max_jobs * rnd.billable_seconds / trials
    saved = full - rnd.billable_seconds
    return (
        f"Saved against the profile's full budget ({rnd.budget_max_jobs} trials, about {full:.0f} billable s): "
        f"{saved:.0f} s ({saved / full:.0%})"
    )


def _score(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.4f}"


def round_lines(rnd: RoundRecord, region: str | None = None) -> list[str]:
    """What a person on call needs about a round, from the message alone."""
    lines = [
        f"Profile: {rnd.profile}",
        f"Drop: {rnd.drop_id}",
        f"Round: {rnd.seq} (tuning job {rnd.tuning_job_name}, {rnd.tuning_status or 'running'})",
        _trials_line(rnd),
        f"Best trial: {rnd.best_training_job or 'none'} ({rnd.objective_metric} {_score(rnd.best_objective)} "
        "on validation)",
        f"Compute: {rnd.compute if rnd.compute is not None else 'n/a'} (trainer's count); "
        f"billable {rnd.billable_seconds} s",
    ]
    saved = saved_line(rnd)
    if saved:
        lines.append(saved)
    planned = rnd.plan.max_jobs.value
    lines.append(
        f"Plan: {planned} trials, {rnd.plan.max_parallel_jobs.value} in parallel, "
        f"early stopping {rnd.plan.early_stopping.value}"
    )
    changes = rnd.plan.changes()
    if changes:
        lines.append("Plan changes for this round:")
        lines.extend(f"  - {c.setting}: {_change(c.setting, c.from_, c.to)} ({c.reason})" for c in changes)
    link = _console(region, f"hyper-tuning-jobs/{rnd.tuning_job_name}")
    if link:
        lines.append(f"Tuning job: {link}")
    return lines


def _trials_line(rnd: RoundRecord) -> str:
    counts = rnd.trial_counts
    # Stopped trials that Auto did not stop were stopped by their time limit (or by a person).
    other = counts.get("Stopped", 0) - rnd.stopped_early
    parts = [
        f"{counts.get('Completed', 0)} completed",
        f"{rnd.stopped_early} stopped early",
        *([f"{other} stopped by their time limit or by hand"] if other > 0 else []),
        f"{counts.get('Failed', 0)} failed",
    ]
    return f"Trials: {', '.join(parts)}, {sum(counts.values())} in all"


def decision(rnd: RoundRecord, region: str | None = None) -> Alert:
    """The round's outcome: promoted, not promoted, or waiting for a person's approval."""
    assert rnd.decision is not None and rnd.evaluation is not None
    d, e = rnd.decision, rnd.evaluation
    outcome: Outcome = {
        "approved": "promoted",
        "rejected": "not_promoted",
        "pending_manual": "pending_approval",
    }.get(d.outcome, "round_failed")  # type: ignore[assignment]
    versus = (
        f" vs champion {_score(e.champion_score)}" if e.champion_score is not None else ", no champion yet"
    )
    verb = {
        "promoted": "promoted",
        "not_promoted": "not promoted",
        "pending_approval": "awaiting approval",
    }.get(outcome, "not evaluated")
    lines = [
        f"Decision: {verb}. {d.reason}",
        f"Evaluation ({e.job_name}, on the drop's held-out test data, {rnd.objective_metric}): "
        f"challenger {_score(e.challenger_score)}, champion {_score(e.champion_score)}",
        *round_lines(rnd, region),
    ]
    if d.model_package_arn:
        lines.extend(_package_lines(d.model_package_arn, region))
    if outcome == "pending_approval":
        lines.append("What to do: review the package in the Model Registry and approve or reject it;")
        lines.append("an approval promotes it and deploys it to the profile's endpoint, if any.")
    return Alert(
        key=f"{rnd.profile}/round/{rnd.seq}/decision",
        profile=rnd.profile,
        outcome=outcome,
        subject=f"[retune] {rnd.profile} round {rnd.seq}: {verb} "
        f"(test {rnd.objective_metric} {_score(e.challenger_score)}{versus})",
        lines=lines,
    )


def round_failed(rnd: RoundRecord, reason: str, region: str | None = None) -> Alert:
    evaluation = rnd.evaluation
    if evaluation is not None and evaluation.status in ("Failed", "Stopped"):
        what = f"evaluation {evaluation.status}"
    elif evaluation is not None and evaluation.status == "Completed":
        what = "not evaluated"  # the evaluation ran, but what it reported (or the profile) allows no decision
    else:
        what = f"tuning job {rnd.tuning_status}" if rnd.tuning_status else "not evaluated"
    return Alert(
        key=f"{rnd.profile}/round/{rnd.seq}/failed",
        profile=rnd.profile,
        outcome="round_failed",
        subject=f"[retune] {rnd.profile} round {rnd.seq}: failed ({what})",
        lines=[
            f"Round {rnd.seq} of {rnd.profile} ended without a model to promote: {reason}",
            *round_lines(rnd, region),
            "What to do: read the FailureReason above and the trials' logs in CloudWatch",
            "(/aws/sagemaker/TrainingJobs); fix the profile or the data and drop again.",
        ],
    )


def over_budget(rnd: RoundRecord, budget: float, region: str | None = None) -> Alert:
    return Alert(
        key=f"{rnd.profile}/round/{rnd.seq}/over-budget",
        profile=rnd.profile,
        outcome="over_budget",
        subject=f"[retune] {rnd.profile} round {rnd.seq}: over its compute budget "
        f"({rnd.compute:g} > {budget:g} compute)",
        lines=[
            f"Round {rnd.seq} of {rnd.profile} spent {rnd.compute} (trainer's compute count); "
            f"the profile's budget is {budget}.",
            *round_lines(rnd, region),
            "What to do: lower budget.max_jobs or the policy's ceilings, or raise budget.compute_budget.",
        ],
    )


def approved_by_hand(
    rnd: RoundRecord | None, profile: str, package_arn: str, who: str, region: str | None = None
) -> Alert:
    where = f"round {rnd.seq}" if rnd else "an earlier package"
    return Alert(
        key=f"{profile}/champion/{package_arn}/approved",
        profile=profile,
        outcome="approved_by_hand",
        subject=f"[retune] {profile}: champion set by hand ({where})",
        lines=[
            f"{who} approved {package_arn}; it is now the champion of {profile}.",
            *_package_lines(package_arn, region),
            *(
                [
                    f"Evaluation ({rnd.evaluation.job_name}, {rnd.objective_metric}): challenger "
                    f"{_score(rnd.evaluation.challenger_score)}, champion {_score(rnd.evaluation.champion_score)}"
                ]
                if rnd and rnd.evaluation
                else []
            ),
            *(round_lines(rnd, region) if rnd else []),
        ],
    )


def approval_refused(
    profile: str, package_arn: str, who: str, reason: str, region: str | None = None
) -> Alert:
    """A person approved (or `retune promote`d) a package that may not become the champion."""
    return Alert(
        key=f"{profile}/champion/{package_arn}/refused",
        profile=profile,
        outcome="approved_by_hand",
        subject=f"[retune] {profile}: approval by hand refused ({package_arn.partition(':model-package/')[2]})",
        lines=[
            f"{who} approved {package_arn} for {profile}; it was not made the champion: {reason}.",
            *_package_lines(package_arn, region),
            "What to do: approve a package retune registered for this profile in its own model package group",
            f"(`retune rounds {profile}` lists each round's package); the champion is unchanged.",
        ],
    )


def round_stalled(rnd: RoundRecord, quiet_seconds: float, region: str | None = None) -> Alert:
    return Alert(
        key=f"{rnd.profile}/round/{rnd.seq}/stalled",
        profile=rnd.profile,
        outcome="round_stalled",
        subject=f"[retune] {rnd.profile} round {rnd.seq}: stalled (no trial event for {int(quiet_seconds)} s)",
        lines=[
            f"No trial of round {rnd.seq} ({rnd.tuning_job_name}) has changed state for {int(quiet_seconds)} s,",
            f"several times its per-trial limit of {rnd.plan.max_runtime_seconds.value} s.",
            *round_lines(rnd, region),
            "What to do: look at the tuning job (link above); stop it with `retune stop "
            f"{rnd.profile} {rnd.seq}` if it hangs.",
        ],
    )


def parked_events(queue_url: str, count: int, now: datetime) -> Alert:
    """Keyed by the queue and the hour: while events wait, one alert an hour (Reconcile looks every few
    minutes), however the count moves."""
    name = queue_url.rsplit("/", 1)[-1]
    return Alert(
        key=f"parked/{name}/{now:%Y-%m-%dT%H}",
        profile="*",
        outcome="parked_events",
        subject=f"[retune] {count} event(s) parked on {name}",
        lines=[
            f"{count} event(s) wait on {queue_url}: an invocation failed after Lambda's retries,",
            "or EventBridge could not deliver it.",
            "What to do: read the messages (they hold the event and the error), fix the cause,",
            "then replay them with `retune redrive`.",
        ],
    )


def reconcile_failed(profile: str, what: str, about: str, error: BaseException, now: datetime) -> Alert:
    """One item Reconcile could not finish (`what`, e.g. "market-xgb round 3"; `about` its part of the key).
    Keyed by the item, the error's type and the day: Lambda's retries of the failed run and the runs every few
    minutes after it publish it once a day while it persists."""
    kind = type(error).__name__
    message = str(error)
    if len(message) > ERROR_SHOWN:
        message = message[: ERROR_SHOWN - 3] + "..."
    return Alert(
        key=f"{profile}/reconcile/{about}/{kind}/{now:%Y-%m-%d}",
        profile=profile,
        outcome="reconcile_failed",
        subject=f"[retune] {what}: Reconcile failed ({kind})",
        lines=[
            f"Reconcile could not finish {what}: {kind}: {message}",
            "The other profiles and queues were reconciled. This run ends failed (the Reconcile function's",
            "Errors alarm fires), and every run, every few minutes, tries this again.",
            'What to do: find "reconcile item failed" with this item in the Reconcile function\'s log group',
            "(/aws/lambda/<stack>-ReconcileFunction-...) for the traceback, and fix the cause; nothing needs",
            "replaying: the next run after the fix finishes it.",
        ],
    )


def deployment_failed(rnd: RoundRecord, endpoint: str, reason: str, region: str | None = None) -> Alert:
    return Alert(
        key=f"{rnd.profile}/round/{rnd.seq}/deploy-failed/{endpoint}",
        profile=rnd.profile,
        outcome="deployment_failed",
        subject=f"[retune] {rnd.profile} round {rnd.seq}: deployment to {endpoint} failed",
        lines=[
            f"Endpoint {endpoint} failed to take the champion of round {rnd.seq}: {reason}",
            *(
                _package_lines(str(rnd.deployment["model_package_arn"]), region)
                if rnd.deployment and rnd.deployment.get("model_package_arn")
                else []
            ),
            *([f"Endpoint: {link}"] if (link := _console(region, f"endpoints/{endpoint}")) else []),
            *round_lines(rnd, region),
            "What to do: read the endpoint's FailureReason (above, and in DescribeEndpoint) and its CloudWatch",
            f"logs (/aws/sagemaker/Endpoints/{endpoint}), and fix the cause; then point the endpoint at this",
            f"round's config by hand (aws sagemaker update-endpoint --endpoint-name {endpoint} "
            f"--endpoint-config-name {(rnd.deployment or {}).get('config', '<config>')}),",
            "or let the next promoted round deploy. retune's champion record is unchanged either way.",
        ],
    )


def endpoint_not_owned(rnd: RoundRecord, endpoint: str, reason: str, region: str | None = None) -> Alert:
    """The profile names an endpoint retune did not create for it: nothing was deployed. One key with
    deployment_failed's: one message per round and endpoint."""
    return Alert(
        key=f"{rnd.profile}/round/{rnd.seq}/deploy-failed/{endpoint}",
        profile=rnd.profile,
        outcome="deployment_failed",
        subject=f"[retune] {rnd.profile} round {rnd.seq}: not deployed, {endpoint} is not the profile's endpoint",
        lines=[
            f"Round {rnd.seq}'s champion was not deployed: {reason}.",
            "retune updates only an endpoint it created for the profile (tagged "
            f"retune:profile={rnd.profile}); it left {endpoint} as it is.",
            *(
                _package_lines(str(rnd.deployment["model_package_arn"]), region)
                if rnd.deployment and rnd.deployment.get("model_package_arn")
                else []
            ),
            *round_lines(rnd, region),
            "What to do: name an endpoint of this profile's own in promotion.endpoint.name (retune creates it at",
            f"the next promotion); or, if retune did create {endpoint} for {rnd.profile}, tag it "
            f"retune:profile={rnd.profile}.",
            "The champion is unchanged; it is deployed at the next promoted round.",
        ],
    )
