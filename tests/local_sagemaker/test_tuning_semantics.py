"""AMT's semantics as the local SageMaker implements them, pinned with the scripted trainer's known curves."""

from __future__ import annotations

import itertools
import time
from typing import Any

import pytest
from retune_local import LocalSageMaker, ServiceError

from tests.local_sagemaker import oracle
from tests.local_sagemaker.conftest import Connect, ServiceFactory, final, run_tuning, trials, tuning_request
from tests.local_sagemaker.trainers.curve import loss

pytestmark = pytest.mark.local_stack

EPOCHS = 5


def xs_of(summaries: list[dict[str, Any]]) -> list[float]:
    return [float(s["TunedHyperParameters"]["x"]) for s in summaries]


def outcome(summaries: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    """What must not depend on parallelism: each job's hyperparameters, status and final objective."""
    return [(s["TunedHyperParameters"], s["TrainingJobStatus"], final(s)) for s in summaries]


@pytest.mark.parametrize("parallel", [1, 4])
def test_tuning_median_rule_stops_exactly_the_jobs_the_documented_rule_stops(
    service: LocalSageMaker, parallel: int
) -> None:
    run_tuning(
        service, tuning_request("median", max_jobs=14, parallel=parallel, early_stopping="Auto", seed=11)
    )

    summaries = trials(service, "median")
    expected = oracle.median_rule(xs_of(summaries), EPOCHS)
    for summary, stop, x in zip(summaries, expected, xs_of(summaries), strict=True):
        if stop is None:
            assert summary["TrainingJobStatus"] == "Completed", summary["TrainingJobName"]
            assert final(summary) == loss(x, EPOCHS)
        else:
            assert summary["TrainingJobStatus"] == "Stopped", summary["TrainingJobName"]
            assert final(summary) == loss(x, stop)
    stopped = sum(stop is not None for stop in expected)
    assert 2 <= stopped <= len(expected) - 2, "the scenario must stop some jobs and spare others"


def test_tuning_early_stopped_jobs_count_as_stopped_with_their_objective(service: LocalSageMaker) -> None:
    described = run_tuning(
        service, tuning_request("counted", max_jobs=10, parallel=2, early_stopping="Auto", seed=11)
    )

    summaries = trials(service, "counted")
    stopped = [s for s in summaries if s["TrainingJobStatus"] == "Stopped"]
    assert stopped
    assert described["TrainingJobStatusCounters"]["Stopped"] == len(stopped)
    assert described["TrainingJobStatusCounters"]["Completed"] == len(summaries) - len(stopped)
    assert described["ObjectiveStatusCounters"] == {"Succeeded": len(summaries), "Pending": 0, "Failed": 0}
    assert all(s["ObjectiveStatus"] == "Succeeded" for s in stopped)
    best = min(summaries, key=lambda s: final(s) or float("inf"))
    assert described["BestTrainingJob"]["TrainingJobName"] == best["TrainingJobName"]


def test_tuning_same_seed_gives_same_trials_stops_and_best_with_parallelism_1_and_4(
    make_service: ServiceFactory,
) -> None:
    results = []
    for parallel in (1, 4):
        service = make_service()
        described = run_tuning(
            service, tuning_request("same", max_jobs=12, parallel=parallel, early_stopping="Auto", seed=5)
        )
        results.append((outcome(trials(service, "same")), described["BestTrainingJob"]["TrainingJobName"]))

    assert results[0] == results[1]


def test_tuning_bayesian_is_reproducible_at_a_given_parallelism(make_service: ServiceFactory) -> None:
    runs = []
    for _ in range(2):
        service = make_service()
        run_tuning(service, tuning_request("tpe", strategy="Bayesian", max_jobs=14, parallel=4, seed=3))
        runs.append(outcome(trials(service, "tpe")))

    assert runs[0] == runs[1]
    assert len({s[0]["x"] for s in runs[0]}) == 14


def test_tuning_different_seeds_give_different_trials(make_service: ServiceFactory) -> None:
    first, second = make_service(), make_service()
    run_tuning(first, tuning_request("seeded", max_jobs=3, seed=1))
    run_tuning(second, tuning_request("seeded", max_jobs=3, seed=2))

    assert xs_of(trials(first, "seeded")) != xs_of(trials(second, "seeded"))


def test_tuning_logarithmic_and_reverse_logarithmic_ranges_stay_in_bounds(service: LocalSageMaker) -> None:
    ranges = {
        "ContinuousParameterRanges": [
            {"Name": "x", "MinValue": "0.001", "MaxValue": "1", "ScalingType": "Logarithmic"},
            {"Name": "momentum", "MinValue": "0.5", "MaxValue": "0.999", "ScalingType": "ReverseLogarithmic"},
        ],
        "IntegerParameterRanges": [
            {"Name": "depth", "MinValue": "1", "MaxValue": "64", "ScalingType": "Logarithmic"}
        ],
    }
    run_tuning(service, tuning_request("scales", max_jobs=8, parallel=4, ranges=ranges))

    for summary in trials(service, "scales"):
        tuned = summary["TunedHyperParameters"]
        assert 0.001 <= float(tuned["x"]) <= 1
        assert 0.5 <= float(tuned["momentum"]) <= 0.999
        assert tuned["depth"].isdigit()
        assert 1 <= int(tuned["depth"]) <= 64


def test_tuning_hyperband_with_auto_early_stopping_is_rejected(
    service: LocalSageMaker, connect: Connect
) -> None:
    request = tuning_request(
        "hb", strategy="Hyperband", early_stopping="Auto", hyperband={"MinResource": 1, "MaxResource": 9}
    )
    client = connect(service)

    with pytest.raises(client.exceptions.ClientError) as caught:
        client.create_hyper_parameter_tuning_job(**request)

    assert caught.value.response["Error"]["Code"] == "ValidationException"
    assert "Hyperband" in caught.value.response["Error"]["Message"]


@pytest.mark.parametrize("parallel", [1, 3])
def test_tuning_hyperband_stops_jobs_at_its_rungs_and_at_max_resource(
    service: LocalSageMaker, parallel: int
) -> None:
    request = tuning_request(
        "hb",
        strategy="Hyperband",
        max_jobs=12,
        parallel=parallel,
        epochs=12,
        hyperband={"MinResource": 1, "MaxResource": 9},
    )
    run_tuning(service, request)

    summaries = trials(service, "hb")
    expected = oracle.hyperband(xs_of(summaries), 12, 1, 9)
    for summary, stop, x in zip(summaries, expected, xs_of(summaries), strict=True):
        assert stop is not None, "every job reaches a rung it fails or MaxResource"
        assert summary["TrainingJobStatus"] == "Stopped"
        assert final(summary) == loss(x, stop)
    assert any(stop == 9 for stop in expected)
    assert any(stop < 9 for stop in expected)


def test_tuning_hyperband_infers_max_resource_from_the_epochs_hyperparameter(service: LocalSageMaker) -> None:
    described = run_tuning(
        service, tuning_request("hbinfer", strategy="Hyperband", max_jobs=3, parallel=1, epochs=4)
    )

    assert described["HyperParameterTuningJobStatus"] == "Completed"
    assert all(
        final(s) == loss(float(s["TunedHyperParameters"]["x"]), 4) for s in trials(service, "hbinfer")[:1]
    )


def test_tuning_grid_runs_one_job_per_combination(service: LocalSageMaker) -> None:
    ranges = {
        "CategoricalParameterRanges": [
            {"Name": "x", "Values": ["0.1", "0.3", "0.9"]},
            {"Name": "offset", "Values": ["0", "1"]},
        ]
    }
    described = run_tuning(
        service, tuning_request("grid", strategy="Grid", max_jobs=None, parallel=4, ranges=ranges)
    )

    combos = [
        (s["TunedHyperParameters"]["x"], s["TunedHyperParameters"]["offset"]) for s in trials(service, "grid")
    ]
    assert sorted(combos) == sorted(itertools.product(["0.1", "0.3", "0.9"], ["0", "1"]))
    assert described["TrainingJobStatusCounters"]["Completed"] == 6
    assert described["BestTrainingJob"]["TunedHyperParameters"] == {"x": "0.3", "offset": "0"}


def test_tuning_grid_rejects_a_max_number_of_jobs_other_than_the_combinations(
    service: LocalSageMaker,
) -> None:
    ranges = {"CategoricalParameterRanges": [{"Name": "x", "Values": ["0.1", "0.3"]}]}

    with pytest.raises(ServiceError) as caught:
        service.handle(
            "CreateHyperParameterTuningJob",
            tuning_request("grid", strategy="Grid", max_jobs=5, ranges=ranges),
        )

    assert caught.value.code == "ValidationException"


def test_tuning_target_objective_ends_the_job_at_the_first_trial_reaching_it(service: LocalSageMaker) -> None:
    target = 0.23
    described = run_tuning(
        service,
        tuning_request("target", max_jobs=30, parallel=1, criteria={"TargetObjectiveMetricValue": target}),
    )

    summaries = trials(service, "target")
    finals = [loss(x, EPOCHS) for x in xs_of(summaries)]
    assert len(summaries) == oracle.first_reaching(finals, target) < 30
    assert described["HyperParameterTuningJobStatus"] == "Completed"
    assert final(described["BestTrainingJob"]) <= target  # type: ignore[operator]


def test_tuning_best_objective_not_improving_ends_the_job_at_the_right_trial(service: LocalSageMaker) -> None:
    criteria = {"BestObjectiveNotImproving": {"MaxNumberOfTrainingJobsNotImproving": 3}}
    described = run_tuning(
        service, tuning_request("plateau", max_jobs=40, parallel=1, criteria=criteria, seed=4)
    )

    summaries = trials(service, "plateau")
    finals = [loss(x, EPOCHS) for x in xs_of(summaries)]
    assert len(summaries) == oracle.not_improving_end(finals, 3) < 40
    assert described["TuningJobCompletionDetails"]["NumberOfTrainingJobsObjectiveNotImproving"] == 3
    assert described["HyperParameterTuningJobStatus"] == "Completed"


def test_tuning_convergence_detected_ends_the_job_at_the_right_trial(service: LocalSageMaker) -> None:
    criteria = {"ConvergenceDetected": {"CompleteOnConvergence": "Enabled"}}
    described = run_tuning(
        service, tuning_request("converge", max_jobs=60, parallel=1, criteria=criteria, seed=9)
    )

    summaries = trials(service, "converge")
    finals = [loss(x, EPOCHS) for x in xs_of(summaries)]
    assert len(summaries) == oracle.convergence_end(finals) < 60
    assert "ConvergenceDetectedTime" in described["TuningJobCompletionDetails"]


def test_tuning_criteria_stop_the_jobs_still_running(service: LocalSageMaker) -> None:
    described = run_tuning(
        service,
        tuning_request("target4", max_jobs=30, parallel=4, criteria={"TargetObjectiveMetricValue": 10.0}),
    )

    statuses = sorted(s["TrainingJobStatus"] for s in trials(service, "target4"))
    assert statuses == ["Completed", "Stopped", "Stopped", "Stopped"]
    assert described["HyperParameterTuningJobStatus"] == "Completed"


def test_tuning_max_runtime_ends_the_tuning_job_on_the_virtual_clock(service: LocalSageMaker) -> None:
    # Each job takes 5 epochs x 10 s; after 120 s the 2-wide tuning job has finished 4 jobs and started 2
    # more.
    described = run_tuning(service, tuning_request("deadline", max_jobs=20, parallel=2, max_runtime=120))

    statuses = [s["TrainingJobStatus"] for s in trials(service, "deadline")]
    assert statuses == ["Completed"] * 4 + ["Stopped"] * 2
    assert described["HyperParameterTuningJobStatus"] == "Completed"
    assert described["ConsumedResources"]["RuntimeInSeconds"] == 120


def test_tuning_per_job_max_runtime_stops_jobs_as_max_runtime_exceeded(service: LocalSageMaker) -> None:
    run_tuning(service, tuning_request("slow", max_jobs=2, parallel=2, job_max_runtime=25))

    for summary in trials(service, "slow"):
        job = service.handle("DescribeTrainingJob", {"TrainingJobName": summary["TrainingJobName"]})
        assert job["TrainingJobStatus"] == "Stopped"
        assert job["SecondaryStatus"] == "MaxRuntimeExceeded"
        assert job["TrainingTimeInSeconds"] == 25
        assert final(summary) == loss(float(summary["TunedHyperParameters"]["x"]), 2)


def test_tuning_repeated_name_gives_resource_in_use(service: LocalSageMaker, connect: Connect) -> None:
    run_tuning(service, tuning_request("Round-1", max_jobs=1, parallel=1))
    client = connect(service)

    with pytest.raises(client.exceptions.ResourceInUse):
        client.create_hyper_parameter_tuning_job(**tuning_request("round-1", max_jobs=1, parallel=1))


def test_tuning_concurrency_limit_gives_resource_limit_exceeded(
    make_service: ServiceFactory, connect: Connect
) -> None:
    service = make_service(max_concurrent_tuning_jobs=1)
    service.handle(
        "CreateHyperParameterTuningJob", tuning_request("first", max_jobs=2, parallel=1, static={"hang": "1"})
    )
    client = connect(service)

    with pytest.raises(client.exceptions.ResourceLimitExceeded):
        client.create_hyper_parameter_tuning_job(**tuning_request("second", max_jobs=1, parallel=1))


def test_tuning_stop_stops_running_trials(service: LocalSageMaker, connect: Connect) -> None:
    service.handle(
        "CreateHyperParameterTuningJob", tuning_request("halt", max_jobs=9, parallel=3, static={"hang": "1"})
    )
    service.wait_for(
        lambda: sum(j["TrainingJobStatus"] == "InProgress" for j in trials(service, "halt")) == 3
    )

    connect(service).stop_hyper_parameter_tuning_job(HyperParameterTuningJobName="halt")
    described = service.wait_tuning_job("halt")

    summaries = trials(service, "halt")
    assert described["HyperParameterTuningJobStatus"] == "Stopped"
    assert [s["TrainingJobStatus"] for s in summaries] == ["Stopped"] * 3
    assert described["TrainingJobStatusCounters"]["Stopped"] == 3


def test_tuning_failed_first_jobs_fail_the_tuning_job(service: LocalSageMaker) -> None:
    described = run_tuning(
        service, tuning_request("broken", max_jobs=10, parallel=2, static={"fail_above": "-1"})
    )

    assert described["HyperParameterTuningJobStatus"] == "Failed"
    assert "AlgorithmError" in described["FailureReason"]
    # The fourth job was already running when the third failed: it is stopped, without an objective.
    assert [s["TrainingJobStatus"] for s in trials(service, "broken")] == ["Failed"] * 3 + ["Stopped"]
    assert described["TrainingJobStatusCounters"]["NonRetryableError"] == 3
    assert described["ObjectiveStatusCounters"]["Failed"] == 4


def test_tuning_failed_jobs_count_and_do_not_become_best(service: LocalSageMaker) -> None:
    described = run_tuning(
        service, tuning_request("mixed", max_jobs=10, parallel=2, static={"fail_above": "0.5"})
    )

    summaries = trials(service, "mixed")
    failed = [s for s in summaries if s["TrainingJobStatus"] == "Failed"]
    assert failed
    assert all(float(s["TunedHyperParameters"]["x"]) > 0.5 for s in failed)
    assert described["TrainingJobStatusCounters"]["NonRetryableError"] == len(failed)
    assert float(described["BestTrainingJob"]["TunedHyperParameters"]["x"]) <= 0.5


def test_tuning_twenty_trials_of_a_trivial_trainer_take_a_few_seconds(service: LocalSageMaker) -> None:
    started = time.perf_counter()
    described = run_tuning(service, tuning_request("fast", max_jobs=20, parallel=4, early_stopping="Auto"))
    elapsed = time.perf_counter() - started

    assert described["HyperParameterTuningJobStatus"] == "Completed"
    assert sum(described["TrainingJobStatusCounters"].values()) == 20
    assert elapsed < 5.0, f"20 trials took {elapsed:.2f}s"


class TestWarmStart:
    def parent(self, service: LocalSageMaker, name: str, **options: Any) -> dict[str, Any]:
        return run_tuning(service, tuning_request(name, max_jobs=4, parallel=2, **options))

    def test_warm_start_six_parents_are_rejected(self, service: LocalSageMaker) -> None:
        for index in range(6):
            self.parent(service, f"parent-{index}")
        warm = {
            "ParentHyperParameterTuningJobs": [
                {"HyperParameterTuningJobName": f"parent-{i}"} for i in range(6)
            ],
            "WarmStartType": "TransferLearning",
        }

        with pytest.raises(ServiceError) as caught:
            service.handle("CreateHyperParameterTuningJob", tuning_request("child", warm_start=warm))

        assert caught.value.code == "ValidationException"

    def test_warm_start_running_parent_is_rejected(self, service: LocalSageMaker) -> None:
        service.handle(
            "CreateHyperParameterTuningJob",
            tuning_request("running", max_jobs=2, parallel=1, static={"hang": "1"}),
        )
        warm = {
            "ParentHyperParameterTuningJobs": [{"HyperParameterTuningJobName": "running"}],
            "WarmStartType": "TransferLearning",
        }

        with pytest.raises(ServiceError) as caught:
            service.handle("CreateHyperParameterTuningJob", tuning_request("child", warm_start=warm))

        assert caught.value.code == "ValidationException"
        assert "InProgress" in caught.value.message

    def test_warm_start_missing_parent_is_rejected(self, service: LocalSageMaker) -> None:
        warm = {
            "ParentHyperParameterTuningJobs": [{"HyperParameterTuningJobName": "ghost"}],
            "WarmStartType": "TransferLearning",
        }

        with pytest.raises(ServiceError) as caught:
            service.handle("CreateHyperParameterTuningJob", tuning_request("child", warm_start=warm))

        assert caught.value.code == "ValidationException"

    def test_warm_start_identical_data_reports_the_overall_best(self, service: LocalSageMaker) -> None:
        parent = self.parent(service, "parent", seed=1)
        warm = {
            "ParentHyperParameterTuningJobs": [{"HyperParameterTuningJobName": "parent"}],
            "WarmStartType": "IdenticalDataAndAlgorithm",
        }

        child = run_tuning(
            service,
            tuning_request("child", strategy="Bayesian", max_jobs=3, parallel=1, seed=2, warm_start=warm),
        )

        candidates = [parent["BestTrainingJob"], child["BestTrainingJob"]]
        overall = min(candidates, key=lambda s: final(s) or float("inf"))
        assert child["OverallBestTrainingJob"]["TrainingJobName"] == overall["TrainingJobName"]
        assert child["WarmStartConfig"] == warm

    def test_warm_start_parents_seed_the_bayesian_sampler(self, make_service: ServiceFactory) -> None:
        warm = {
            "ParentHyperParameterTuningJobs": [{"HyperParameterTuningJobName": "parent"}],
            "WarmStartType": "TransferLearning",
        }
        cold, seeded = make_service(), make_service()
        for service in (cold, seeded):
            self.parent(service, "parent", seed=1)
        # Ten parents' trials exceed TPE's startup count: the first child trial is already model-based.
        run_tuning(seeded, tuning_request("big", max_jobs=10, parallel=2, seed=1))
        warm_big = {**warm, "ParentHyperParameterTuningJobs": [{"HyperParameterTuningJobName": "big"}]}
        run_tuning(
            seeded,
            tuning_request("child", strategy="Bayesian", max_jobs=1, parallel=1, seed=2, warm_start=warm_big),
        )
        run_tuning(cold, tuning_request("child", strategy="Bayesian", max_jobs=1, parallel=1, seed=2))

        assert xs_of(trials(seeded, "child")) != xs_of(trials(cold, "child"))

    def test_warm_start_parents_and_new_jobs_count_against_the_per_tuning_job_limit(
        self, make_service: ServiceFactory
    ) -> None:
        service = make_service(max_jobs_per_tuning_job=10)
        self.parent(service, "parent")
        warm = {
            "ParentHyperParameterTuningJobs": [{"HyperParameterTuningJobName": "parent"}],
            "WarmStartType": "TransferLearning",
        }

        with pytest.raises(ServiceError) as caught:
            service.handle(
                "CreateHyperParameterTuningJob", tuning_request("child", max_jobs=7, warm_start=warm)
            )

        assert caught.value.code == "ResourceLimitExceeded"


def test_tuning_stop_training_job_stops_one_trial_of_a_tuning_job(service: LocalSageMaker) -> None:
    service.handle(
        "CreateHyperParameterTuningJob", tuning_request("one", max_jobs=1, parallel=1, static={"hang": "1"})
    )

    # Stop it once it has reported its epochs (a stop is consumed at once, even before earlier reports).
    def reported() -> bool:
        names = [s["TrainingJobName"] for s in trials(service, "one")]
        described = names and service.handle("DescribeTrainingJob", {"TrainingJobName": names[0]})
        return bool(described) and len(described.get("FinalMetricDataList", [])) == 1

    service.wait_for(reported)
    only = trials(service, "one")[0]["TrainingJobName"]
    service.handle("StopTrainingJob", {"TrainingJobName": only})
    described = service.wait_tuning_job("one")

    assert service.handle("DescribeTrainingJob", {"TrainingJobName": only})["TrainingJobStatus"] == "Stopped"
    # The tuning job itself goes on (here: to its end); the stopped trial keeps the objective it reported.
    assert described["HyperParameterTuningJobStatus"] == "Completed"
    assert described["ObjectiveStatusCounters"] == {"Succeeded": 1, "Pending": 0, "Failed": 0}
    assert described["BestTrainingJob"]["TrainingJobName"] == only


class TestRealTime:
    def test_real_time_tuning_job_runs_to_completion(self, make_service: ServiceFactory) -> None:
        service = make_service(deterministic=False)

        described = run_tuning(service, tuning_request("live", max_jobs=8, parallel=4, early_stopping="Auto"))

        counters = described["TrainingJobStatusCounters"]
        assert described["HyperParameterTuningJobStatus"] == "Completed"
        assert counters["Completed"] + counters["Stopped"] == 8
        assert described["ObjectiveStatusCounters"]["Succeeded"] == 8

    def test_real_time_stop_stops_running_trials(self, make_service: ServiceFactory) -> None:
        service = make_service(deterministic=False)
        service.handle(
            "CreateHyperParameterTuningJob",
            tuning_request("live", max_jobs=4, parallel=2, static={"hang": "1"}),
        )
        service.wait_for(lambda: sum(s["ObjectiveStatus"] == "Pending" for s in trials(service, "live")) == 2)

        service.handle("StopHyperParameterTuningJob", {"HyperParameterTuningJobName": "live"})
        described = service.wait_tuning_job("live")

        assert described["HyperParameterTuningJobStatus"] == "Stopped"
        assert described["TrainingJobStatusCounters"]["Stopped"] == 2
