"""The drop's manifest: its channels and their files, relative to the drop's prefix.

It is written last, so its arrival means the drop is complete. Each channel becomes one InputDataConfig entry.
"""

# Annotations are evaluated as written, not postponed: see retune.modeling.
import posixpath
import re

from pydantic import ConfigDict, Field, field_validator

from retune.errors import InvalidInput
from retune.modeling import Model
from retune.validation_errors import describe_validation_error

CHANNEL_NAME_PATTERN = r"^[A-Za-z0-9\.\-_]+$"  # SageMaker's ChannelName
MAX_FILES = 10_000
MANIFEST_MAX_BYTES = 1_048_576


class Channel(Model):
    model_config = ConfigDict(extra="forbid", frozen=True)

    files: list[str] = Field(min_length=1, max_length=MAX_FILES, description="Paths relative to the drop.")
    content_type: str | None = Field(default=None, max_length=256)

    @field_validator("files")
    @classmethod
    def _inside_the_drop(cls, files: list[str]) -> list[str]:
        for path in files:
            problem = path_problem(path)
            if problem:
                raise ValueError(f"{path!r} {problem}")
        if len(files) != len(set(files)):
            raise ValueError("lists the same file twice")
        return files


class Manifest(Model):
    model_config = ConfigDict(extra="forbid", frozen=True, title="retune drop manifest")

    channels: dict[str, Channel] = Field(min_length=1, max_length=20)
    description: str = Field(default="", max_length=1024)

    @field_validator("channels")
    @classmethod
    def _channel_names(cls, channels: dict[str, Channel]) -> dict[str, Channel]:
        for name in channels:
            if not re.match(CHANNEL_NAME_PATTERN, name) or len(name) > 64:
                raise ValueError(f"channel name {name!r} must be 1-64 of letters, digits, '.', '-', '_'")
        return channels

    def files(self) -> list[str]:
        return sorted({f for channel in self.channels.values() for f in channel.files})


def path_problem(path: str) -> str | None:
    """Why a manifest path is not a plain relative path inside the drop, or None when it is."""
    if not path or len(path) > 900:
        return "must be 1 to 900 characters"
    if path.startswith("/") or "\\" in path or "\x00" in path:
        return "must be relative to the drop, with '/' separators"
    parts = path.split("/")
    if any(part in ("", ".", "..") for part in parts) or posixpath.normpath(path) != path:
        return "leaves the drop's prefix or is not normalized: list files as 'train.csv' or 'part/0001.csv'"
    if path == "manifest.json":
        return "is the manifest itself"
    return None


def parse_manifest(raw: bytes) -> Manifest:
    """Validate a manifest document; raise InvalidInput naming each field and what would be valid."""
    if len(raw) > MANIFEST_MAX_BYTES:
        raise InvalidInput(
            "manifest", [f"(document): {len(raw)} bytes is over the {MANIFEST_MAX_BYTES} limit"]
        )
    try:
        return Manifest.model_validate_json(raw)
    except ValueError as exc:
        raise InvalidInput("manifest", describe_validation_error(exc)) from exc
