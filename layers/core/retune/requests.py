"""The SageMaker requests retune sends, built from the profile and the plan. Pure: no boto3, no environment.

Every request built here passes `retune.validation.validate_request` before it is sent (the adapters check it).
"""

from __future__ import annotations

import re
from typing import Any, TypedDict, Unpack

from retune.naming import evaluation_job_name, tuning_job_name
from retune.plan import Plan
from retune.profile import CategoricalRange, ContinuousRange, IntegerRange, ParameterRange, Profile

TAG_PROFILE = "retune:profile"
TAG_ROUND = "retune:round"
TAG_DROP = "retune:drop"
# An S3 object tag: the bucket's lifecycle expires the registry's copies that carry it (template.yaml).
TAG_EXPIRABLE = "retune:expirable"
REGISTRY_PREFIX = "registry/"
_TAG_VALUE_UNSAFE = re.compile(r"[^\w .:/=+\-@]")


def tag_value(text: str) -> str:
    """A tag value SageMaker accepts ([\\p{L}\\p{Z}\\p{N}_.:/=+\\-@]*, at most 256): other characters become '_'."""
    return _TAG_VALUE_UNSAFE.sub("_", text)[:256]


def round_tags(profile: str, seq: int, drop_id: str) -> list[dict[str, str]]:
    return [
        {"Key": TAG_PROFILE, "Value": profile},
        {"Key": TAG_ROUND, "Value": str(seq)},
        {"Key": TAG_DROP, "Value": tag_value(drop_id)},
    ]


def s3_uri(bucket: str, key: str) -> str:
    return f"s3://{bucket}/{key}"


def models_prefix(profile: str) -> str:
    return f"models/{profile}/"


def registry_key(profile: str, package: str, source_key: str) -> str:
    """Where a registered package's model lives for good (the lifecycle never expires it, unless tagged
    expirable): registry/<profile>/<package>/<the artifact's file name>. `package` names it within the profile:
    the round's sequence, or the package's group and version for a package retune registered without one."""
    return f"{REGISTRY_PREFIX}{profile}/{package}/{source_key.rsplit('/', 1)[-1]}"


def channel_manifest_key(profile: str, drop_id: str, channel: str) -> str:
    """Where StartRound writes the SageMaker manifest file that lists exactly the channel's files."""
    return f"manifests/{profile}/{drop_id}/{channel}.manifest"


def sagemaker_manifest(bucket: str, drop_prefix: str, files: list[str]) -> list[Any]:
    """SageMaker's ManifestFile format: a prefix, then keys relative to it."""
    return [{"prefix": s3_uri(bucket, drop_prefix)}, *files]


def _range_params(ranges: list[ParameterRange]) -> dict[str, list[dict[str, Any]]]:
    # All three lists, empty ones too (the service model allows 0 items), as the SageMaker SDK sends them: its
    # HyperparameterTuner.attach reads all three unchecked.
    out: dict[str, list[dict[str, Any]]] = {
        "IntegerParameterRanges": [],
        "ContinuousParameterRanges": [],
        "CategoricalParameterRanges": [],
    }
    for r in ranges:
        match r:
            case IntegerRange():
                out.setdefault("IntegerParameterRanges", []).append(
                    {
                        "Name": r.name,
                        "MinValue": str(r.min_value),
                        "MaxValue": str(r.max_value),
                        "ScalingType": r.scaling,
                    }
                )
            case ContinuousRange():
                out.setdefault("ContinuousParameterRanges", []).append(
                    {
                        "Name": r.name,
                        "MinValue": repr(float(r.min_value)),
                        "MaxValue": repr(float(r.max_value)),
                        "ScalingType": r.scaling,
                    }
                )
            case CategoricalRange():
                out.setdefault("CategoricalParameterRanges", []).append(
                    {"Name": r.name, "Values": list(r.values)}
                )
    return out


