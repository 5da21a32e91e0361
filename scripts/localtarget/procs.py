"""Small process helpers shared by the emulator and Postgres launchers."""

from __future__ import annotations

import contextlib
import os
import random
import signal
import socket
import time
from collections.abc import Callable

# free_port draws from below Linux's default ephemeral range (32768-60999): the source port of an
# outgoing connection is never taken from here, so it cannot grab a port picked for a server that
# has not bound it yet.
PORT_RANGE = (15000, 32768)
_random = random.SystemRandom()  # independent of any test that seeds the `random` module


def free_port() -> int:
    """A loopback port nothing is bound to, for a server the caller starts next (tests, bench).

    Under pytest-xdist every worker draws from its own slice of PORT_RANGE: a port one worker has
    picked but not bound yet is never handed to another worker (bind(0) could return it again).
    """
    low, high = PORT_RANGE
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")  # "gw0", "gw1", ...
    count = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
    if worker.startswith("gw") and count > 1:
        span = (high - low) // count
        low += int(worker[2:]) * span
        high = low + span
    for _ in range(1000):
        port = _random.randrange(low, high)
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
        return port
    raise RuntimeError(f"no free port in {low}-{high - 1}")


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.settimeout(0.2)
        return s.connect_ex((host, port)) == 0


def pid_alive(pid: int) -> bool:
    # Reap it first if it is our own exited child: a zombie still answers kill(pid, 0).
    with contextlib.suppress(ChildProcessError, OSError):
        reaped, _ = os.waitpid(pid, os.WNOHANG)
        if reaped == pid:
            return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def wait_until(check: Callable[[], bool], timeout: float, what: str, interval: float = 0.1) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(interval)
    raise TimeoutError(f"timed out after {timeout:.0f}s waiting for {what}")


def terminate(pid: int, timeout: float = 10.0) -> None:
    """SIGTERM the process group we started, then SIGKILL if it lingers."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, sig)
        with contextlib.suppress(TimeoutError):
            wait_until(lambda: not pid_alive(pid), timeout, f"process {pid} to stop")
            return
