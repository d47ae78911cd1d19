"""The CLI's own failures: each becomes one line on stderr and an exit code."""

from __future__ import annotations

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2


class CliError(Exception):
    """An operation failed (exit 1). The message is the whole story, in one line."""

    exit_code = EXIT_FAILED


class UsageError(CliError):
    """The command line is wrong (exit 2)."""

    exit_code = EXIT_USAGE
