"""`python -m trainers.market_sequence [train]`: run one job (the mode is the `retune_mode` hyperparameter;
SageMaker's `train` argument is ignored)."""

from __future__ import annotations

import sys

from .trainer import main

if __name__ == "__main__":
    sys.exit(main())
