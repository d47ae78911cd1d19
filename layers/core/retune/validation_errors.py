"""Turns pydantic's errors into lines a person can act on: the field, what is wrong, what would be valid."""

from pydantic import ValidationError


def describe_validation_error(exc: Exception) -> list[str]:
    if not isinstance(exc, ValidationError):
        return [str(exc)]
    lines = []
    for error in exc.errors(include_url=False):
        location = ".".join(str(part) for part in error["loc"]) or "(document)"
        message = error["msg"]
        kind = error["type"]
        if kind == "extra_forbidden":
            message = "unknown field: remove it or check its spelling against the schema"
        elif kind == "missing":
            message = "required: add it"
        elif kind == "json_invalid":
            message = f"not valid JSON ({error.get('ctx', {}).get('error', message)})"
        elif kind == "literal_error" or kind.startswith("string_pattern"):
            message = f"{message} (got {error.get('input')!r})"
        lines.append(f"{location}: {message}")
    return lines
