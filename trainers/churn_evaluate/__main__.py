"""`python -m churn_evaluate train` (the image) or `python -m trainers.churn_evaluate train` (locally): one
evaluation job. SageMaker passes `train`; the mode is the retune_mode hyperparameter."""

import sys

from .evaluate import main

sys.exit(main())
