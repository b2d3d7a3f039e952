"""Time of `smlocal import --bundle` and `smlocal snapshot` for a large tuning job.

A small tuning job runs on a "remote" app (scripted fake backend, no Docker); its snapshot is
blown up to JOBS training jobs, each with METRICS series of POINTS samples, and imported into a
second app through the CLI (one gzip-compressed `SmLocal.ImportHyperParameterTuningJob`), then
snapshotted back (one DescribeTrainingJob, ListTags and GetMetricData per job). Usage:

    nice -n 10 python3 benchmarks/import_scale.py --jobs 750 --metrics 3 --points 100
"""

from __future__ import annotations

import argparse
import copy
import gzip
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from orchestrator.client.cli import main as cli  # noqa: E402
from tests.unit.client.import_fixtures import (  # noqa: E402
    SOURCE_NAME,
    apps,
    run_to_end,
    source_request,
)


def blown_up(bundle: dict, jobs: int, metrics: int, points: int) -> dict:
    proto = bundle["TrainingJobs"][0]
    entries = []
    for i in range(jobs):
        entry = copy.deepcopy(proto)
        name = f"{SOURCE_NAME}-{i + 1:03d}-{i:08x}"
        entry["Description"]["TrainingJobName"] = entry["Summary"]["TrainingJobName"] = name
        start = entry["Description"]["CreationTime"]
        entry["MetricSeries"] = [
            {"MetricName": "loss" if m == 0 else f"extra{m}",
             "Timestamps": [start + k for k in range(points)],
             "Values": [1.0 / (k + 1) for k in range(points)]} for m in range(metrics)]
        entries.append(entry)
    return {**bundle, "TrainingJobs": entries}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--jobs", type=int, default=750)
    parser.add_argument("--metrics", type=int, default=3)
    parser.add_argument("--points", type=int, default=100)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp())
    with apps(tmp, 2) as (local, remote):
        run_to_end(remote, source_request(jobs=2))
        small = tmp / "small.json"
        assert cli(["snapshot", SOURCE_NAME, "--from-endpoint", remote.url, "-o",
                    str(small)]) == 0
        big = tmp / "big.json"
        big.write_text(json.dumps(blown_up(json.loads(small.read_text()), args.jobs,
                                           args.metrics, args.points)))
        raw = big.read_bytes()
        start = time.perf_counter()
        assert cli(["--endpoint", local.url, "import", "--bundle", str(big)]) == 0
        imported = time.perf_counter() - start
        start = time.perf_counter()
        assert cli(["--endpoint", local.url, "snapshot", SOURCE_NAME, "-o",
                    str(tmp / "again.json")]) == 0
        snapshot = time.perf_counter() - start
    print(json.dumps({"jobs": args.jobs, "samples": args.jobs * args.metrics * args.points,
                      "bundle_bytes": len(raw), "gzip_bytes": len(gzip.compress(raw, 6)),
                      "import_seconds": round(imported, 2),
                      "snapshot_seconds": round(snapshot, 2)}))


if __name__ == "__main__":
    main()
