"""A toy trainer that follows retune's trainer contract (docs/trainer-contract.md) in a few milliseconds.

Train mode: the objective (`validation_rmse`, best so far) is a known function of the hyperparameter `x` and of
the number of validation rows, printed once per epoch with `epoch=` and `compute=`; model/model.json keeps x.
Evaluate mode (`retune_mode=evaluate`): scores the challenger's and the champion's model.tar.gz on the `test`
channel with the same function, and prints `challenger_score=` and `champion_score=`.
"""

from __future__ import annotations

import json
import os
import sys
import tarfile
from pathlib import Path


def rows(channel: Path) -> int:
    return sum(len(p.read_text().splitlines()) for p in channel.rglob("*") if p.is_file())


def score(x: float, n_rows: int, epoch: int, epochs: int) -> float:
    return round((x - 0.3) ** 2 + 0.01 * n_rows + 0.05 * (epochs - epoch) / epochs + 0.1, 6)


def model_x(archive: Path) -> float:
    with tarfile.open(next(archive.rglob("*.tar.gz"))) as tar:
        member = tar.extractfile("model.json")
        assert member is not None
        return float(json.loads(member.read())["x"])


def main() -> int:
    root = Path(os.environ.get("SAGEMAKER_BASE_DIR", "/opt/ml"))
    hp = json.loads((root / "input" / "config" / "hyperparameters.json").read_text())
    data = root / "input" / "data"
    if hp.get("retune_mode") == "evaluate":
        n = rows(data / "test")
        print(f"challenger_score={score(model_x(data / 'challenger'), n, 1, 1)}")
        if (data / "champion").exists():
            print(f"champion_score={score(model_x(data / 'champion'), n, 1, 1)}")
        return 0
    x, epochs = float(hp["x"]), int(hp.get("epochs", "4"))
    n = rows(data / "validation")
    best = float("inf")
    for epoch in range(1, epochs + 1):
        best = min(best, score(x, n, epoch, epochs))
        print(f"epoch={epoch} validation_rmse={best} compute={epoch * 10}")
    (root / "model" / "model.json").write_text(json.dumps({"x": x}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