def _completion_criteria(plan: Plan) -> dict[str, Any]:
    criteria: dict[str, Any] = {}
    if plan.target_objective.value is not None:
        criteria["TargetObjectiveMetricValue"] = plan.target_objective.value
    if plan.max_jobs_not_improving.value is not None:
        criteria["BestObjectiveNotImproving"] = {
            "MaxNumberOfTrainingJobsNotImproving": plan.max_jobs_not_improving.value
        }
    if plan.complete_on_convergence.value:
        criteria["ConvergenceDetected"] = {"CompleteOnConvergence": "Enabled"}
    return criteria


def _common_job_settings(profile: Profile) -> dict[str, Any]:
    """Settings a trial and the evaluation share: security and networking come from the profile's training."""
    t = profile.training
    out: dict[str, Any] = {}
    if t.vpc:
        out["VpcConfig"] = {
            "SecurityGroupIds": list(t.vpc.security_group_ids),
            "Subnets": list(t.vpc.subnets),
        }
    if t.network_isolation:
        out["EnableNetworkIsolation"] = True
    if t.inter_container_encryption:
        out["EnableInterContainerTrafficEncryption"] = True
    return out


def _output_config(profile: Profile, path: str) -> dict[str, Any]:
    config: dict[str, Any] = {"S3OutputPath": path}
    if profile.training.output_kms_key_id:
        config["KmsKeyId"] = profile.training.output_kms_key_id
    return config


def _s3_channel(
    name: str, uri: str, data_type: str, content_type: str | None, input_mode: str
) -> dict[str, Any]:
    channel: dict[str, Any] = {
        "ChannelName": name,
        "DataSource": {
            "S3DataSource": {
                "S3DataType": data_type,
                "S3Uri": uri,
                "S3DataDistributionType": "FullyReplicated",
            }
        },
        "InputMode": input_mode,
    }
    if content_type:
        channel["ContentType"] = content_type
    return channel


class RoundInputs(TypedDict):
    """What a round's requests are built from, its tuning job's and its incumbents' alike: the profile and the plan,
    the round and its drop, each training channel's SageMaker manifest (S3 URI) and content type, the role. The
    builders take it as keywords (`**inputs`), so a caller passes it whole or names each."""

    profile: Profile
    plan: Plan
    seq: int
    drop_id: str
    bucket: str
    channel_manifests: dict[str, str]
    channel_content_types: dict[str, str | None]
    role_arn: str


def _training_definition(inputs: RoundInputs, name: str) -> dict[str, Any]:
    """What a round's training jobs share, its trials' and its incumbents' alike (AMT's TrainingJobDefinition
    without the hyperparameters): image, metric definitions, channels, output, resources, time limit."""
    profile, plan, bucket = inputs["profile"], inputs["plan"], inputs["bucket"]
    channel_manifests, channel_content_types = inputs["channel_manifests"], inputs["channel_content_types"]
    t = profile.training
    stopping: dict[str, Any] = {"MaxRuntimeInSeconds": plan.max_runtime_seconds.value}
    if t.spot and t.max_wait_seconds:
        stopping["MaxWaitTimeInSeconds"] = max(t.max_wait_seconds, plan.max_runtime_seconds.value)
    resources: dict[str, Any] = {
        "InstanceType": t.instance_type,
        "InstanceCount": t.instance_count,
        "VolumeSizeInGB": t.volume_size_gb,
    }
    if t.volume_kms_key_id:
        resources["VolumeKmsKeyId"] = t.volume_kms_key_id
    definition: dict[str, Any] = {
        "AlgorithmSpecification": {
            "TrainingImage": t.image,
            "TrainingInputMode": "File",
            # A built-in algorithm publishes its own metrics and takes no definitions.
            **(
                {"MetricDefinitions": [{"Name": d.name, "Regex": d.regex} for d in t.metric_definitions]}
                if t.metric_definitions
                else {}
            ),
        },
        "RoleArn": t.role_arn or inputs["role_arn"],
        "InputDataConfig": [
            _s3_channel(
                channel,
                channel_manifests[channel],
                "ManifestFile",
                channel_content_types.get(channel)
                or (t.channel_settings[channel].content_type if channel in t.channel_settings else None),
                t.channel_settings[channel].input_mode if channel in t.channel_settings else "File",
            )
            for channel in t.channels
        ],
        "OutputDataConfig": _output_config(profile, s3_uri(bucket, f"{models_prefix(profile.name)}{name}/")),
        "ResourceConfig": resources,
        "StoppingCondition": stopping,
        **_common_job_settings(profile),
    }
    if t.spot:
        definition["EnableManagedSpotTraining"] = True
        definition["CheckpointConfig"] = {
            "S3Uri": s3_uri(bucket, f"{models_prefix(profile.name)}checkpoints/{name}/")
        }
    if t.max_retry_attempts:
        definition["RetryStrategy"] = {"MaximumRetryAttempts": t.max_retry_attempts}
    if t.environment:
        definition["Environment"] = dict(t.environment)
    return definition


