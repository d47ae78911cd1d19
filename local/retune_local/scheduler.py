"""The order in which a driver (a tuning job, or a lone training job) consumes what its jobs report.

Jobs are real processes; what they print arrives whenever the operating system lets it. A scheduler turns
those arrivals into one stream of timed events:

- `DeterministicScheduler`: every report gets a virtual time (the job's start + epochs x the image's seconds
  per epoch), and the driver consumes events strictly by (virtual time, job index, order within the job). It
  waits until every running job has reported its next event, so the stream never depends on which process the
  OS ran first. Time limits (a job's MaxRuntimeInSeconds, the tuning job's) are checked on the same virtual
  clock.
- `RealTimeScheduler`: events are consumed as they arrive, times are wall-clock seconds, limits are
  wall-clock.

Times are seconds since the driver's origin; `origin` maps them onto epoch seconds for the API.
"""

from __future__ import annotations

import itertools
import queue
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Protocol


@dataclass
class Epoch:
    """An emission of the job's epoch metric (the tuning objective), with every metric printed since the last
    one."""

    index: int
    metrics: list[tuple[str, float]]
    objective: float | None


@dataclass
class Finished:
    """The process ended by itself (or never started); `outcome` is Completed or Failed."""

    outcome: str
    reason: str | None = None
    metrics: list[tuple[str, float]] = field(default_factory=list)
    cpu_seconds: float = 0.0
    wall_seconds: float = 0.0
    model_uri: str | None = None
    retryable: bool = False


@dataclass
class StopDone:
    """A stop the driver asked for is done: the process has ended and its outputs are packed."""

    cpu_seconds: float = 0.0
    wall_seconds: float = 0.0
    model_uri: str | None = None


JobEvent = Epoch | Finished | StopDone


@dataclass
class Timeout:
    """A job (job is not None) or the whole tuning job (job is None) reached its MaxRuntimeInSeconds."""

    job: Any | None


@dataclass
class Command:
    """A request from the API (stop the tuning job, stop one training job), consumed at the driver's current
    time."""

    name: str
    argument: Any = None


@dataclass
class Item:
    time: float
    job: Any | None
    event: JobEvent | Timeout | Command


class Scheduled(Protocol):
    """What a scheduler needs to know about a running job."""

    @property
    def index(self) -> int: ...

    @property
    def seconds_per_epoch(self) -> float: ...


def _is_terminal(event: JobEvent) -> bool:
    return isinstance(event, Finished | StopDone)


@dataclass
class _Slot:
    job: Scheduled
    start: float
    deadline: float | None
    buffer: deque[JobEvent] = field(default_factory=deque)
    consumed_epochs: int = 0
    stop_time: float | None = None
    timed_out: bool = False
    seq: itertools.count[int] = field(default_factory=itertools.count)


class Scheduler(Protocol):
    origin: float

    @property
    def now(self) -> float: ...

    def add(self, job: Scheduled, deadline_seconds: float | None) -> float: ...

    def post(self, job: Scheduled, event: JobEvent) -> None: ...

    def stopped(self, job: Scheduled) -> None: ...

    def remove(self, job: Scheduled) -> None: ...

    def command(self, command: Command) -> None: ...

    def set_deadline(self, seconds: float | None) -> None: ...

    def next(self) -> Item: ...

    def clock(self) -> float:
        """Epoch seconds of the driver's current time, for the API's timestamps."""
        ...

    def at(self, seconds: float) -> float:
        """Epoch seconds of a driver time."""
        ...


class _Timeline:
    """What both schedulers share: driver times as epoch seconds, and the tuning job's deadline."""

    def __init__(self, origin: float) -> None:
        self.origin = origin
        self._deadline: float | None = None
        self._deadline_fired = False

    @property
    def now(self) -> float:
        raise NotImplementedError

    def clock(self) -> float:
        return self.origin + self.now

    def at(self, seconds: float) -> float:
        return self.origin + seconds

    def set_deadline(self, seconds: float | None) -> None:
        self._deadline = seconds


