"""A trainer that records what the container contract gave it: environment, config files and channel files."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

root = Path(os.environ["SAGEMAKER_BASE_DIR"])
files = sorted(
    str(p.relative_to(root / "input" / "data")) for p in (root / "input" / "data").rglob("*") if p.is_file()
)
report = {
    "env": {
        k: v for k, v in os.environ.items() if k.startswith(("SM_", "TRAINING_JOB_", "SAGEMAKER_", "CUSTOM_"))
    },
    "files": files,
    "cwd": os.getcwd(),
    "hyperparameters": json.loads((root / "input" / "config" / "hyperparameters.json").read_text()),
    "inputdataconfig": json.loads((root / "input" / "config" / "inputdataconfig.json").read_text()),
    "resourceconfig": json.loads((root / "input" / "config" / "resourceconfig.json").read_text()),
}
(root / "model" / "report.json").write_text(json.dumps(report))
(root / "output" / "data").mkdir(parents=True, exist_ok=True)
(root / "output" / "data" / "extra.txt").write_text("extra")
print("accuracy=0.5 loss=0.25")
print("note to stderr", file=sys.stderr)
print("loss=0.125", file=sys.stderr)
