"""Crash injection for the resumability tests: `PLATFORM_ROTATION_CRASH_AT=<point>` makes the
process SIGKILL itself when it reaches that point (a real kill: no cleanup, no finally blocks).

Points are named `after:<step>` (journal write of a step done) and `db:<what>` (a database write
done, its journal write not yet). Unset in normal runs: `crash_point` is then a dictionary lookup.
"""

from __future__ import annotations

import os
import signal

ENV = "PLATFORM_ROTATION_CRASH_AT"


def crash_point(name: str) -> None:
    if os.environ.get(ENV) == name:
        os.kill(os.getpid(), signal.SIGKILL)
