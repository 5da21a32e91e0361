"""`python -m app`: validate the environment files and synthesize their stacks (all environments, or
the comma-separated PLATFORM_ENVIRONMENTS)."""

from __future__ import annotations

import os
import signal
import sys

os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")


def _exit_on_sigterm(signum: int, frame: object) -> None:
    # Unwind like an error so that atexit stops the jsii kernel (Node) and removes its temporary
    # directories; the default SIGTERM action would skip that and leave them behind.
    raise SystemExit(128 + signum)


def main() -> int:
    from app.config import ConfigError
    from app.contracts import exitcodes

    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    from app.main import synth

    try:
        synth()
    except ConfigError as exc:
        print(f"configuration error (nothing was synthesized):\n{exc}", file=sys.stderr)
        return exitcodes.USAGE
    return 0


if __name__ == "__main__":
    sys.exit(main())
