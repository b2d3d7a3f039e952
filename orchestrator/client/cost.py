"""What a tuning job costs on SageMaker (issue 11 item 6), from the public API only.

Two kinds of figure:

- **billed** (a job that ran on SageMaker and was imported): per training job
  `BillableTimeInSeconds × InstanceCount × hourly price / 3600` — AWS's own formula
  (DescribeTrainingJob, `BillableTimeInSeconds`: "Multiply BillableTimeInSeconds by the number
  of instances (InstanceCount) ... BillableTimeInSeconds * InstanceCount"). With managed spot,
  BillableTimeInSeconds already holds the saving; it is reported as
  `1 - BillableTimeInSeconds / TrainingTimeInSeconds` (the same page's formula).
- **projected** (a local job): measured training seconds (TrainingEndTime − TrainingStartTime)
  × `speed_factor` × InstanceCount × price. SageMaker bills exactly that interval
  (DescribeTrainingJob, `TrainingStartTime`: "You are billed for the time interval between this
  time and the value of TrainingEndTime"), so the per-job start-up before it (provisioning,
  image and data download) costs nothing but adds to the wall time: `STARTUP_SECONDS` per job,
  and the wall time is the schedule of the jobs' durations on MaxParallelTrainingJobs slots in
  creation order. Managed spot is shown as a range, `SPOT_SAVING_MAX`.

`tuning_job_cost(sm, name, prices)` returns a `TuningJobCost`; `as_dict()` is what `--json`
prints and what `compare` shows.
"""

from __future__ import annotations

import heapq
import json
from dataclasses import asdict, dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from orchestrator.config import DEFAULT_ACCOUNT

PRICE_FILE = "sagemaker-training-prices.json"
# A cold SageMaker training job spends "often almost two minutes" starting (provisioning,
# pulling the image) before TrainingStartTime: Syne Tune's tutorial, written by the AMT team,
# https://github.com/syne-tune/syne-tune/blob/main/docs/tutorials/basics/basics_backend.md
# Not billed: "Customers are not billed for hardware provisioning, so billable time is less
# than total time" (https://github.com/aws/sagemaker-python-sdk/pull/30), which is the
# TrainingStartTime rule above.
STARTUP_SECONDS = 120.0
STARTUP_SOURCE = ("https://github.com/syne-tune/syne-tune/blob/main/docs/tutorials/basics/"
                  "basics_backend.md (\"often almost two minutes\"); not billed: "
                  "DescribeTrainingJob TrainingStartTime")
# "Managed spot training can optimize the cost of training models up to 90% over on-demand
# instances": https://docs.aws.amazon.com/sagemaker/latest/dg/model-managed-spot-training.html
SPOT_SAVING_MAX = 0.90
SPOT_SOURCE = "https://docs.aws.amazon.com/sagemaker/latest/dg/model-managed-spot-training.html"
REQUIRED = ("source", "retrieved", "region", "currency", "prices")


@dataclass(frozen=True)
class PriceTable:
    source: str
    retrieved: str
    region: str
    currency: str
    prices: dict[str, float]
    path: str

    def hourly(self, instance_type: str) -> float | None:
        return self.prices.get(instance_type)


def load_prices(path: str | None = None) -> PriceTable:
    """The shipped table (None) or `path`; ValueError saying what is wrong and where."""
    where = path or f"orchestrator/client/data/{PRICE_FILE}"
    try:
        text = (Path(path).read_text() if path else
                resources.files("orchestrator.client").joinpath("data", PRICE_FILE).read_text())
    except OSError as exc:
        raise ValueError(f"cannot read {where}: {exc.strerror}") from exc
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"{where}:{exc.lineno}:{exc.colno}: invalid JSON ({exc.msg})") from exc
    if not isinstance(data, dict):
        raise ValueError(f"{where}: a price file is a JSON object with {list(REQUIRED)}")
    missing = [k for k in REQUIRED if not data.get(k)]
    if missing:
        raise ValueError(f"{where}: missing {missing} (a price table states its source, the "
                         "date it was retrieved, its region and currency)")
    prices = data["prices"]
    bad = ([k for k, v in prices.items() if isinstance(v, bool)
            or not isinstance(v, int | float) or v < 0] if isinstance(prices, dict) else None)
    if bad is None or bad:
        raise ValueError(f"{where}: 'prices' must map instance types to hourly prices >= 0"
                         + (f" (bad: {bad})" if bad else ""))
    return PriceTable(str(data["source"]), str(data["retrieved"]), str(data["region"]),
                      str(data["currency"]), {k: float(v) for k, v in prices.items()}, where)


@dataclass
class JobCost:
    name: str
    status: str
    creation_time: float
    instances: list[tuple[str, int]]          # (instance type, count)
    training_seconds: float | None            # TrainingEndTime - TrainingStartTime
    billable_seconds: float | None            # BillableTimeInSeconds
    seconds: float                            # what is priced (billed, or projected)
    spot: bool
    cost: float | None                        # None: an instance type without a price
    spot_saving: float | None = None          # billed spot jobs: 1 - billable/training


@dataclass
class TuningJobCost:
    name: str
    kind: str                                 # "billed" | "projected"
    currency: str
    region: str
    price_source: str
    price_date: str
    speed_factor: float
    startup_seconds: float
    max_parallel: int
    total: float                              # sum over priced jobs
    wall_seconds: float | None                # projected schedule, or the real span
    unpriced: list[str]
    spot_range: tuple[float, float] | None    # projected: (cost with max saving, on-demand)
    jobs: list[JobCost] = field(default_factory=list)
    hourly: dict[str, float] = field(default_factory=dict)  # the prices used, by type

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["jobs"] = [asdict(j) for j in self.jobs]
        out["startup_source"] = STARTUP_SOURCE
        out["spot_source"] = SPOT_SOURCE
        if self.currency == "USD":
            out["usd"] = self.total
        return out


