"""A tuning job's objective must be a metric SageMaker can read: for an image of one's own, one of the definition's
MetricDefinitions; a built-in algorithm brings its own. SageMaker refuses the request otherwise; it does not start trials
that can never report the objective."""

from __future__ import annotations

import pytest
from retune_local import builtin_xgboost

from tests.local_sagemaker.conftest import Connect, ServiceFactory, tuning_request

pytestmark = pytest.mark.local_stack

# SageMaker's answer, as users report it (aws/sagemaker-python-sdk#3932, aws/amazon-sagemaker-examples#1207).
NO_METRIC = "A metric is required for this hyperparameter tuning job objective. Provide a metric in the metric definitions."


def test_a_tuning_job_whose_objective_has_no_metric_definition_is_refused(
    make_service: ServiceFactory, connect: Connect
) -> None:
    service = make_service()
    client = connect(service)
    request = tuning_request("no-metrics")
    del request["TrainingJobDefinition"]["AlgorithmSpecification"]["MetricDefinitions"]

    with pytest.raises(client.exceptions.ClientError) as refused:
        client.create_hyper_parameter_tuning_job(**request)

    assert refused.value.response["Error"]["Code"] == "ValidationException"
    assert refused.value.response["Error"]["Message"] == NO_METRIC
    assert client.list_hyper_parameter_tuning_jobs()["HyperParameterTuningJobSummaries"] == []


def test_a_built_in_algorithms_tuning_job_needs_no_metric_definitions(
    make_service: ServiceFactory, connect: Connect
) -> None:
    """SageMaker's built-in XGBoost publishes validation:auc itself (profiles/churn-xgb.json names no definitions)."""
    service = make_service()
    client = connect(service)
    request = tuning_request("builtin-no-metrics")
    spec = request["TrainingJobDefinition"]["AlgorithmSpecification"]
    del spec["MetricDefinitions"]
    spec["TrainingImage"] = builtin_xgboost.image_uri("1.7-1")
    request["HyperParameterTuningJobConfig"]["HyperParameterTuningJobObjective"]["MetricName"] = (
        "validation:auc"
    )
    # Stopped at once: what matters is that the create call is accepted.
    client.create_hyper_parameter_tuning_job(**request)
    client.stop_hyper_parameter_tuning_job(HyperParameterTuningJobName="builtin-no-metrics")
    names = [
        s["HyperParameterTuningJobName"]
        for s in client.list_hyper_parameter_tuning_jobs()["HyperParameterTuningJobSummaries"]
    ]
    assert names == ["builtin-no-metrics"]
