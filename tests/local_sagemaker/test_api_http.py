"""The JSON 1.1 protocol over HTTP, as boto3 speaks it, and the listing calls."""

from __future__ import annotations

import json
import urllib.request
from datetime import datetime

import pytest
from retune_local import LocalSageMaker, ServiceError

from tests.local_sagemaker.conftest import Connect, Serve, run_tuning, tuning_request

pytestmark = pytest.mark.local_stack


def post(url: str, target: str, body: bytes) -> tuple[int, dict[str, object]]:
    request = urllib.request.Request(
        url,
        data=body,
        method="POST",
        headers={"X-Amz-Target": target, "Content-Type": "application/x-amz-json-1.1"},
    )
    try:
        with urllib.request.urlopen(request) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def test_http_errors_have_aws_json_shape(service: LocalSageMaker, serve: Serve) -> None:
    url = serve(service).url

    status, body = post(
        url, "SageMaker.DescribeHyperParameterTuningJob", b'{"HyperParameterTuningJobName": "absent"}'
    )

    assert status == 400
    assert body == {
        "__type": "ResourceNotFound",
        "message": "Amazon SageMaker can't find a tuning job with name absent",
    }


def test_http_unknown_operation_and_bad_body(service: LocalSageMaker, serve: Serve) -> None:
    url = serve(service).url

    assert post(url, "SageMaker.DeleteEverything", b"{}")[1]["__type"] == "UnknownOperationException"
    assert post(url, "SageMaker.ListTags", b"{not json")[1]["__type"] == "SerializationException"


def test_http_requests_are_validated_with_the_shared_validator(
    service: LocalSageMaker, connect: Connect
) -> None:
    client = connect(service)

    with pytest.raises(client.exceptions.ClientError) as caught:
        client.describe_training_job(TrainingJobName="bad_name_with_underscores")

    assert caught.value.response["Error"]["Code"] == "ValidationException"
    assert "TrainingJobName" in caught.value.response["Error"]["Message"]


def test_http_timestamps_parse_as_datetimes(service: LocalSageMaker, connect: Connect) -> None:
    run_tuning(service, tuning_request("times", max_jobs=1, parallel=1))

    described = connect(service).describe_hyper_parameter_tuning_job(HyperParameterTuningJobName="times")

    assert isinstance(described["CreationTime"], datetime)
    assert isinstance(described["HyperParameterTuningEndTime"], datetime)
    assert described["CreationTime"] <= described["HyperParameterTuningEndTime"]


def test_list_training_jobs_for_tuning_job_filters_sorts_and_pages(
    service: LocalSageMaker, connect: Connect
) -> None:
    run_tuning(
        service, tuning_request("listing", max_jobs=7, parallel=2, static={"fail_above": "0.8"}, seed=3)
    )
    client = connect(service)

    by_objective = [
        job
        for page in client.get_paginator("list_training_jobs_for_hyper_parameter_tuning_job").paginate(
            HyperParameterTuningJobName="listing",
            SortBy="FinalObjectiveMetricValue",
            SortOrder="Ascending",
            PaginationConfig={"PageSize": 2},
        )
        for job in page["TrainingJobSummaries"]
    ]
    failed = client.list_training_jobs_for_hyper_parameter_tuning_job(
        HyperParameterTuningJobName="listing", StatusEquals="Failed"
    )
    by_name = client.list_training_jobs_for_hyper_parameter_tuning_job(
        HyperParameterTuningJobName="listing", SortOrder="Descending", MaxResults=3
    )

    values = [job["FinalHyperParameterTuningJobObjectiveMetric"]["Value"] for job in by_objective]
    assert values == sorted(values)
    assert len(by_objective) + len(failed["TrainingJobSummaries"]) == 7
    assert failed["TrainingJobSummaries"], "the scenario has failures: they are not listed by objective"
    assert [j["TrainingJobName"] for j in by_name["TrainingJobSummaries"]] == [
        f"listing-{i:03d}" for i in (7, 6, 5)
    ] or all(
        j["TrainingJobName"].startswith(f"listing-{i:03d}-")
        for j, i in zip(by_name["TrainingJobSummaries"], (7, 6, 5), strict=True)
    )
    assert "NextToken" in by_name


def test_list_tuning_jobs_filters_and_sorts(service: LocalSageMaker) -> None:
    for name in ("rt-b-0001", "rt-a-0001", "other-0001"):
        run_tuning(service, tuning_request(name, max_jobs=1, parallel=1))

    listed = service.handle("ListHyperParameterTuningJobs", {"NameContains": "rt-", "SortBy": "Name"})[
        "HyperParameterTuningJobSummaries"
    ]
    completed = service.handle(
        "ListHyperParameterTuningJobs",
        {"StatusEquals": "Completed", "SortBy": "CreationTime", "SortOrder": "Descending"},
    )

    assert [s["HyperParameterTuningJobName"] for s in listed] == ["rt-a-0001", "rt-b-0001"]
    assert [s["HyperParameterTuningJobName"] for s in completed["HyperParameterTuningJobSummaries"]] == [
        "other-0001",
        "rt-a-0001",
        "rt-b-0001",
    ]
    assert listed[0]["Strategy"] == "Random"


def test_handle_rejects_unknown_operations(service: LocalSageMaker) -> None:
    with pytest.raises(ServiceError) as caught:
        service.handle("DeleteHyperParameterTuningJob", {})

    assert caught.value.code == "UnknownOperationException"
