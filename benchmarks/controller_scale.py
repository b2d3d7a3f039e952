"""Cost of one reconcile tick and one Describe as a tuning job grows (Random, up to 10,000 jobs).

Runs the real controller, service and SQLite store against the scripted fake backend (no Docker),
so it measures smlocal's own bookkeeping. Usage:

    SMLOCAL_QUOTA_MAX_PARALLEL_TRAINING_JOBS=100 python3 benchmarks/controller_scale.py
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from orchestrator.controller.harness import Harness, tuning_request  # noqa: E402
from orchestrator.runner.fake import FakeScript  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--points", type=int, nargs="+", default=[1000, 3000, 6000])
    parser.add_argument("--parallel", type=int, default=100)
    args = parser.parse_args()
    h = Harness(Path(tempfile.mkdtemp()), lambda spec: FakeScript(lines=["loss=1"]))
    h.call("CreateHyperParameterTuningJob", tuning_request(
        strategy="Random", max_jobs=10_000, parallel=args.parallel))
    print("| finished jobs | reconcile tick (ms) | Describe (ms) |\n|---|---|---|")
    for target in args.points:
        while len(h.training_jobs()) < target:
            h.tick()
        start = time.perf_counter()
        h.tuner.step()
        tick = time.perf_counter() - start
        start = time.perf_counter()
        h.describe()
        describe = time.perf_counter() - start
        print(f"| {target} | {tick * 1000:.0f} | {describe * 1000:.0f} |", flush=True)


if __name__ == "__main__":
    main()
