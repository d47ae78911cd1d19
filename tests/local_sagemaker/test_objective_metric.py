"""A tuning job's objective must be a metric SageMaker can read: for an image of one's own, one of the definition's
MetricDefinitions; a built-in algorithm brings its own. SageMaker refuses the request otherwise; it does not start trials
that can never report the objective."""

from __future__ import annotations

from typing import Any

import pytest
from retune_local import builtin_xgboost

from tests.local_sagemaker.conftest import Connect, ServiceFactory, tuning_request

pytestmark = pytest.mark.local_stack

# SageMaker's answer, as users report it (aws/sagemaker-python-sdk#3932, aws/amazon-sagemaker-examples#1207).
NO_METRIC = "A metric is required for this hyperparameter tuning job objective. Provide a metric in the metric definitions."
# profiles/churn-xgb.json's ranges: hyperparameters the developer guide lists as tunable, within the algorithm's values.
CHURN_RANGES: dict[str, Any] = {
    "ContinuousParameterRanges": [
        {"Name": "eta", "MinValue": "0.01", "MaxValue": "0.5", "ScalingType": "Logarithmic"},
        {"Name": "subsample", "MinValue": "0.5", "MaxValue": "1.0", "ScalingType": "Auto"},
        {"Name": "alpha", "MinValue": "0", "MaxValue": "10", "ScalingType": "Auto"},
    ],
    "IntegerParameterRanges": [
        {"Name": "max_depth", "MinValue": "3", "MaxValue": "10", "ScalingType": "Auto"}
    ],
    "CategoricalParameterRanges": [],
}


