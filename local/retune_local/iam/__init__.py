"""IAM for the local stack, so that a permission the template forgot fails a test instead of a deployment.

- `policy`: evaluates a request against IAM policies as AWS documents it (identity-based, resource-based and KMS key
  policies, conditions, policy variables);
- `actions`: what each AWS request asks IAM (the actions, resource ARNs and condition keys AWS checks for it);
- `principals`: who calls the local stack (each function as its role, SageMaker as a job's execution role, the CLI,
  an administrator) and with which policies, read from the SAM-transformed template;
- `resources`: the stack's resource-based policies and what the table needs to look up;
- `gate`: the enforcement point in front of moto's server and the local SageMaker, and the trace of its decisions.
"""
