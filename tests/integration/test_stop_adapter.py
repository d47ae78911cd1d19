"""SageMaker's stops through the adapter (a Stubber: the exact requests, AWS's error shapes): `retune stop`
tells a job that is not InProgress (ValidationException, SageMaker's only signal) from a refusal it must show."""

from __future__ import annotations

import boto3
import pytest
from botocore.exceptions import ClientError
from botocore.stub import Stubber
from retune.adapters.sagemaker import SageMaker
from retune.errors import Refused

JOB = "rt-market-xgb-0002-inc1"


def test_stops_send_sagemakers_requests_and_a_job_not_in_progress_is_refused() -> None:
    client = boto3.client(
        "sagemaker", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x"
    )
    with Stubber(client) as stub:  # type: ignore[arg-type]
        stub.add_response("stop_training_job", {}, {"TrainingJobName": JOB})
        stub.add_client_error(
            "stop_training_job",
            "ValidationException",
            "The request was rejected because the training job is in status Completed.",
            400,
            expected_params={"TrainingJobName": JOB},
        )
        stub.add_client_error(
            "stop_training_job",
            "AccessDeniedException",
            "not authorized",
            400,
            expected_params={"TrainingJobName": JOB},
        )
        stub.add_response(
            "stop_hyper_parameter_tuning_job", {}, {"HyperParameterTuningJobName": "rt-market-xgb-0002"}
        )
        sagemaker = SageMaker(client)
        sagemaker.stop_training_job(JOB)
        with pytest.raises(Refused, match="status Completed"):
            sagemaker.stop_training_job(JOB)
        with pytest.raises(ClientError, match="AccessDenied"):
            sagemaker.stop_training_job(JOB)
        sagemaker.stop_tuning_job("rt-market-xgb-0002")
        stub.assert_no_pending_responses()
