"""What every request passes before it runs: retune's shared validator (retune.validation), and the execution role
SageMaker must be able to assume."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from retune.errors import InvalidRequest
from retune.validation import ParentJob, validate_request

from retune_local import builtin_xgboost, errors
from retune_local.context import JobRoles


def validate(
    operation: str, params: Mapping[str, Any], parents: Mapping[str, ParentJob] | None = None
) -> None:
    """The request against SageMaker's service model and AMT's rules: a ValidationException joining every error."""
    try:
        validate_request(operation, params, parents=parents)
    except InvalidRequest as exc:
        raise errors.validation("; ".join(exc.errors)) from exc


def check_objective_metric(operation: str, request: Mapping[str, Any]) -> None:
    """For the user's own images SageMaker reads a tuning job's objective only through the definition's
    MetricDefinitions, and refuses a request without it (as users report it: aws/sagemaker-python-sdk#3932). A
    built-in algorithm (SageMaker's XGBoost) brings its own metric definitions."""
    if operation != "CreateHyperParameterTuningJob":
        return
    definition = request.get("TrainingJobDefinition") or {}
    if builtin_xgboost.parse(str((definition.get("AlgorithmSpecification") or {}).get("TrainingImage", ""))):
        return
    objective = (request.get("HyperParameterTuningJobConfig") or {}).get(
        "HyperParameterTuningJobObjective"
    ) or {}
    defined = {
        m.get("Name") for m in (definition.get("AlgorithmSpecification") or {}).get("MetricDefinitions") or []
    }
    if definition and objective.get("MetricName") and not defined:
        raise errors.validation(
            "A metric is required for this hyperparameter tuning job objective. "
            "Provide a metric in the metric definitions."
        )


def check_builtin_tuning(request: Mapping[str, Any]) -> None:
    """A CreateHyperParameterTuningJob request (valid in shape) for SageMaker's built-in XGBoost: AMT checks its
    objective and ranges against the algorithm's own when the job is created (builtin_xgboost.tuning_job_errors)."""
    definition = request.get("TrainingJobDefinition") or {}
    image = str((definition.get("AlgorithmSpecification") or {}).get("TrainingImage", ""))
    problems = builtin_xgboost.tuning_job_errors(image, request.get("HyperParameterTuningJobConfig") or {})
    if problems:
        raise errors.validation(" ".join(problems))


def check_roles(roles: JobRoles | None, request: Mapping[str, Any]) -> None:
    """SageMaker assumes a job's (or a model's) execution role: one that does not exist or does not trust
    sagemaker.amazonaws.com fails the request. Checked when the service knows the account's roles."""
    if roles is None:
        return
    definitions = [
        request.get("TrainingJobDefinition") or {},
        *(request.get("TrainingJobDefinitions") or []),
    ]
    named = [
        request.get("RoleArn"),
        request.get("ExecutionRoleArn"),
        *(d.get("RoleArn") for d in definitions),
    ]
    for role in named:
        if role and not roles.assumable(str(role)):
            raise errors.validation(
                f"Could not assume role {role}. Please ensure that the role exists and allows principal "
                "'sagemaker.amazonaws.com' to assume the role."
            )
