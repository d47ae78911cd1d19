"""A scripted trainer for the local SageMaker's tests: its curve is a known function of its hyperparameters.

It follows the container contract: reads $SAGEMAKER_BASE_DIR/input/config/hyperparameters.json, prints one
`epoch=<n> loss=<value>` line per epoch (the loss is its best so far), writes model/ and, on failure,
output/failure. Hyperparameters: x (tuned), epochs (static), and optionally
  offset        added to the loss;
  fail_above    exit 1 with a failure message when x is above it;
  hang          after the last epoch, wait until stopped;
  data_channel  print the number of files in that channel (`files=<n>`).
"""

from __future__ import annotations

import json
import os
import sys
import threading
from pathlib import Path


def loss(x: float, epoch: int, offset: float = 0.0) -> float:
    """Decreasing in the epoch; lowest for x = 0.3."""
    return round((x - 0.3) ** 2 + offset + 1.0 / epoch, 6)


def main() -> int:
    root = Path(os.environ.get("SAGEMAKER_BASE_DIR", "/opt/ml"))
    hp = json.loads((root / "input" / "config" / "hyperparameters.json").read_text())
    x = float(hp.get("x", "0"))
    offset = float(hp.get("offset", "0"))
    if "fail_above" in hp and x > float(hp["fail_above"]):
        (root / "output" / "failure").write_text(f"x={x} is above {hp['fail_above']}")
        return 1
    if "data_channel" in hp:
        channel = root / "input" / "data" / hp["data_channel"]
        print(f"files={sum(1 for p in channel.rglob('*') if p.is_file())}")
    for epoch in range(1, int(hp.get("epochs", "5")) + 1):
        print(f"epoch={epoch} loss={loss(x, epoch, offset)}")
    (root / "model" / "model.json").write_text(json.dumps(hp))
    if hp.get("hang") == "1":
        threading.Event().wait()
    return 0


if __name__ == "__main__":
    sys.exit(main())
