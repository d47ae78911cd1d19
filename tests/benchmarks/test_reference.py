"""The efficiency benchmark's reference (benchmarks/reference.py): the robust value is the best of the top
configurations' means over new trainer seeds, and the re-scoring jobs are valid CreateTrainingJob requests."""

from __future__ import annotations

import botocore.session
import pytest
from retune.naming import tuning_job_name
from retune.policy import initial_plan
from retune.requests import incumbent_job_request

from benchmarks.efficiency_harness import ROLE, arm_profile
from benchmarks.reference import robust, top_configurations, training_request


def test_the_top_configurations_are_distinct_and_best_first() -> None:
    a, b, c = ({"eta": "0.1"}, {"eta": "0.2"}, {"eta": "0.3"})
    trials = [
        {"hyperparameters": b, "rmse": 0.52},
        {"hyperparameters": a, "rmse": 0.50},
        {"hyperparameters": a, "rmse": 0.51},  # the same configuration from the other search
        {"hyperparameters": c, "rmse": 0.53},
    ]
    assert [t["hyperparameters"] for t in top_configurations(trials, 2)] == [a, b]


def test_the_robust_reference_is_the_best_mean_not_the_luckiest_run() -> None:
    rescored = [
        # The searches' winner, lucky on seed 0: its retrained mean is worse than the runner-up's.
        {"rmse": 0.500, "trainer_seeds": {"1": 0.510, "2": 0.512, "3": 0.508}},
        {"rmse": 0.503, "trainer_seeds": {"1": 0.504, "2": 0.505, "3": 0.506}},
    ]
    assert robust(rescored) == 0.505


def test_a_rescoring_job_is_a_valid_create_training_job_request_without_amts_reserved_hyperparameters() -> (
    None
):
    profile = arm_profile("xgb", "reference", 0, None, None, "2019-01-01")
    request = training_request(
        profile,
        "2019-01-01",
        "bucket",
        {"train": "s3://bucket/m/train.manifest", "validation": "s3://bucket/m/validation.manifest"},
        {"train": "text/csv", "validation": "text/csv"},
        "ref-xgb-20190101-c1-t2",
        {"eta": "0.1"},
        trainer_seed=2,
    )
    model = botocore.session.get_session().get_service_model("sagemaker")
    shape = model.operation_model("CreateTrainingJob").input_shape
    assert set(request) <= set(shape.members)
    assert set(shape.required_members) <= set(request)
    hyperparameters = request["HyperParameters"]
    assert hyperparameters["eta"] == "0.1" and hyperparameters["seed"] == "2"
    assert hyperparameters["num_round"] == "300"  # the profile's static hyperparameters
    assert not [k for k in hyperparameters if k.startswith(("_tuning", "sagemaker_"))]
    names = [d["Name"] for d in request["AlgorithmSpecification"]["MetricDefinitions"]]
    assert "validation:rmse" in names


@pytest.mark.parametrize("workload", ["xgb", "mlp"])
def test_the_rescoring_request_is_retunes_incumbent_request_plus_the_trainer_seed(workload: str) -> None:
    """The reference retrains a configuration with the request StartRound sends for an incumbent of the same
    configuration (the layer's `incumbent_job_request`), its trainer seed the only addition: the two cannot
    drift apart."""
    profile = arm_profile(workload, "reference", 0, None, None, "2019-01-01")
    manifests = {
        c: f"s3://bucket/manifests/{profile.name}/2019-01-01/{c}.manifest" for c in ("train", "validation")
    }
    content_types: dict[str, str | None] = {"train": "text/csv", "validation": "text/csv"}
    configuration = {r.name: "0.1" for r in profile.search.ranges}
    sent = training_request(
        profile, "2019-01-01", "bucket", manifests, content_types, "ref-c1-t3", configuration, trainer_seed=3
    )
    plan = initial_plan(profile, "reference")
    incumbent = incumbent_job_request(
        profile=profile,
        plan=plan,
        seq=1,
        drop_id="2019-01-01",
        bucket="bucket",
        channel_manifests=manifests,
        channel_content_types=content_types,
        role_arn=ROLE,
        tuning_job=tuning_job_name(profile.name, 1),
        name="ref-c1-t3",
        hyperparameters=configuration,
    )
    assert sent == {**incumbent, "HyperParameters": {**incumbent["HyperParameters"], "seed": "3"}}
    # The configuration and the first plan's patience, as a round's incumbent trains them.
    assert {k: sent["HyperParameters"][k] for k in configuration} == configuration
    patience = profile.metrics.patience_hyperparameter
    assert patience is None or sent["HyperParameters"][patience] == str(plan.patience.value)
