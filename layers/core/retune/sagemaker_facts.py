"""What SageMaker defines that several of retune's modules rely on: one home each, no dependencies (the request
checks, the records, the policy and the use cases all read them)."""

# A training or tuning job in one of these states has ended and changes no more (TrainingJobStatus,
# HyperParameterTuningJobStatus); in this order where a message lists them.
TERMINAL_JOB_STATUSES = ("Completed", "Stopped", "Failed")

# Hyperband's MaxResource is at most 20,000 epochs (the API reference's HyperbandStrategyConfig).
MAX_HYPERBAND_RESOURCE = 20_000
