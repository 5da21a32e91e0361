"""Benchmark: a full synth (`python -m app`, every environment) next to importing the prebuilt
AWS provider bindings alone, in the same run. Not a test; numbers go into the README.

    .venv/bin/python bench/synth.py [--runs 3]

Each measurement runs in a fresh wrapper process so that peak RSS (largest process of the tree:
python or the jsii Node runtime) is measured per run.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
WRAPPER = """
import resource, subprocess, sys, time
t = time.perf_counter()
rc = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL).returncode
wall = time.perf_counter() - t
print(wall, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, rc)
"""


def measure(cmd: list[str], env: dict[str, str]) -> tuple[float, float]:
    out = subprocess.run([sys.executable, "-c", WRAPPER, *cmd], env=env, cwd=ROOT, capture_output=True, text=True)
    wall, rss_kib, rc = out.stdout.split()
    if rc != "0":
        raise SystemExit(f"{cmd} failed: {out.stderr[-2000:]}")
    return float(wall), int(rss_kib) / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    env = {**os.environ, "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20"}
    cases = {
        "import aws bindings only": [sys.executable, "-c", "import cdktf_cdktf_provider_aws.provider"],
        "full synth (all envs)": [sys.executable, "-m", "app"],
    }
    print(f"{'case':<28} {'runs':>4} {'wall median':>12} {'wall min':>9} {'peak RSS':>10}")
    for name, cmd in cases.items():
        walls, rss = [], []
        for _ in range(args.runs):
            with tempfile.TemporaryDirectory() as out:
                wall, peak = measure(cmd, {**env, "CDKTF_OUTDIR": out})
            walls.append(wall)
            rss.append(peak)
        print(f"{name:<28} {args.runs:>4} {statistics.median(walls):>11.1f}s {min(walls):>8.1f}s {max(rss):>8.0f}MiB")
    stacks = sum(1 for _ in (ROOT / "app" / "environments").glob("*.toml"))
    print(f"({stacks} environments; `time.perf_counter` wall clock, ru_maxrss of the process tree)")


if __name__ == "__main__":
    main()
