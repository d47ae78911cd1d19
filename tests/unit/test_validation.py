"""retune.validation: SageMaker's service model in full, then AMT's rules; each error names the field."""

from __future__ import annotations

import unicodedata
from typing import Any

import botocore.session
import pytest
from botocore.model import ServiceModel
from botocore.validate import ParamValidator
from retune import validation
from retune.errors import InvalidRequest
from retune.validation import ParentJob, request_errors, validate_request

TUNING = "CreateHyperParameterTuningJob"
CONFIG = "HyperParameterTuningJobConfig"
LIMITS = f"{CONFIG}.ResourceLimits"
RANGES = f"{CONFIG}.ParameterRanges"
PARENTS = "WarmStartConfig.ParentHyperParameterTuningJobs"
TUNING_JOB_NAME_PATTERN = "[a-zA-Z0-9](-*[a-zA-Z0-9]){0,31}"
TAG_PATTERN = r"([\p{L}\p{Z}\p{N}_.:/=+\-@]*)"
# 63 characters: a valid length for a training job, not for a tuning job.
LONG_NAME_WITH_UNDERSCORE = "retune_" + "a" * 56


def tuning_request() -> dict[str, Any]:
    """A minimal valid Bayesian tuning job: one continuous range, one static hyperparameter."""
    return {
        "HyperParameterTuningJobName": "rt-demo-0002",
        CONFIG: {
            "Strategy": "Bayesian",
            "HyperParameterTuningJobObjective": {"Type": "Minimize", "MetricName": "validation:rmse"},
            "ResourceLimits": {"MaxNumberOfTrainingJobs": 20, "MaxParallelTrainingJobs": 2},
            "ParameterRanges": {
                "ContinuousParameterRanges": [
                    {"Name": "eta", "MinValue": "0.01", "MaxValue": "0.3", "ScalingType": "Logarithmic"}
                ]
            },
        },
        "TrainingJobDefinition": {
            "AlgorithmSpecification": {
                "TrainingImage": "123456789012.dkr.ecr.eu-west-1.amazonaws.com/trainer:1",
                "TrainingInputMode": "File",
                "MetricDefinitions": [{"Name": "validation:rmse", "Regex": "rmse=([0-9.]+)"}],
            },
            "RoleArn": "arn:aws:iam::123456789012:role/retune-sagemaker",
            "OutputDataConfig": {"S3OutputPath": "s3://retune-data/models/demo/"},
            "StoppingCondition": {"MaxRuntimeInSeconds": 3600},
            "StaticHyperParameters": {"epochs": "50"},
        },
        "Tags": [{"Key": "retune:profile", "Value": "demo"}],
    }


def hyperband_request(early_stopping: str | None = "Off") -> dict[str, Any]:
    request = tuning_request()
    config = request[CONFIG]
    config["Strategy"] = "Hyperband"
    config["StrategyConfig"] = {"HyperbandStrategyConfig": {"MinResource": 1, "MaxResource": 50}}
    if early_stopping is not None:
        config["TrainingJobEarlyStoppingType"] = early_stopping
    return request


def grid_request() -> dict[str, Any]:
    request = tuning_request()
    config = request[CONFIG]
    config["Strategy"] = "Grid"
    del config["ResourceLimits"]["MaxNumberOfTrainingJobs"]
    config["ParameterRanges"] = {
        "CategoricalParameterRanges": [
            {"Name": "max_depth", "Values": ["3", "6", "9"]},
            {"Name": "booster", "Values": ["gbtree", "dart"]},
        ]
    }
    return request


def warm_start_request(*parent_names: str) -> dict[str, Any]:
    request = tuning_request()
    request["WarmStartConfig"] = {
        "ParentHyperParameterTuningJobs": [{"HyperParameterTuningJobName": name} for name in parent_names],
        "WarmStartType": "TransferLearning",
    }
    return request


def parent_job(
    name: str = "rt-demo-0001",
    status: str = "Completed",
    objective_metric: str | None = "validation:rmse",
    hyperparameter_types: dict[str, str] | None = None,
) -> ParentJob:
    types = (
        {"eta": "continuous", "epochs": "static"} if hyperparameter_types is None else hyperparameter_types
    )
    return ParentJob(name=name, status=status, objective_metric=objective_metric, hyperparameter_types=types)