def tuning_job_request(*, name: str | None = None, **inputs: Unpack[RoundInputs]) -> dict[str, Any]:
    """CreateHyperParameterTuningJob for round `seq` of `profile`, with the plan's settings.

    `channel_manifests` maps each training channel to the S3 URI of its SageMaker manifest file; `name` is the
    tuning job name the round took (default: its first choice, see retune.naming).
    """
    profile, plan, seq = inputs["profile"], inputs["plan"], inputs["seq"]
    name = name or tuning_job_name(profile.name, seq)
    t = profile.training
    strategy = plan.strategy.value
    limits: dict[str, Any] = {"MaxParallelTrainingJobs": plan.max_parallel_jobs.value}
    if strategy != "Grid":
        limits["MaxNumberOfTrainingJobs"] = plan.max_jobs.value
    if profile.budget.max_round_seconds:
        limits["MaxRuntimeInSeconds"] = profile.budget.max_round_seconds
    config: dict[str, Any] = {
        "Strategy": strategy,
        "HyperParameterTuningJobObjective": {
            "Type": profile.objective.type,
            "MetricName": profile.objective.metric_name,
        },
        "ResourceLimits": limits,
        "ParameterRanges": _range_params(plan.ranges.value),
        # Hyperband stops trials itself and AMT requires early stopping Off with it.
        "TrainingJobEarlyStoppingType": "Off" if strategy == "Hyperband" else plan.early_stopping.value,
    }
    if strategy == "Hyperband" and plan.min_resource.value and plan.max_resource.value:
        config["StrategyConfig"] = {
            "HyperbandStrategyConfig": {
                "MinResource": plan.min_resource.value,
                "MaxResource": plan.max_resource.value,
            }
        }
    criteria = _completion_criteria(plan)
    if criteria:
        config["TuningJobCompletionCriteria"] = criteria
    if profile.search.random_seed is not None:
        config["RandomSeed"] = profile.search.random_seed

    static = dict(t.static_hyperparameters)
    patience_name = profile.metrics.patience_hyperparameter
    if patience_name and plan.patience.value is not None:
        static[patience_name] = str(plan.patience.value)
    definition = {"StaticHyperParameters": static, **_training_definition(inputs, name)}
    request: dict[str, Any] = {
        "HyperParameterTuningJobName": name,
        "HyperParameterTuningJobConfig": config,
        "TrainingJobDefinition": definition,
        "Tags": round_tags(profile.name, seq, inputs["drop_id"]),
    }
    if plan.warm_start_parents.value:
        request["WarmStartConfig"] = {
            "ParentHyperParameterTuningJobs": [
                {"HyperParameterTuningJobName": parent} for parent in plan.warm_start_parents.value
            ],
            "WarmStartType": plan.warm_start_type.value,
        }
    return request


