"""Treat SIGTERM and SIGHUP like Ctrl-C while a migration runs.

Terraform and CI systems cancel a run with SIGTERM (a closed terminal sends SIGHUP); Python's
default for both is to die on the spot, which would leave an ECS task RUNNING with nobody
watching its deadline, or a local migration holding its lock. Inside `signals_interrupt()` each
of SIGINT, SIGTERM and SIGHUP raises `RunnerInterrupted` (a KeyboardInterrupt) in the main
thread, so the runners' existing Ctrl-C path stops the task or the process group. A second
signal during that cleanup is logged and ignored: the cleanup is bounded and must finish.
"""

from __future__ import annotations

import contextlib
import logging
import signal
import threading
from collections.abc import Iterator
from types import FrameType
from typing import Any

log = logging.getLogger(__name__)

HANDLED = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


class RunnerInterrupted(KeyboardInterrupt):
    """A stop signal reached the runner; `signum` says which."""

    def __init__(self, signum: int):
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


def signal_of(exc: BaseException) -> int:
    """The signal behind a KeyboardInterrupt (a plain one is Ctrl-C, SIGINT)."""
    return exc.signum if isinstance(exc, RunnerInterrupted) else int(signal.SIGINT)


@contextlib.contextmanager
def signals_interrupt() -> Iterator[None]:
    """While active, SIGINT/SIGTERM/SIGHUP raise RunnerInterrupted once (main thread only)."""
    if threading.current_thread() is not threading.main_thread():
        yield  # signal handlers can only be installed from the main thread
        return
    fired: list[int] = []

    def handler(signum: int, frame: FrameType | None) -> None:
        if fired:
            log.warning("%s received while stopping the migration; still stopping it", signal.Signals(signum).name)
            return
        fired.append(signum)
        raise RunnerInterrupted(signum)

    previous: dict[int, Any] = {sig: signal.signal(sig, handler) for sig in HANDLED}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)
