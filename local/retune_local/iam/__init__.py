"""IAM where the code runs: what each AWS request asks IAM (`actions`) and whether a principal's policies allow it."""
