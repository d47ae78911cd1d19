"""One recorded multi-round run per test session: the local stack runs three drops of the toy profile."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from retune_local.stack import LocalStack

from tests.replay.recording import Recording, run_and_record, toy_stack


@pytest.fixture(scope="session")
def recorded_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LocalStack, Recording]]:
    """The stack after the recorded run (its SageMaker and S3 as the run left them) and the recording."""
    work: Path = tmp_path_factory.mktemp("replay")
    with toy_stack(work / "state", work / "events.jsonl") as stack:
        yield stack, run_and_record(stack, work)


@pytest.fixture(scope="session")
def recording(recorded_stack: tuple[LocalStack, Recording]) -> Recording:
    return recorded_stack[1]
