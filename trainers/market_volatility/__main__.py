"""`python -m trainers.market_volatility {xgb|mlp} [train]`: run one job with the named trainer.

The images' entry point (`python -m market_volatility xgb`, then SageMaker's `train` argument, which is ignored:
the mode is the `retune_mode` hyperparameter) and the local command. Going through this small module lets the warm
runner preload `trainers.market_volatility.xgb` (numpy, xgboost) or `.mlp` (numpy, scikit-learn) and still start
each job without running a preloaded module a second time as `__main__`.
"""

from __future__ import annotations

import importlib
import sys

from .job import Job

TRAINERS = ("xgb", "mlp")


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if not args or args[0] not in TRAINERS:
        message = f"usage: python -m market_volatility {{{'|'.join(TRAINERS)}}} [train]; got {args}"
        print(message, file=sys.stderr)
        try:
            Job.from_environment().fail(message)
        except OSError:  # not in a job (no $SAGEMAKER_BASE_DIR, no /opt/ml): stderr says it
            pass
        return 2
    trainer = importlib.import_module(f"{__package__}.{args[0]}")
    code: int = trainer.main()
    return code


if __name__ == "__main__":
    sys.exit(main())
