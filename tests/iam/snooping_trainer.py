"""The toy trainer, which first tries to read an object of S3 (the `snoop` hyperparameter: "<own key>,<other key>")
with the credentials its container gets (the job's execution role, as SageMaker's containers get theirs) and keeps
what S3 answered for each in model/snoop.json, inside the model it uploads."""

from __future__ import annotations

import json
import os
import runpy
from pathlib import Path

import boto3
from botocore.exceptions import ClientError

TOY = Path(__file__).resolve().parents[1] / "local" / "toy_trainer.py"


def attempt(s3: object, bucket: str, key: str) -> str:
    try:
        s3.get_object(Bucket=bucket, Key=key)  # type: ignore[attr-defined]
    except ClientError as exc:
        return str(exc.response["Error"]["Code"])
    return "read"


def main() -> None:
    root = Path(os.environ.get("SAGEMAKER_BASE_DIR", "/opt/ml"))
    hyperparameters = json.loads((root / "input" / "config" / "hyperparameters.json").read_text())
    bucket, own, other = str(hyperparameters["snoop"]).split(",")
    s3 = boto3.client("s3")  # the job's role, from the environment the service gives the container
    answers = {"own": attempt(s3, bucket, own), "other": attempt(s3, bucket, other)}
    (root / "model").mkdir(parents=True, exist_ok=True)
    (root / "model" / "snoop.json").write_text(json.dumps(answers))
    runpy.run_path(str(TOY), run_name="__main__")


if __name__ == "__main__":
    main()
