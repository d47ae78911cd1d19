"""retune/churn-evaluate: evaluate mode (docs/trainer-contract.md) for models of SageMaker's built-in XGBoost."""