# AMT's own hyperparameters in its trials' descriptions: never passed on to a plain training job.
RESERVED_HYPERPARAMETER_PREFIXES = ("_tuning_objective_metric", "sagemaker_")


def incumbent_job_request(
    *, tuning_job: str, name: str, hyperparameters: dict[str, str], **inputs: Unpack[RoundInputs]
) -> dict[str, Any]:
    """CreateTrainingJob for one of round `seq`'s incumbents, named `name`: the round's trials' definition (so
    the same metrics are emitted and recorded), with the profile's static hyperparameters, the round's patience
    and the configuration's searched hyperparameters; no early stopping (it is no tuning job's trial). Its model
    is written beside the round's trials' (under the tuning job's name)."""
    profile, plan = inputs["profile"], inputs["plan"]
    static = dict(profile.training.static_hyperparameters)
    patience_name = profile.metrics.patience_hyperparameter
    if patience_name and plan.patience.value is not None:
        static[patience_name] = str(plan.patience.value)
    searched = {r.name for r in profile.search.ranges}
    chosen = {
        k: v
        for k, v in hyperparameters.items()
        if k in searched and not k.startswith(RESERVED_HYPERPARAMETER_PREFIXES)
    }
    definition = _training_definition(inputs, tuning_job)
    if (
        "CheckpointConfig" in definition
    ):  # AMT keeps each trial's checkpoints apart; a plain job names its own
        definition["CheckpointConfig"] = {
            "S3Uri": s3_uri(inputs["bucket"], f"{models_prefix(profile.name)}checkpoints/{name}/")
        }
    return {
        "TrainingJobName": name,
        "HyperParameters": {**static, **chosen},
        **definition,
        "Tags": round_tags(profile.name, inputs["seq"], inputs["drop_id"]),
    }


EVALUATION_METRICS = (
    ("challenger_score", r"challenger_score[=:]\s*([-+0-9.eE]+|nan|inf)"),
    ("champion_score", r"champion_score[=:]\s*([-+0-9.eE]+|nan|inf)"),
)


def evaluation_job_request(
    *,
    profile: Profile,
    seq: int,
    drop_id: str,
    bucket: str,
    challenger_model: str,
    champion_model: str | None,
    test_manifest: str,
    test_content_type: str | None,
    role_arn: str,
    name: str | None = None,
) -> dict[str, Any]:
    """CreateTrainingJob for the evaluation of round `seq` (docs/trainer-contract.md, 'evaluate mode'), named
    `name` (the round's `evaluation.job_name`; default: after the round's first-choice tuning job name).

    Channels: `challenger` and, when there is one, `champion` (each a model.tar.gz), and `test` (the drop's
    held-out data). The job prints `challenger_score=` and `champion_score=` lines, scored on the same data.
    """
    e = profile.evaluation
    name = name or evaluation_job_name(profile.name, seq)
    hyperparameters = {
        **e.hyperparameters,
        "retune_mode": "evaluate",
        "objective_metric": profile.objective.metric_name,
        "objective_type": profile.objective.type,
    }
    channels = [_s3_channel("challenger", challenger_model, "S3Prefix", "application/x-tar", "File")]
    if champion_model:
        channels.append(_s3_channel("champion", champion_model, "S3Prefix", "application/x-tar", "File"))
    channels.append(_s3_channel("test", test_manifest, "ManifestFile", test_content_type, "File"))
    resources: dict[str, Any] = {
        "InstanceType": e.instance_type,
        "InstanceCount": e.instance_count,
        "VolumeSizeInGB": e.volume_size_gb,
    }
    if profile.training.volume_kms_key_id:
        resources["VolumeKmsKeyId"] = profile.training.volume_kms_key_id
    return {
        "TrainingJobName": name,
        "HyperParameters": hyperparameters,
        "AlgorithmSpecification": {
            "TrainingImage": profile.evaluation_image,
            "TrainingInputMode": "File",
            "MetricDefinitions": [{"Name": n, "Regex": r} for n, r in EVALUATION_METRICS],
        },
        "RoleArn": profile.training.role_arn or role_arn,
        "InputDataConfig": channels,
        "OutputDataConfig": _output_config(profile, s3_uri(bucket, f"evaluations/{profile.name}/")),
        "ResourceConfig": resources,
        "StoppingCondition": {"MaxRuntimeInSeconds": e.max_runtime_seconds},
        "Tags": round_tags(profile.name, seq, drop_id),
        **_common_job_settings(profile),
    }


