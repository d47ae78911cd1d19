"""CloudWatch: a training job's metric series, as SageMaker publishes MetricDefinitions metrics.

SageMaker publishes each metric under the namespace `/aws/sagemaker/TrainingJobs` with the dimension
`TrainingJobName`. They are standard-resolution metrics, so in AWS points closer than a minute apart come back
averaged per minute: the per-epoch series of a fast trainer is per minute there (docs/decisions.md).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from retune.adapters.errors import translated

NAMESPACE = "/aws/sagemaker/TrainingJobs"
MAX_POINTS = 1000  # bounded: a trial record must stay far below DynamoDB's 400 KB item limit


def query_period(start: datetime, now: datetime) -> int:
    """The finest period CloudWatch serves for data that old: 1 s within 3 hours, 60 s within 15 days, else 300 s."""
    age = now - start
    if age < timedelta(hours=3):
        return 1
    if age < timedelta(days=15):
        return 60
    return 300


class Metrics:
    def __init__(self, client: Any) -> None:
        self._client = client

    def series(
        self, training_job: str, metric_names: list[str], start: datetime, end: datetime, now: datetime
    ) -> dict[str, list[float]]:
        """Each metric's values in time order (at most MAX_POINTS each), for one training job."""
        if not metric_names:
            return {}
        queries = [
            {
                "Id": f"m{i}",
                "MetricStat": {
                    "Metric": {
                        "Namespace": NAMESPACE,
                        "MetricName": name,
                        "Dimensions": [{"Name": "TrainingJobName", "Value": training_job}],
                    },
                    "Period": query_period(start, now),
                    "Stat": "Average",
                },
                "ReturnData": True,
            }
            for i, name in enumerate(metric_names)
        ]
        out: dict[str, list[float]] = {name: [] for name in metric_names}
        params: dict[str, Any] = {
            "MetricDataQueries": queries,
            "StartTime": start - timedelta(minutes=1),
            "EndTime": end + timedelta(minutes=1),
            "ScanBy": "TimestampAscending",
            "MaxDatapoints": MAX_POINTS * len(metric_names),
        }
        with translated("cloudwatch"):
            while True:
                response = self._client.get_metric_data(**params)
                for result in response.get("MetricDataResults", []):
                    name = metric_names[int(result["Id"][1:])]
                    pairs = sorted(zip(result.get("Timestamps", []), result.get("Values", []), strict=False))
                    out[name].extend(float(v) for _, v in pairs)
                token = response.get("NextToken")
                if not token or all(len(v) >= MAX_POINTS for v in out.values()):
                    break
                params["NextToken"] = token
        return {name: values[:MAX_POINTS] for name, values in out.items()}
