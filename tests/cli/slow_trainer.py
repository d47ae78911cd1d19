"""A trainer that reports one epoch and then trains "forever" (two minutes), so a round stays running until it is
stopped: SageMaker's stop sends SIGTERM, which ends it."""

import time

print("epoch=1 validation_rmse=0.5 compute=10", flush=True)
time.sleep(120)