def model_package_request(**extra: Any) -> dict[str, Any]:
    return {"ModelPackageGroupName": "retune-demo", "ModelApprovalStatus": "PendingManualApproval", **extra}


@pytest.fixture(scope="module")
def sagemaker_model() -> ServiceModel:
    return botocore.session.get_session().get_service_model("sagemaker")


# --- the service model --------------------------------------------------------------------------------------


def test_request_errors_accepts_a_minimal_bayesian_request() -> None:
    assert request_errors(TUNING, tuning_request()) == []


def test_request_errors_rejects_a_63_character_tuning_job_name_with_underscore() -> None:
    request = tuning_request()
    request["HyperParameterTuningJobName"] = LONG_NAME_WITH_UNDERSCORE

    assert request_errors(TUNING, request) == [
        "HyperParameterTuningJobName: 63 characters, at most 32",
        f"HyperParameterTuningJobName: {LONG_NAME_WITH_UNDERSCORE!r} must match {TUNING_JOB_NAME_PATTERN}",
    ]


def test_botocore_param_validator_lets_the_63_character_name_with_underscore_through(
    sagemaker_model: ServiceModel,
) -> None:
    # Why this module exists: botocore checks required members, types and minimums only.
    request = tuning_request()
    request["HyperParameterTuningJobName"] = LONG_NAME_WITH_UNDERSCORE
    request[CONFIG]["Strategy"] = "Bogus"
    input_shape = sagemaker_model.operation_model(TUNING).input_shape

    assert not ParamValidator().validate(request, input_shape).has_errors()
    assert len(request_errors(TUNING, request, service_model=sagemaker_model)) == 3


def test_request_errors_rejects_an_unknown_strategy() -> None:
    request = tuning_request()
    request[CONFIG]["Strategy"] = "Bogus"

    assert request_errors(TUNING, request) == [
        f"{CONFIG}.Strategy: 'Bogus' is not one of Bayesian, Random, Hyperband, Grid"
    ]


def test_request_errors_rejects_six_warm_start_parents() -> None:
    request = warm_start_request(*(f"rt-demo-000{n}" for n in range(1, 7)))

    assert request_errors(TUNING, request) == [f"{PARENTS}: 6 items, at most 5"]


def test_request_errors_rejects_an_unknown_member_with_a_suggestion() -> None:
    request = tuning_request()
    request[CONFIG]["ResourceLimits"]["MaxRuntimeInSecond"] = 600

    assert request_errors(TUNING, request) == [
        f"{LIMITS}.MaxRuntimeInSecond: unknown member: did you mean MaxRuntimeInSeconds?"
    ]


def test_request_errors_rejects_an_unknown_member_with_the_members_it_may_be() -> None:
    request = tuning_request()
    request[CONFIG]["ResourceLimits"]["Budget"] = 600

    assert request_errors(TUNING, request) == [
        f"{LIMITS}.Budget: unknown member: remove it (ResourceLimits takes MaxNumberOfTrainingJobs, "
        "MaxParallelTrainingJobs, MaxRuntimeInSeconds)"
    ]


def test_request_errors_rejects_an_int_where_a_string_is_expected() -> None:
    request = tuning_request()
    request["TrainingJobDefinition"]["StaticHyperParameters"]["epochs"] = 50

    assert request_errors(TUNING, request) == [
        "TrainingJobDefinition.StaticHyperParameters['epochs']: expected a string, got int 50"
    ]


def test_request_errors_rejects_a_bool_where_an_integer_is_expected() -> None:
    request = tuning_request()
    request[CONFIG]["ResourceLimits"]["MaxParallelTrainingJobs"] = True

    assert request_errors(TUNING, request) == [
        f"{LIMITS}.MaxParallelTrainingJobs: expected an integer, got bool True"
    ]


def test_request_errors_rejects_a_missing_required_member() -> None:
    request = tuning_request()
    del request["TrainingJobDefinition"]["RoleArn"]

    assert request_errors(TUNING, request) == ["TrainingJobDefinition.RoleArn: required: add it"]


