"""IAM for the local stack: `retune_local.iam.policy` evaluates a request against IAM policies as AWS documents it
(identity-based, resource-based and KMS key policies, conditions, policy variables), so that a permission the
template forgot fails locally instead of in AWS."""