def _ts(value: Any) -> float | None:
    return None if value is None else value.timestamp() if hasattr(value, "timestamp") \
        else float(value)


def _instances(d: dict[str, Any]) -> list[tuple[str, int]]:
    rc = d.get("ResourceConfig") or {}
    if rc.get("InstanceGroups"):
        return [(g["InstanceType"], int(g["InstanceCount"])) for g in rc["InstanceGroups"]]
    return [(rc.get("InstanceType", "?"), int(rc.get("InstanceCount", 1)))]


def job_cost(d: dict[str, Any], prices: PriceTable, kind: str, speed: float) -> JobCost:
    """One DescribeTrainingJob answer priced as `kind`."""
    start, end = _ts(d.get("TrainingStartTime")), _ts(d.get("TrainingEndTime"))
    training = end - start if start is not None and end is not None else None
    billable = d.get("BillableTimeInSeconds")
    seconds = float(billable or 0) if kind == "billed" else (training or 0.0) * speed
    instances = _instances(d)
    hourly = [prices.hourly(t) for t, _ in instances]
    cost = None if None in hourly else sum(
        seconds * n * h / 3600 for (_, n), h in zip(instances, hourly, strict=True))
    spot = bool(d.get("EnableManagedSpotTraining"))
    saving = None
    if kind == "billed" and spot and billable and d.get("TrainingTimeInSeconds"):
        saving = 1 - billable / d["TrainingTimeInSeconds"]
    return JobCost(d["TrainingJobName"], d["TrainingJobStatus"],
                   _ts(d.get("CreationTime")) or 0.0, instances, training,
                   billable, seconds, spot, cost, saving)


def schedule(durations: list[float], slots: int) -> float:
    """Wall time of jobs started in list order, each on the first free of `slots` slots."""
    free = [0.0] * max(1, slots)
    end = 0.0
    for d in durations:
        start = heapq.heappop(free)
        end = max(end, start + d)
        heapq.heappush(free, start + d)
    return end


def _training_jobs(sm: Any, name: str) -> list[dict[str, Any]]:
    kwargs: dict[str, Any] = {"HyperParameterTuningJobName": name, "MaxResults": 100}
    names: list[str] = []
    while True:
        page = sm.list_training_jobs_for_hyper_parameter_tuning_job(**kwargs)
        names += [s["TrainingJobName"] for s in page["TrainingJobSummaries"]]
        if not page.get("NextToken"):
            break
        kwargs["NextToken"] = page["NextToken"]
    return [sm.describe_training_job(TrainingJobName=n) for n in names]


# Every job `smlocal import` stores carries this tag (its ARN is rewritten to this endpoint's
# account, so the ARN alone cannot tell): `orchestrator.controller.imported`.
IMPORTED_TAG = "smlocal:imported-from"


def _tag_keys(sm: Any, arn: str) -> set[str]:
    keys: set[str] = set()
    kwargs: dict[str, Any] = {"ResourceArn": arn}
    while True:
        page = sm.list_tags(**kwargs)
        keys |= {t["Key"] for t in page.get("Tags", [])}
        if not page.get("NextToken"):
            return keys
        kwargs["NextToken"] = page["NextToken"]


def default_kind(sm: Any, tuning: dict[str, Any]) -> str:
    """billed for a job that ran on SageMaker: imported (its tag), or read from an endpoint of
    another account than smlocal's; projected for a job of this smlocal."""
    arn = tuning.get("HyperParameterTuningJobArn", "")
    account = arn.split(":")[4:5]
    if account not in ([DEFAULT_ACCOUNT], []):
        return "billed"
    return "billed" if arn and IMPORTED_TAG in _tag_keys(sm, arn) else "projected"


def tuning_job_cost(sm: Any, name: str, prices: PriceTable | None = None,
                    speed_factor: float = 1.0, kind: str | None = None,
                    startup_seconds: float = STARTUP_SECONDS) -> TuningJobCost:
    """The cost of tuning job `name` read through `sm` (a boto3 SageMaker client); boto3
    errors propagate. `kind` None: `default_kind` (imported or remote: billed)."""
    if speed_factor <= 0:
        raise ValueError("--speed-factor must be > 0")
    prices = prices or load_prices()
    tuning = sm.describe_hyper_parameter_tuning_job(HyperParameterTuningJobName=name)
    kind = kind or default_kind(sm, tuning)
    jobs = sorted((job_cost(d, prices, kind, speed_factor) for d in _training_jobs(sm, name)),
                  key=lambda j: (j.creation_time, j.name))
    limits = tuning["HyperParameterTuningJobConfig"].get("ResourceLimits", {})
    parallel = int(limits.get("MaxParallelTrainingJobs", 1))
    total = sum(j.cost for j in jobs if j.cost is not None)
    unpriced = sorted({t for j in jobs if j.cost is None for t, _ in j.instances})
    if kind == "projected":
        wall = schedule([startup_seconds + j.seconds for j in jobs], parallel)
        spot_range = (total * (1 - SPOT_SAVING_MAX), total)
    else:
        created, ended = (_ts(tuning.get("CreationTime")),
                          _ts(tuning.get("HyperParameterTuningEndTime")))
        wall = ended - created if created is not None and ended is not None else None
        spot_range = None
    return TuningJobCost(name, kind, prices.currency, prices.region, prices.source,
                         prices.retrieved, speed_factor,
                         startup_seconds if kind == "projected" else 0.0, parallel, total,
                         wall, unpriced, spot_range, jobs,
                         {t: prices.prices[t] for j in jobs for t, _ in j.instances
                          if t in prices.prices})