def test_request_errors_checks_map_keys_against_their_shape() -> None:
    request = tuning_request()
    request["TrainingJobDefinition"]["Environment"] = {"1_BAD": "x"}

    assert request_errors(TUNING, request) == [
        "TrainingJobDefinition.Environment key '1_BAD': '1_BAD' must match [a-zA-Z_][a-zA-Z0-9_]*"
    ]


def test_request_errors_suggests_the_closest_value_of_a_long_enum() -> None:
    request = tuning_request()
    request["TrainingJobDefinition"]["ResourceConfig"] = {"InstanceType": "ml.m5.larg", "InstanceCount": 1}

    errors = request_errors(TUNING, request)

    assert len(errors) == 1
    assert errors[0].startswith(
        "TrainingJobDefinition.ResourceConfig.InstanceType: 'ml.m5.larg' is not one of the "
    )
    assert errors[0].endswith(" TrainingInstanceType values; did you mean ml.m5.large?")


def test_request_errors_rejects_two_jobs_not_improving() -> None:
    request = tuning_request()
    request[CONFIG]["TuningJobCompletionCriteria"] = {
        "BestObjectiveNotImproving": {"MaxNumberOfTrainingJobsNotImproving": 2}
    }

    assert request_errors(TUNING, request) == [
        f"{CONFIG}.TuningJobCompletionCriteria.BestObjectiveNotImproving"
        ".MaxNumberOfTrainingJobsNotImproving: 2, at least 3"
    ]


@pytest.mark.parametrize(
    ("seconds", "error"),
    [(119, "119, at least 120"), (15_768_001, "15768001, at most 15768000")],
)
def test_request_errors_rejects_a_tuning_runtime_out_of_range(seconds: int, error: str) -> None:
    request = tuning_request()
    request[CONFIG]["ResourceLimits"]["MaxRuntimeInSeconds"] = seconds

    assert request_errors(TUNING, request) == [f"{LIMITS}.MaxRuntimeInSeconds: {error}"]


@pytest.mark.parametrize("seconds", [120, 15_768_000])
def test_request_errors_accepts_a_tuning_runtime_at_its_bounds(seconds: int) -> None:
    request = tuning_request()
    request[CONFIG]["ResourceLimits"]["MaxRuntimeInSeconds"] = seconds

    assert request_errors(TUNING, request) == []


@pytest.mark.parametrize(
    ("token", "errors"),
    [
        ("a" * 37, ["ClientToken: 37 characters, at most 36"]),
        ("rt_demo_1", ["ClientToken: 'rt_demo_1' must match [a-zA-Z0-9-]+"]),
    ],
)
def test_request_errors_rejects_a_bad_model_package_client_token(token: str, errors: list[str]) -> None:
    assert request_errors("CreateModelPackage", model_package_request(ClientToken=token)) == errors


def test_request_errors_accepts_a_36_character_client_token() -> None:
    token = "rt-" + "0" * 33

    assert request_errors("CreateModelPackage", model_package_request(ClientToken=token)) == []


@pytest.mark.parametrize("value", ["round #3", "<drop>"])
def test_request_errors_rejects_a_tag_value_with_a_forbidden_character(value: str) -> None:
    request = tuning_request()
    request["Tags"][0]["Value"] = value

    assert request_errors(TUNING, request) == [f"Tags[0].Value: {value!r} must match {TAG_PATTERN}"]


@pytest.mark.parametrize("value", ["Prévision des ventes été", "Zürich\u00a0Süd 2024", "日本語 ٣"])
def test_request_errors_accepts_a_tag_value_with_letters_spaces_and_digits_of_any_script(value: str) -> None:
    # \p{L}, \p{Z} and \p{N} in AWS's Java pattern: Python's re has no such classes.
    request = tuning_request()
    request["Tags"][0]["Value"] = value

    assert request_errors(TUNING, request) == []


def test_request_errors_rejects_a_tab_or_an_emoji_in_a_tag_value() -> None:
    request = tuning_request()
    request["Tags"] = [{"Key": "a", "Value": "tab\there"}, {"Key": "b", "Value": "sun ☀"}]

    assert request_errors(TUNING, request) == [
        f"Tags[0].Value: 'tab\\there' must match {TAG_PATTERN}",
        f"Tags[1].Value: 'sun ☀' must match {TAG_PATTERN}",
    ]