class DeterministicScheduler(_Timeline):
    def __init__(self, origin: float) -> None:
        super().__init__(origin)
        self._now = 0.0
        self._cond = threading.Condition()
        self._slots: dict[int, _Slot] = {}
        self._commands: deque[Command] = deque()

    @property
    def now(self) -> float:
        return self._now

    def add(self, job: Scheduled, deadline_seconds: float | None) -> float:
        with self._cond:
            start = self._now
            deadline = None if deadline_seconds is None else start + deadline_seconds
            self._slots[job.index] = _Slot(job, start, deadline)
            return start

    def post(self, job: Scheduled, event: JobEvent) -> None:
        with self._cond:
            slot = self._slots.get(job.index)
            if slot is None:
                return
            slot.buffer.append(event)
            self._cond.notify_all()

    def stopped(self, job: Scheduled) -> None:
        with self._cond:
            slot = self._slots[job.index]
            slot.stop_time = self._now
            # Whatever the job reported after the stop is not part of its history.
            while slot.buffer and not _is_terminal(slot.buffer[0]):
                slot.buffer.popleft()
            self._cond.notify_all()

    def remove(self, job: Scheduled) -> None:
        with self._cond:
            self._slots.pop(job.index, None)

    def command(self, command: Command) -> None:
        with self._cond:
            self._commands.append(command)
            self._cond.notify_all()

    def _event_time(self, slot: _Slot, event: JobEvent) -> float:
        if slot.stop_time is not None:
            return slot.stop_time
        if isinstance(event, Epoch):
            return slot.start + event.index * slot.job.seconds_per_epoch
        if isinstance(event, Finished):
            return slot.start + slot.consumed_epochs * slot.job.seconds_per_epoch
        return slot.start

    def _ready(self, slot: _Slot) -> bool:
        if slot.stop_time is not None:
            while slot.buffer and not _is_terminal(slot.buffer[0]):
                slot.buffer.popleft()
        return bool(slot.buffer)

    def next(self) -> Item:
        with self._cond:
            while True:
                if self._commands:
                    return Item(self._now, None, self._commands.popleft())
                if self._slots and all(self._ready(slot) for slot in self._slots.values()):
                    return self._pop()
                self._cond.wait()

    def _pop(self) -> Item:
        best: tuple[float, int, int] | None = None
        chosen: tuple[_Slot, Timeout | None] | None = None
        for slot in self._slots.values():
            event = slot.buffer[0]
            when = self._event_time(slot, event)
            timeout = None
            if slot.stop_time is None and slot.deadline is not None and when > slot.deadline:
                when, timeout = slot.deadline, Timeout(slot.job)
            key = (when, slot.job.index, 0)
            if best is None or key < best:
                best, chosen = key, (slot, timeout)
        assert best is not None
        assert chosen is not None
        when = best[0]
        if self._deadline is not None and not self._deadline_fired and when > self._deadline:
            self._deadline_fired = True
            self._now = max(self._now, self._deadline)
            return Item(self._now, None, Timeout(None))
        slot, timeout = chosen
        self._now = max(self._now, when)
        if timeout is not None:
            return Item(self._now, slot.job, timeout)
        event = slot.buffer.popleft()
        if isinstance(event, Epoch) and slot.stop_time is None:
            slot.consumed_epochs = max(slot.consumed_epochs, event.index)
        return Item(self._now, slot.job, event)


class RealTimeScheduler(_Timeline):
    def __init__(self, origin: float) -> None:
        super().__init__(origin)
        self._t0 = time.monotonic()
        self._queue: queue.Queue[Item] = queue.Queue()
        self._lock = threading.Lock()
        self._deadlines: dict[int, tuple[Scheduled, float]] = {}
        self._stopped: set[int] = set()

    @property
    def now(self) -> float:
        return time.monotonic() - self._t0

    def add(self, job: Scheduled, deadline_seconds: float | None) -> float:
        start = self.now
        if deadline_seconds is not None:
            with self._lock:
                self._deadlines[job.index] = (job, start + deadline_seconds)
        return start

    def post(self, job: Scheduled, event: JobEvent) -> None:
        self._queue.put(Item(self.now, job, event))

    def stopped(self, job: Scheduled) -> None:
        with self._lock:
            self._deadlines.pop(job.index, None)
            self._stopped.add(job.index)

    def remove(self, job: Scheduled) -> None:
        with self._lock:
            self._deadlines.pop(job.index, None)

    def command(self, command: Command) -> None:
        self._queue.put(Item(self.now, None, command))

    def next(self) -> Item:
        while True:
            with self._lock:
                due: list[tuple[float, Any]] = [(when, job) for job, when in self._deadlines.values()]
            if self._deadline is not None and not self._deadline_fired:
                due.append((self._deadline, None))
            wait = None
            if due:
                when, job = min(due, key=lambda pair: pair[0])
                wait = when - self.now
                if wait <= 0:
                    if job is None:
                        self._deadline_fired = True
                    else:
                        self.remove(job)
                    return Item(self.now, job, Timeout(job))
            try:
                item = self._queue.get(timeout=wait)
            except queue.Empty:
                continue
            if item.job is not None and item.job.index in self._stopped and isinstance(item.event, Epoch):
                continue  # reports after a stop are not part of the job's history
            return item
