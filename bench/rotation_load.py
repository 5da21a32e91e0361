"""Rotation under load: fresh logins and long-lived sessions through whole rotations.

Not a test (tests/integration/scripts/rotation/test_load_and_audit.py runs a bounded version). Starts a
real PostgreSQL and a real OpenBao, the in-process ECS emulator with rolling deployments that
replace the simulated tasks (tests/integration/scripts/rotation/ecs_rollouts.py), sets up an environment as
the bootstrap does, then runs `platformctl secrets rotate` (a subprocess, as an operator would)
several times while `LoadGenerator` opens fresh connections with the published secret — what a
newly started task reads — at the given rate and keeps long-lived sessions querying.

    .venv/bin/python bench/rotation_load.py --rotations 3 --rate 60
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import hvac

from scripts.localtarget import openbao, postgres
from scripts.localtarget.procs import free_port, terminate
from tests.helpers.rotation_load import LoadGenerator
from tests.integration.scripts.migrate.ecs_faults import FakeEcs
from tests.integration.scripts.rotation.ecs_rollouts import Rollouts
from tests.integration.scripts.rotation.scenario import build_scenario


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rotations", type=int, default=3)
    parser.add_argument("--rate", type=float, default=60.0, help="fresh logins per second (all workers)")
    parser.add_argument("--workers", type=int, default=6)
    parser.add_argument("--tasks", type=int, default=4, help="simulated tasks, replaced by each deployment")
    parser.add_argument("--sessions", type=int, default=3, help="long-lived sessions per task")
    parser.add_argument("--rollout-seconds", type=float, default=2.0, help="how long a deployment takes")
    parser.add_argument("-v", action="store_true", help="print each rotation's output")
    args = parser.parse_args()
    logging.getLogger("werkzeug").setLevel(logging.WARNING)

    with tempfile.TemporaryDirectory(prefix="rotation-bench-") as d:
        tmp = Path(d)
        tmp.chmod(0o755)
        pg = postgres.start(tmp / "pg", free_port())
        bao = openbao.start(tmp / "bao", free_port(), free_port())  # as tests/conftest.py does
        fake = FakeEcs()
        fake.server.start()
        try:
            with Rollouts(fake).installed() as rollouts:
                rollouts.duration = args.rollout_seconds
                client = hvac.Client(url=bao.address, token=bao.root_token)
                (tmp / "cfg").mkdir()
                s = build_scenario(1, client, bao.root_token, pg, fake, rollouts, tmp / "cfg")
                load = LoadGenerator(s.read_app_secret, args.rate, args.workers, args.tasks, args.sessions)
                rollouts.on_replace.append(load.replace_tasks)
                load.start()
                time.sleep(1.0)
                walls: list[float] = []
                steps: list[float] = []
                for i in range(args.rotations):
                    started = time.monotonic()
                    result = s.cli("--grace", "10s", "--poll", "0.2")
                    walls.append(time.monotonic() - started)
                    journal = s.journal()
                    at = {e["event"]: e["at"] for e in journal.events} if journal else {}
                    steps.append(at.get("done", 0.0) - at.get("planned", 0.0))
                    print(
                        f"rotation {i + 1}: exit {result.returncode}, wall {walls[-1]:.1f} s "
                        f"(planned -> done {steps[-1]:.1f} s), "
                        f"now {s.published(s.logins[0])['username']}",
                        flush=True,
                    )
                    if args.v or result.returncode != 0:
                        print(result.stdout + result.stderr, file=sys.stderr)
                    if result.returncode != 0:
                        return 1
                time.sleep(1.0)
                stats, elapsed = load.finish()
        finally:
            fake.server.stop()
            if bao.pid:
                terminate(bao.pid)
            postgres.stop(Path(pg.data_dir))
    print(
        f"logins attempted: {stats.attempted}, failed: {stats.failed}, "
        f"long-lived sessions dropped: {stats.dropped_sessions}, session queries: {stats.queries}"
    )
    print(
        f"load ran {elapsed:.1f} s: {stats.attempted / elapsed:.1f} logins/s; "
        f"{args.tasks} tasks x {args.sessions} sessions, replaced {stats.replacements - 1} times"
    )
    print(
        "rotation wall time incl. process start: "
        + ", ".join(f"{w:.1f} s" for w in walls)
        + "; planned -> done: "
        + ", ".join(f"{w:.1f} s" for w in steps)
        + f" (each waits for a {args.rollout_seconds} s rollout)"
    )
    for reason in stats.reasons:
        print(f"  failure: {reason}")
    return 0 if stats.failed == 0 and stats.dropped_sessions == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