def model_package_group_request(profile: Profile) -> dict[str, Any]:
    return {
        "ModelPackageGroupName": profile.model_package_group,
        "ModelPackageGroupDescription": f"retune champions and challengers of profile {profile.name}",
        "Tags": [{"Key": TAG_PROFILE, "Value": profile.name}],
    }


def model_package_request(
    *,
    profile: Profile,
    seq: int,
    model_data: str,
    approval: str,
    client_token: str,
    report_uri: str,
    scores: dict[str, float | None],
    description: str,
) -> dict[str, Any]:
    """CreateModelPackage for a round's challenger: the scores as metadata, the evaluation report as metrics."""
    p = profile.promotion
    metadata = {TAG_PROFILE: profile.name, TAG_ROUND: str(seq)}
    metadata.update({f"retune:{k}": repr(v) for k, v in scores.items() if v is not None})
    return {
        "ModelPackageGroupName": profile.model_package_group,
        "ModelPackageDescription": description[:1000],
        "ClientToken": client_token,
        "InferenceSpecification": {
            "Containers": [{"Image": p.inference_image, "ModelDataUrl": model_data}],
            "SupportedContentTypes": list(p.content_types),
            "SupportedResponseMIMETypes": list(p.response_types),
            "SupportedRealtimeInferenceInstanceTypes": list(p.inference_instance_types),
        },
        "ModelApprovalStatus": approval,
        "ModelMetrics": {
            "ModelQuality": {"Statistics": {"ContentType": "application/json", "S3Uri": report_uri}}
        },
        "CustomerMetadataProperties": metadata,
    }


def model_request(
    *, profile: Profile, seq: int, tuning_job: str, package_arn: str, role_arn: str
) -> dict[str, Any]:
    """CreateModel for round `seq`'s package, named after the round's tuning job (its name is the round's alone)."""
    request: dict[str, Any] = {
        "ModelName": f"{tuning_job}-model",
        "PrimaryContainer": {"ModelPackageName": package_arn},
        "ExecutionRoleArn": profile.training.role_arn or role_arn,
        "Tags": [{"Key": TAG_PROFILE, "Value": profile.name}, {"Key": TAG_ROUND, "Value": str(seq)}],
    }
    if profile.training.vpc:
        request["VpcConfig"] = {
            "SecurityGroupIds": list(profile.training.vpc.security_group_ids),
            "Subnets": list(profile.training.vpc.subnets),
        }
    if profile.training.network_isolation:
        request["EnableNetworkIsolation"] = True
    return request


def endpoint_config_request(*, profile: Profile, seq: int, tuning_job: str) -> dict[str, Any]:
    """CreateEndpointConfig for round `seq`'s model, named after the round's tuning job."""
    assert profile.promotion.endpoint is not None
    endpoint = profile.promotion.endpoint
    return {
        "EndpointConfigName": f"{tuning_job}-config",
        "ProductionVariants": [
            {
                "VariantName": "AllTraffic",
                "ModelName": f"{tuning_job}-model",
                "InstanceType": endpoint.instance_type,
                "InitialInstanceCount": endpoint.initial_instance_count,
            }
        ],
        "Tags": [{"Key": TAG_PROFILE, "Value": profile.name}, {"Key": TAG_ROUND, "Value": str(seq)}],
    }
