"""retune: keeps a model tuned as its data keeps arriving (the deployed package, in the Lambda layer)."""
