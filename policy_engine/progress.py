"""Which stage a run is in, and how far: a progress line on stderr, only when stderr is a terminal.

    with progress.stage("evaluating", "10,000,000 positions"):
        ...
        progress.advance(3, 10)   # optional: parts done / total, for stages that know

The line is rewritten in place twice a second while a stage runs ("evaluating 10,000,000 positions
[3/10] 12.4 s") and ends with the stage's time. Nothing is printed when stderr is not a terminal
(pipes, CI logs, tests), or with POLICY_ENGINE_PROGRESS=0.

``POLICY_ENGINE_TIMINGS=FILE`` writes every finished stage's wall time as JSON ({"stage": seconds})
to FILE, for benchmarks/run.py. Standard library only: importing this costs nothing.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from contextlib import AbstractContextManager, contextmanager
from typing import IO, Iterator

_TICK = 0.5


class Progress:
    def __init__(self, stream: IO[str] | None = None, live: bool | None = None) -> None:
        self.stream = stream or sys.stderr
        if live is None:
            isatty = getattr(self.stream, "isatty", lambda: False)
            live = bool(isatty()) and os.environ.get("POLICY_ENGINE_PROGRESS", "1") != "0"
        self.live = live
        self.timings: dict[str, float] = {}
        self._label = ""
        self._start = 0.0
        self._done: tuple[int, int] | None = None
        self._lock = threading.Lock()

    @contextmanager
    def stage(self, name: str, detail: str = "") -> Iterator[None]:
        label = f"{name} {detail}".strip()
        with self._lock:
            self._label, self._start, self._done = label, time.perf_counter(), None
        stop = threading.Event()
        ticker = threading.Thread(target=self._tick, args=(stop,), daemon=True) if self.live else None
        if ticker:
            ticker.start()
        try:
            yield
        finally:
            stop.set()
            if ticker:
                ticker.join()
            elapsed = time.perf_counter() - self._start
            self.timings[name] = self.timings.get(name, 0.0) + elapsed
            if self.live:
                self._write(f"{label}: {elapsed:.1f} s\n")
            _save_timings(self.timings)

    def advance(self, done: int, total: int) -> None:
        """How far the current stage is, in its own units (parts, batches)."""
        with self._lock:
            self._done = (done, total)

    def _tick(self, stop: threading.Event) -> None:
        while not stop.wait(_TICK):
            with self._lock:
                label, start, done = self._label, self._start, self._done
            part = f" [{done[0]}/{done[1]}]" if done else ""
            self._write(f"{label}{part} {time.perf_counter() - start:.1f} s")

    def _write(self, text: str) -> None:
        try:
            self.stream.write("\r\033[K" + text)
            self.stream.flush()
        except (OSError, ValueError):  # a closed terminal must not fail the run
            self.live = False


def _save_timings(timings: dict[str, float]) -> None:
    path = os.environ.get("POLICY_ENGINE_TIMINGS")
    if path:
        with open(path, "w", encoding="utf-8") as fh:
            json.dump(timings, fh)


_current = Progress()


def current() -> Progress:
    return _current


def stage(name: str, detail: str = "") -> AbstractContextManager[None]:
    return _current.stage(name, detail)


def advance(done: int, total: int) -> None:
    _current.advance(done, total)
