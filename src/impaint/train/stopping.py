"""Stopping a run on a signal: Ctrl-C or SIGTERM stops it after a whole step, which is
saved (`stop_on_signal`), and `train` then raises `TrainingStopped`.
"""

from __future__ import annotations

import signal
from contextlib import contextmanager
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # for the annotation only: this module needs no torch
    from .run import Run


class TrainingStopped(KeyboardInterrupt):
    """Ctrl-C (SIGINT) or SIGTERM stopped a run after a whole step, which was saved. `go_on`
    says how to continue it: a command that trains inside (`impaint ablate`) says its own."""

    def __init__(self, where: str, go_on: str = "--resume continues the run"):
        super().__init__(where, go_on)  # both in args: the exception pickles across processes
        self.where, self.go_on = where, go_on

    def __str__(self) -> str:
        return f"{self.where}, {self.go_on}"


@contextmanager
def stop_on_signal(run: Run):
    """Within: SIGINT (Ctrl-C) and SIGTERM (a scheduler's stop) ask the loop to stop after
    the step in progress, which it validates and saves: interrupted mid-step, the optimiser
    could leave the weights half updated, and up to `valid_every` steps would be lost. A
    second Ctrl-C stops at once, but for the checkpoints being written, which it waits for.
    Off the main thread signals stay as they were."""
    def ask(signum, frame):
        if run.stop_asked and signum == signal.SIGINT and not run.saving:
            raise KeyboardInterrupt
        run.stop_asked = True

    before = {}
    try:
        for sig in (signal.SIGINT, signal.SIGTERM):
            before[sig] = signal.signal(sig, ask)
    except ValueError:  # not the main thread
        pass
    try:
        yield
    finally:
        for sig, handler in before.items():
            signal.signal(sig, handler)