def test_request_errors_accepts_symbols_and_punctuation_in_a_description() -> None:
    # EntityDescription allows \p{S} and \p{P}, which tag values do not.
    description = "Challenger — «round 3» ☀ #1 <best>"

    assert (
        request_errors("CreateModelPackage", model_package_request(ModelPackageDescription=description)) == []
    )


def test_request_errors_rejects_a_carriage_return_where_java_dot_stops() -> None:
    request = tuning_request()
    request["TrainingJobDefinition"]["AlgorithmSpecification"]["MetricDefinitions"][0]["Regex"] = "rmse=(\r)"

    assert request_errors(TUNING, request) == [
        "TrainingJobDefinition.AlgorithmSpecification.MetricDefinitions[0].Regex: 'rmse=(\\r)' must match .+"
    ]


def test_request_errors_rejects_duplicate_tag_keys() -> None:
    request = tuning_request()
    request["Tags"].append({"Key": "retune:profile", "Value": "other"})

    assert request_errors(TUNING, request) == [
        "Tags[1].Key: 'retune:profile' appears twice: tag keys must be unique per resource"
    ]


@pytest.mark.parametrize(
    ("operation", "params", "errors"),
    [
        (
            "CreateTrainingJob",
            {
                "TrainingJobName": "rt-demo-0002-eval",
                "AlgorithmSpecification": {"TrainingImage": "trainer:1", "TrainingInputMode": "File"},
                "RoleArn": "arn:aws:iam::123456789012:role/retune-sagemaker",
                "OutputDataConfig": {"S3OutputPath": "s3://retune-data/evaluations/"},
                "ResourceConfig": {"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 30},
                "StoppingCondition": {"MaxRuntimeInSeconds": 3600},
            },
            [],
        ),
        (
            "CreateModelPackageGroup",
            {"ModelPackageGroupName": "retune_demo"},
            ["ModelPackageGroupName: 'retune_demo' must match [a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}"],
        ),
        (
            "UpdateModelPackage",
            {
                "ModelPackageArn": "arn:aws:sagemaker:eu-west-1:123456789012:model-package/retune-demo/3",
                "ModelApprovalStatus": "Accepted",
            },
            ["ModelApprovalStatus: 'Accepted' is not one of Approved, Rejected, PendingManualApproval"],
        ),
        (
            "CreateModel",
            {"ModelName": "-demo", "ExecutionRoleArn": "arn:aws:iam::123456789012:role/r"},
            ["ModelName: '-demo' must match [a-zA-Z0-9]([\\-a-zA-Z0-9]*[a-zA-Z0-9])?"],
        ),
        (
            "CreateEndpointConfig",
            {"EndpointConfigName": "demo-3", "ProductionVariants": []},
            ["ProductionVariants: 0 items, at least 1"],
        ),
        ("CreateEndpoint", {"EndpointName": "demo"}, ["EndpointConfigName: required: add it"]),
        (
            "UpdateEndpoint",
            {"EndpointName": "demo", "EndpointConfigName": "demo-3", "RetainAllVariantProperties": 1},
            ["RetainAllVariantProperties: expected true or false, got int 1"],
        ),
    ],
)
def test_request_errors_checks_the_other_operations_against_the_model(
    operation: str, params: dict[str, Any], errors: list[str]
) -> None:
    assert request_errors(operation, params) == errors


def test_request_errors_uses_the_service_model_it_is_given(sagemaker_model: ServiceModel) -> None:
    request = tuning_request()
    request[CONFIG]["Strategy"] = "Bogus"

    assert request_errors(TUNING, request, service_model=sagemaker_model) == request_errors(TUNING, request)


def test_request_errors_loads_the_default_service_model_once() -> None:
    request_errors("CreateEndpoint", {"EndpointName": "demo", "EndpointConfigName": "demo-3"})
    request_errors("CreateEndpoint", {"EndpointName": "demo", "EndpointConfigName": "demo-4"})

    assert validation._sagemaker_model.cache_info().currsize == 1


def test_every_pattern_of_the_sagemaker_model_translates_to_python(sagemaker_model: ServiceModel) -> None:
    shapes = [sagemaker_model.shape_for(name) for name in sagemaker_model.shape_names]
    patterns = {shape.metadata["pattern"] for shape in shapes if "pattern" in shape.metadata}

    untranslated = [pattern for pattern in patterns if validation._compiled(pattern) is None]

    assert untranslated == []


@pytest.mark.parametrize("name", ["L", "Lu", "Z", "S", "N", "Nd", "P", "Po", "C"])
def test_a_unicode_property_class_matches_exactly_the_ascii_characters_of_its_categories(name: str) -> None:
    members = {chr(code) for code in range(128) if unicodedata.category(chr(code)).startswith(name)}

    matched = {chr(code) for code in range(128) if validation._matches(rf"\p{{{name}}}", chr(code))}

    assert matched == members
    assert members  # every name above has ASCII members, so an empty class could not pass


# --- AMT's rules --------------------------------------------------------------------------------------------


def test_request_errors_rejects_hyperband_with_auto_early_stopping() -> None:
    assert request_errors(TUNING, hyperband_request(early_stopping="Auto")) == [
        f"{CONFIG}.TrainingJobEarlyStoppingType: 'Auto' does not go with the Hyperband strategy, "
        "which stops trials itself: set 'Off' or leave it out"
    ]


@pytest.mark.parametrize("early_stopping", ["Off", None])
def test_request_errors_accepts_hyperband_with_early_stopping_off_or_absent(
    early_stopping: str | None,
) -> None:
    assert request_errors(TUNING, hyperband_request(early_stopping)) == []


def test_request_errors_rejects_hyperband_resources_out_of_order_or_too_high() -> None:
    request = hyperband_request()
    hyperband = request[CONFIG]["StrategyConfig"]["HyperbandStrategyConfig"]
    hyperband.update(MinResource=30_000, MaxResource=20_001)

    assert request_errors(TUNING, request) == [
        f"{CONFIG}.StrategyConfig.HyperbandStrategyConfig.MaxResource: 20001, at most 20000",
        f"{CONFIG}.StrategyConfig.HyperbandStrategyConfig.MinResource: 30000 is above MaxResource 20001: "
        "lower it or raise MaxResource",
    ]


def test_request_errors_rejects_hyperband_without_a_max_resource_to_infer() -> None:
    request = hyperband_request()
    request[CONFIG]["StrategyConfig"]["HyperbandStrategyConfig"] = {"MinResource": 1}
    request["TrainingJobDefinition"]["StaticHyperParameters"] = {"rounds": "50"}

    assert request_errors(TUNING, request) == [
        f"{CONFIG}.StrategyConfig.HyperbandStrategyConfig.MaxResource: required unless "
        "TrainingJobDefinition.StaticHyperParameters sets one of epochs, numepochs, n-epochs, n_epochs, "
        "num_epochs: add it"
    ]


def test_request_errors_rejects_a_strategy_config_without_hyperband() -> None:
    request = tuning_request()
    request[CONFIG]["StrategyConfig"] = {"HyperbandStrategyConfig": {"MinResource": 1, "MaxResource": 50}}

    assert request_errors(TUNING, request) == [
        f"{CONFIG}.StrategyConfig: applies to the Hyperband strategy only: remove it or use Hyperband"
    ]


def test_request_errors_accepts_grid_with_categorical_ranges_and_no_max_jobs() -> None:
    assert request_errors(TUNING, grid_request()) == []


def test_request_errors_rejects_grid_with_an_integer_range() -> None:
    request = grid_request()
    request[CONFIG]["ParameterRanges"]["IntegerParameterRanges"] = [
        {"Name": "num_round", "MinValue": "10", "MaxValue": "100"}
    ]

    assert request_errors(TUNING, request) == [
        f"{RANGES}.IntegerParameterRanges: the Grid strategy takes categorical ranges only: make num_round "
        "categorical or use another strategy"
    ]


def test_request_errors_rejects_grid_max_jobs_other_than_its_combinations() -> None:
    request = grid_request()
    request[CONFIG]["ResourceLimits"]["MaxNumberOfTrainingJobs"] = 10

    assert request_errors(TUNING, request) == [
        f"{LIMITS}.MaxNumberOfTrainingJobs: 10, but Grid runs the 6 combinations of the categorical ranges: "
        "set 6 or leave it out"
    ]


def test_request_errors_accepts_grid_max_jobs_equal_to_its_combinations() -> None:
    request = grid_request()
    request[CONFIG]["ResourceLimits"]["MaxNumberOfTrainingJobs"] = 6

    assert request_errors(TUNING, request) == []


def test_request_errors_rejects_bayesian_without_max_jobs() -> None:
    request = tuning_request()
    del request[CONFIG]["ResourceLimits"]["MaxNumberOfTrainingJobs"]

    assert request_errors(TUNING, request) == [
        f"{LIMITS}.MaxNumberOfTrainingJobs: required with the Bayesian strategy: add it"
    ]


def test_request_errors_rejects_more_parallel_jobs_than_jobs() -> None:
    request = tuning_request()
    request[CONFIG]["ResourceLimits"] = {"MaxNumberOfTrainingJobs": 4, "MaxParallelTrainingJobs": 5}

    assert request_errors(TUNING, request) == [
        f"{LIMITS}.MaxParallelTrainingJobs: 5 is above MaxNumberOfTrainingJobs 4: lower it to at most 4"
    ]


@pytest.mark.parametrize(
    ("member", "bounds", "error"),
    [
        (
            "IntegerParameterRanges",
            {"MinValue": "10", "MaxValue": "5"},
            "IntegerParameterRanges[0]: MinValue 10 is above MaxValue 5: swap them",
        ),
        (
            "IntegerParameterRanges",
            {"MinValue": "1.5", "MaxValue": "5"},
            "IntegerParameterRanges[0].MinValue: '1.5' is not an integer",
        ),
        (
            "ContinuousParameterRanges",
            {"MinValue": "0", "MaxValue": "0.3", "ScalingType": "Logarithmic"},
            "ContinuousParameterRanges[0].ScalingType: Logarithmic needs MinValue above 0, got 0: "
            "raise it or use Linear",
        ),
        (
            "ContinuousParameterRanges",
            {"MinValue": "0.5", "MaxValue": "1", "ScalingType": "ReverseLogarithmic"},
            "ContinuousParameterRanges[0].ScalingType: ReverseLogarithmic needs 0 <= MinValue and "
            "MaxValue < 1, got 0.5 and 1: use Linear or Logarithmic",
        ),
        (
            "ContinuousParameterRanges",
            {"MinValue": "low", "MaxValue": "1"},
            "ContinuousParameterRanges[0].MinValue: 'low' is not a number",
        ),
    ],
)
def test_request_errors_rejects_a_bad_numeric_range(member: str, bounds: dict[str, str], error: str) -> None:
    request = tuning_request()
    request[CONFIG]["ParameterRanges"] = {member: [{"Name": "alpha", **bounds}]}

    assert request_errors(TUNING, request) == [f"{RANGES}.{error}"]


def test_request_errors_rejects_more_than_30_tuned_hyperparameters() -> None:
    request = tuning_request()
    request[CONFIG]["ParameterRanges"] = {
        "IntegerParameterRanges": [{"Name": f"i{n}", "MinValue": "1", "MaxValue": "9"} for n in range(16)],
        "ContinuousParameterRanges": [{"Name": f"c{n}", "MinValue": "0", "MaxValue": "1"} for n in range(15)],
    }

    assert request_errors(TUNING, request) == [
        f"{RANGES}: 31 hyperparameters to tune, at most 30 across integer, continuous and categorical ranges"
    ]


def test_request_errors_rejects_two_ranges_of_one_name() -> None:
    request = tuning_request()
    request[CONFIG]["ParameterRanges"]["CategoricalParameterRanges"] = [{"Name": "eta", "Values": ["0.1"]}]

    assert request_errors(TUNING, request) == [
        f"{RANGES}.CategoricalParameterRanges[0].Name: 'eta' already has a range: keep one"
    ]


def test_request_errors_rejects_a_range_that_is_also_static() -> None:
    request = tuning_request()
    request["TrainingJobDefinition"]["StaticHyperParameters"]["eta"] = "0.1"

    assert request_errors(TUNING, request) == [
        f"TrainingJobDefinition.StaticHyperParameters['eta']: 'eta' is also tuned in {RANGES}: "
        "remove it from one of them"
    ]


def test_request_errors_rejects_an_objective_missing_from_the_metric_definitions() -> None:
    request = tuning_request()
    request[CONFIG]["HyperParameterTuningJobObjective"]["MetricName"] = "validation:auc"

    assert request_errors(TUNING, request) == [
        f"{CONFIG}.HyperParameterTuningJobObjective.MetricName: 'validation:auc' is not one of "
        "TrainingJobDefinition.AlgorithmSpecification.MetricDefinitions (validation:rmse): "
        "define it there or fix the name"
    ]


def test_request_errors_accepts_any_objective_of_an_algorithm_without_metric_definitions() -> None:
    # Built-in algorithms publish their own metrics.
    request = tuning_request()
    del request["TrainingJobDefinition"]["AlgorithmSpecification"]["MetricDefinitions"]
    request[CONFIG]["HyperParameterTuningJobObjective"]["MetricName"] = "validation:auc"

    assert request_errors(TUNING, request) == []


def test_request_errors_rejects_a_tuning_job_without_objective_or_definition() -> None:
    request = tuning_request()
    del request[CONFIG]["HyperParameterTuningJobObjective"]
    del request["TrainingJobDefinition"]

    assert request_errors(TUNING, request) == [
        "TrainingJobDefinition: required (or TrainingJobDefinitions): add it"
    ]


def test_request_errors_rejects_a_missing_objective() -> None:
    request = tuning_request()
    del request[CONFIG]["HyperParameterTuningJobObjective"]

    assert request_errors(TUNING, request) == [f"{CONFIG}.HyperParameterTuningJobObjective: required: add it"]


def test_request_errors_checks_each_definition_of_a_multi_algorithm_job_with_its_own_ranges() -> None:
    request = tuning_request()
    config = request[CONFIG]
    definition = request.pop("TrainingJobDefinition")
    definition["DefinitionName"] = "trainer"
    definition["TuningObjective"] = config.pop("HyperParameterTuningJobObjective")
    definition["HyperParameterRanges"] = config.pop("ParameterRanges")
    other = {**definition, "DefinitionName": "other"}
    other["HyperParameterRanges"] = {
        "IntegerParameterRanges": [{"Name": "depth", "MinValue": "9", "MaxValue": "3"}]
    }
    request["TrainingJobDefinitions"] = [definition, other]

    assert request_errors(TUNING, request) == [
        "TrainingJobDefinitions[1].HyperParameterRanges.IntegerParameterRanges[0]: MinValue 9 is above "
        "MaxValue 3: swap them"
    ]


def test_request_errors_rejects_both_kinds_of_training_job_definition() -> None:
    request = tuning_request()
    request["TrainingJobDefinitions"] = [request["TrainingJobDefinition"]]

    assert request_errors(TUNING, request) == [
        "TrainingJobDefinitions: set TrainingJobDefinition or TrainingJobDefinitions, not both"
    ]


def test_request_errors_rejects_both_a_training_image_and_an_algorithm_name() -> None:
    request = tuning_request()
    request["TrainingJobDefinition"]["AlgorithmSpecification"]["AlgorithmName"] = "xgboost-demo"

    assert request_errors(TUNING, request) == [
        "TrainingJobDefinition.AlgorithmSpecification: set TrainingImage or AlgorithmName, not both"
    ]


# --- warm start ---------------------------------------------------------------------------------------------


def test_request_errors_accepts_a_warm_start_from_a_matching_completed_parent() -> None:
    parents = {"rt-demo-0001": parent_job()}

    assert request_errors(TUNING, warm_start_request("rt-demo-0001"), parents=parents) == []


def test_request_errors_rejects_a_parent_listed_twice() -> None:
    request = warm_start_request("rt-demo-0001", "RT-DEMO-0001")

    assert request_errors(TUNING, request) == [
        f"{PARENTS}[1].HyperParameterTuningJobName: 'RT-DEMO-0001' is listed twice: list each parent once"
    ]


def test_request_errors_rejects_a_running_parent() -> None:
    parents = {"rt-demo-0001": parent_job(status="InProgress")}

    assert request_errors(TUNING, warm_start_request("rt-demo-0001"), parents=parents) == [
        f"{PARENTS}[0].HyperParameterTuningJobName: 'rt-demo-0001' is InProgress: a parent must be "
        "Completed, Stopped or Failed; wait for it or leave it out"
    ]


def test_request_errors_rejects_a_parent_that_was_not_found() -> None:
    assert request_errors(TUNING, warm_start_request("rt-demo-0001"), parents={}) == [
        f"{PARENTS}[0].HyperParameterTuningJobName: no tuning job 'rt-demo-0001' was found: "
        "warm start only from existing tuning jobs"
    ]


def test_request_errors_rejects_a_parent_with_other_hyperparameter_names() -> None:
    parents = {"rt-demo-0001": parent_job(hyperparameter_types={"eta": "continuous", "max_depth": "integer"})}

    assert request_errors(TUNING, warm_start_request("rt-demo-0001"), parents=parents) == [
        f"{PARENTS}[0].HyperParameterTuningJobName: 'rt-demo-0001' has other hyperparameters (this job lacks "
        "max_depth; this job adds epochs): warm start needs the same static plus tunable hyperparameter names"
    ]


def test_request_errors_rejects_a_parent_with_another_objective() -> None:
    parents = {"rt-demo-0001": parent_job(objective_metric="validation:mae")}

    assert request_errors(TUNING, warm_start_request("rt-demo-0001"), parents=parents) == [
        f"{PARENTS}[0].HyperParameterTuningJobName: 'rt-demo-0001' optimizes 'validation:mae', this job "
        "'validation:rmse': warm start needs the same objective metric"
    ]


def test_request_errors_rejects_a_parent_that_tunes_a_hyperparameter_as_another_type() -> None:
    parents = {"rt-demo-0001": parent_job(hyperparameter_types={"eta": "categorical", "epochs": "static"})}

    assert request_errors(TUNING, warm_start_request("rt-demo-0001"), parents=parents) == [
        f"{PARENTS}[0].HyperParameterTuningJobName: 'rt-demo-0001' tunes 'eta' as categorical, this job as "
        "continuous: keep its type"
    ]


def test_request_errors_accepts_hyperparameters_moving_between_static_and_tunable() -> None:
    # The parent tuned epochs and kept eta static; this job does the opposite.
    parents = {"rt-demo-0001": parent_job(hyperparameter_types={"eta": "static", "epochs": "integer"})}

    assert request_errors(TUNING, warm_start_request("rt-demo-0001"), parents=parents) == []


def test_request_errors_rejects_more_than_10_hyperparameters_moving_from_tunable_to_static() -> None:
    request = warm_start_request("rt-demo-0001")
    moved = [f"h{n:02d}" for n in range(11)]
    request["TrainingJobDefinition"]["StaticHyperParameters"].update(dict.fromkeys(moved, "1"))
    types = {"eta": "continuous", "epochs": "static", **dict.fromkeys(moved, "integer")}
    parents = {"rt-demo-0001": parent_job(hyperparameter_types=types)}

    assert request_errors(TUNING, request, parents=parents) == [
        f"{PARENTS}[0].HyperParameterTuningJobName: 11 hyperparameters tuned in 'rt-demo-0001' are static "
        f"here, at most 10 such changes: keep some of {', '.join(moved)} tunable"
    ]


# --- validate_request ---------------------------------------------------------------------------------------


def test_validate_request_raises_invalid_request_with_every_error() -> None:
    request = tuning_request()
    request["HyperParameterTuningJobName"] = LONG_NAME_WITH_UNDERSCORE
    request[CONFIG]["Strategy"] = "Bogus"

    with pytest.raises(InvalidRequest) as raised:
        validate_request(TUNING, request)

    assert raised.value.operation == TUNING
    assert raised.value.errors == request_errors(TUNING, request)
    assert len(raised.value.errors) == 3


def test_validate_request_returns_quietly_for_a_valid_request() -> None:
    validate_request(TUNING, warm_start_request("rt-demo-0001"), parents={"rt-demo-0001": parent_job()})
