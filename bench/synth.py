"""Benchmark: the naive synth (eager provider bindings, every environment) next to the project's
path (lazy bindings: every environment; one environment), interleaved in one run. Not a test;
the numbers go into the README.

    .venv/bin/python bench/synth.py [--runs 5] [--env prod]

Each run is a fresh `python -m app` (what `cdktf synth` runs) started through a small driver that,
after the jsii kernel has been stopped at exit, reports the Python process's own peak RSS and CPU
time and those of its Node children (the kernel): `getrusage(RUSAGE_SELF / RUSAGE_CHILDREN)`. Wall
time is measured here, from start to exit, interpreter shutdown included. CPU time is printed too:
on a machine shared with other work, wall time is CPU time stretched by the load. Cases run round-robin so that
load from other processes on the machine spreads over all of them alike.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# atexit runs last-registered first: this report runs after jsii's kernel stop (registered later).
DRIVER = """
import atexit, json, os, resource, runpy
def report():
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime
    with open(os.environ["BENCH_REPORT"], "w") as fh:
        json.dump({"python_kib": own.ru_maxrss, "node_kib": children.ru_maxrss, "cpu": cpu}, fh)
atexit.register(report)
runpy.run_module("app", run_name="__main__", alter_sys=True)
"""


@dataclass
class Case:
    name: str
    env: dict[str, str]
    walls: list[float] = field(default_factory=list)
    python_mib: list[float] = field(default_factory=list)
    node_mib: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)

    def median(self) -> float:
        return statistics.median(self.walls)


def run_once(case: Case, base_env: dict[str, str]) -> None:
    with tempfile.TemporaryDirectory(prefix="bench-synth-") as tmp:
        report = Path(tmp) / "report.json"
        env = {**base_env, **case.env, "CDKTF_OUTDIR": f"{tmp}/out", "BENCH_REPORT": str(report)}
        start = time.perf_counter()
        proc = subprocess.run([sys.executable, "-c", DRIVER], cwd=ROOT, env=env, capture_output=True, text=True)
        wall = time.perf_counter() - start
        if proc.returncode != 0:
            raise SystemExit(f"{case.name} failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
        rss = json.loads(report.read_text())
    case.walls.append(wall)
    case.python_mib.append(rss["python_kib"] / 1024)
    case.node_mib.append(rss["node_kib"] / 1024)
    case.cpu.append(rss["cpu"])


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="runs per case (default 5)")
    parser.add_argument("--env", default="prod", help="environment of the one-environment case (default prod)")
    parser.add_argument("--python-only", action="store_true", help="also run with only the Python side lazy")
    args = parser.parse_args()
    base = {k: v for k, v in os.environ.items() if k not in ("PLATFORM_ENVIRONMENTS", "PLATFORM_LAZY_BINDINGS")}
    base["JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION"] = "20"
    naive = Case("naive: eager bindings, all envs", {"PLATFORM_LAZY_BINDINGS": "off"})
    one_env = Case(f"project: one env ({args.env})", {"PLATFORM_ENVIRONMENTS": args.env})
    cases = [naive, Case("project: all envs", {}), one_env]
    if args.python_only:
        cases.insert(1, Case("python side lazy only, all envs", {"PLATFORM_LAZY_BINDINGS": "python"}))
    for run in range(args.runs):
        for case in cases:
            run_once(case, base)
            print(f"run {run + 1}/{args.runs} {case.name}: {case.walls[-1]:.2f} s", file=sys.stderr, flush=True)
    load = os.getloadavg()
    head = f"{'case':<34} {'runs':>4} {'min':>7} {'median':>7} {'vs naive':>9} {'CPU':>7}"
    print(f"\n{head} {'vs naive':>9} {'Python':>8} {'Node':>8} {'sum':>8}")
    for case in cases:
        py, node = max(case.python_mib), max(case.node_mib)
        ratio = naive.median() / case.median()
        cpu = statistics.median(case.cpu)
        print(
            f"{case.name:<34} {len(case.walls):>4} {min(case.walls):>6.2f}s {case.median():>6.2f}s {ratio:>8.1f}x "
            f"{cpu:>6.2f}s {statistics.median(naive.cpu) / cpu:>8.1f}x "
            f"{py:>5.0f}MiB {node:>5.0f}MiB {py + node:>5.0f}MiB"
        )
    envs = len(list((ROOT / "app" / "environments").glob("*.toml")))
    print(
        f"({envs} environments; wall clock start to exit; CPU = median user+system time of Python and Node; "
        f"peak RSS = largest of the runs, Python process and its Node kernel, 'sum' bounds both at once; "
        f"load average at the end {load[0]:.1f} on {os.cpu_count()} CPUs)"
    )


if __name__ == "__main__":
    main()
