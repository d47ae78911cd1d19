"""A tuning job's objective must be a metric SageMaker can read: for an image of one's own (every image of the local
service), one of the definition's MetricDefinitions. SageMaker refuses the request otherwise; it does not start trials
that can never report the objective."""

from __future__ import annotations

import pytest

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
