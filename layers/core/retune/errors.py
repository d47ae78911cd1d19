"""The package's own exceptions.

Permanent errors (bad input) are recorded and alerted, never retried; transient ones are raised so that Lambda
retries the invocation and, in the end, parks the event on the function's on-failure destination.
"""


class RetuneError(Exception):
    """Base of every error retune raises on purpose."""


class PermanentError(RetuneError):
    """Input that will not get better by retrying: record it, alert, stop."""


class TransientError(RetuneError):
    """A condition that may clear: raise it so that Lambda retries the invocation."""


class InvalidInput(PermanentError):
    """A document (profile, manifest, event) failed validation. `errors` name each field and the fix."""

    def __init__(self, what: str, errors: list[str]) -> None:
        self.what = what
        self.errors = errors
        super().__init__(f"invalid {what}: " + "; ".join(errors))


class InvalidRequest(PermanentError):
    """An AWS request retune built fails the service model or AMT's rules: a bug or a bad profile."""

    def __init__(self, operation: str, errors: list[str]) -> None:
        self.operation = operation
        self.errors = errors
        super().__init__(f"invalid {operation} request: " + "; ".join(errors))


class Refused(PermanentError):
    """AWS refused a request for a reason no retry changes (a 4xx: access denied, a request it finds invalid)."""


class NotFound(PermanentError):
    """A resource retune was told about does not exist (an unknown profile, a missing object)."""


class AccessDenied(PermanentError):
    """AWS refused a call for lack of a permission (an IAM policy, a key policy): retrying will not help."""


class AlreadyExists(RetuneError):
    """A create met a resource of the same name: on a replay this means the effect already happened."""


class LimitExceeded(RetuneError):
    """An account limit (SageMaker's ResourceLimitExceeded): wait for capacity, do not hammer."""


class Throttled(TransientError):
    """AWS throttled the call: retried by Lambda."""


class ConflictError(TransientError):
    """A conditional write lost a race: retried by Lambda, where the next attempt sees the winner's state."""


class ConditionFailed(ConflictError):
    """A conditional write's condition did not hold: another invocation wrote first, or the state moved since it
    was read. `index` is the failing operation's position in its transaction."""

    def __init__(self, index: int = 0) -> None:
        self.index = index
        super().__init__(f"condition failed on operation {index}")