def builtin_tuning_request(
    name: str,
    metric: str = "validation:auc",
    direction: str = "Maximize",
    ranges: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A tuning job of SageMaker's built-in XGBoost 1.7-1, with no MetricDefinitions (the algorithm has its own)."""
    request = tuning_request(name, objective=direction, ranges=ranges or CHURN_RANGES)
    spec = request["TrainingJobDefinition"]["AlgorithmSpecification"]
    del spec["MetricDefinitions"]
    spec["TrainingImage"] = builtin_xgboost.image_uri("1.7-1")
    request["HyperParameterTuningJobConfig"]["HyperParameterTuningJobObjective"]["MetricName"] = metric
    return request


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
    request = builtin_tuning_request("builtin-no-metrics")
    # Stopped at once: what matters is that the create call is accepted.
    client.create_hyper_parameter_tuning_job(**request)
    client.stop_hyper_parameter_tuning_job(HyperParameterTuningJobName="builtin-no-metrics")
    names = [
        s["HyperParameterTuningJobName"]
        for s in client.list_hyper_parameter_tuning_jobs()["HyperParameterTuningJobSummaries"]
    ]
    assert names == ["builtin-no-metrics"]


def refusal(client: Any, request: dict[str, Any]) -> str:
    """CreateHyperParameterTuningJob's ValidationException message; the job must not exist."""
    with pytest.raises(client.exceptions.ClientError) as refused:
        client.create_hyper_parameter_tuning_job(**request)
    assert refused.value.response["Error"]["Code"] == "ValidationException"
    assert client.list_hyper_parameter_tuning_jobs()["HyperParameterTuningJobSummaries"] == []
    message: str = refused.value.response["Error"]["Message"]
    return message


@pytest.mark.parametrize(
    "metric",
    [
        "train:auc",  # the algorithm logs it, but AMT tunes on the validation channel's metrics only
        "validation:loss",  # not a metric of the algorithm
        "auc",
    ],
)
def test_a_built_in_xgboost_tuning_job_on_a_metric_the_algorithm_does_not_offer_is_refused(
    make_service: ServiceFactory, connect: Connect, metric: str
) -> None:
    client = connect(make_service())

    message = refusal(client, builtin_tuning_request("builtin-bad-metric", metric=metric))

    assert f"The objective metric for the hyperparameter tuning job, [{metric}], isn't valid" in message
    assert "Choose a valid objective metric: " in message
    assert "validation:auc" in message and "validation:rmse" in message


def test_a_built_in_xgboost_tuning_job_in_the_metrics_wrong_direction_is_refused(
    make_service: ServiceFactory, connect: Connect
) -> None:
    """The developer guide gives each metric its direction: validation:auc is maximized, validation:rmse
    minimized."""
    client = connect(make_service())

    auc_down = refusal(client, builtin_tuning_request("builtin-auc-down", direction="Minimize"))
    rmse_up = refusal(client, builtin_tuning_request("builtin-rmse-up", "validation:rmse", "Maximize"))

    assert (
        "The objective metric type, [Minimize], that you specified for objective metric, [validation:auc]"
        in (auc_down)
    )
    assert auc_down.endswith("Choose a valid objective metric type: Maximize.")
    assert rmse_up.endswith("Choose a valid objective metric type: Minimize.")


def test_a_built_in_xgboost_range_over_a_hyperparameter_amt_does_not_tune_is_refused(
    make_service: ServiceFactory, connect: Connect
) -> None:
    """num_parallel_tree and the objective are hyperparameters the algorithm accepts, but not tunable ones; an
    alias (learning_rate for eta) is not the name the algorithm lists."""
    client = connect(make_service())
    ranges = {
        **CHURN_RANGES,
        "IntegerParameterRanges": [
            *CHURN_RANGES["IntegerParameterRanges"],
            {"Name": "num_parallel_tree", "MinValue": "1", "MaxValue": "4", "ScalingType": "Auto"},
        ],
        "CategoricalParameterRanges": [{"Name": "objective", "Values": ["binary:logistic", "binary:hinge"]}],
        "ContinuousParameterRanges": [
            {"Name": "learning_rate", "MinValue": "0.01", "MaxValue": "0.5", "ScalingType": "Auto"}
        ],
    }

    message = refusal(client, builtin_tuning_request("builtin-untunable", ranges=ranges))

    assert message.startswith(
        "The hyperparameter tuning job that you requested has the following untunable hyperparameters: "
        "[num_parallel_tree, learning_rate, objective]. For the algorithm, "
    )
    assert (
        "you can tune only [alpha, colsample_bylevel, colsample_bynode, colsample_bytree, eta, gamma,"
        in message
    )
    assert "learning_rate is the algorithm's alias of eta" in message
    assert "max_depth" not in message.split("you can tune only")[0]


@pytest.mark.parametrize(
    ("ranges", "expected"),
    [
        (
            {"ContinuousParameterRanges": [{"Name": "eta", "MinValue": "0.1", "MaxValue": "2"}]},
            "The value [2] of MaxValue in the ContinuousParameterRange for hyperparameter [eta] is not valid for the "
            "[683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:1.7-1] algorithm: it accepts float "
            "values in [0, 1].",
        ),
        (
            {"ContinuousParameterRanges": [{"Name": "subsample", "MinValue": "0", "MaxValue": "1"}]},
            "The value [0] of MinValue in the ContinuousParameterRange for hyperparameter [subsample]",
        ),
        (
            {"IntegerParameterRanges": [{"Name": "num_round", "MinValue": "0", "MaxValue": "100"}]},
            "it accepts int values in [1, +inf)",
        ),
        (
            {"CategoricalParameterRanges": [{"Name": "max_depth", "Values": ["4", "six"]}]},
            "The value [six] of Values in the CategoricalParameterRange for hyperparameter [max_depth]",
        ),
        (
            {"ContinuousParameterRanges": [{"Name": "max_depth", "MinValue": "3", "MaxValue": "10"}]},
            "The hyperparameter [max_depth] of the [683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:"
            "1.7-1] algorithm takes integers: give it an IntegerParameterRange, not a ContinuousParameterRange.",
        ),
    ],
    ids=["eta-above-1", "subsample-0", "num-round-0", "max-depth-word", "max-depth-continuous"],
)
def test_a_built_in_xgboost_range_outside_the_algorithms_values_is_refused(
    make_service: ServiceFactory, connect: Connect, ranges: dict[str, Any], expected: str
) -> None:
    """Every trial of such a range could fail with ClientError (the algorithm's own check); the tuning job is
    refused instead, naming the range and the values the algorithm accepts."""
    client = connect(make_service())

    message = refusal(client, builtin_tuning_request("builtin-out-of-range", ranges=ranges))

    assert expected in message


def test_a_built_in_xgboost_tuning_job_within_the_algorithms_terms_is_created(
    make_service: ServiceFactory, connect: Connect
) -> None:
    """Every tunable hyperparameter at the developer guide's recommended ranges, on a minimized metric."""
    client = connect(make_service())
    continuous = {
        "alpha": ("0", "1000"),
        "colsample_bylevel": ("0.1", "1"),
        "colsample_bynode": ("0.1", "1"),
        "colsample_bytree": ("0.5", "1"),
        "eta": ("0.1", "0.5"),
        "gamma": ("0", "5"),
        "lambda": ("0", "1000"),
        "min_child_weight": ("0", "120"),
        "subsample": ("0.5", "1"),
    }
    ranges = {
        "ContinuousParameterRanges": [
            {"Name": name, "MinValue": low, "MaxValue": high} for name, (low, high) in continuous.items()
        ],
        "IntegerParameterRanges": [
            {"Name": "max_delta_step", "MinValue": "0", "MaxValue": "10"},
            {"Name": "max_depth", "MinValue": "0", "MaxValue": "10"},
            {"Name": "num_round", "MinValue": "1", "MaxValue": "4000"},
        ],
        "CategoricalParameterRanges": [],
    }
    request = builtin_tuning_request("builtin-recommended", "validation:logloss", "Minimize", ranges)

    client.create_hyper_parameter_tuning_job(**request)
    client.stop_hyper_parameter_tuning_job(HyperParameterTuningJobName="builtin-recommended")

    described = client.describe_hyper_parameter_tuning_job(HyperParameterTuningJobName="builtin-recommended")
    assert described["HyperParameterTuningJobConfig"]["ParameterRanges"]["IntegerParameterRanges"][2][
        "Name"
    ] == ("num_round")
