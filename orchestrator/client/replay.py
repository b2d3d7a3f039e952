"""`smlocal replay SOURCE [--top K] [--parallel P] [--name NEW]`: run here the exact
hyperparameter configurations another tuning job tried (typically one imported from
SageMaker), as a new local tuning job of fixed points, then set the local objectives beside
the source's: does the container, with its data and libraries, behave the same here?

- **Which configurations**: all the source's training jobs in creation order, or with
  `--top K` the K with the best final objective (ties: the earlier job first); a
  configuration tried twice is replayed once (its first job is the one compared).
- **The new job** (`SmLocal.CreateFixedPointsTuningJob`): the source's tuning config and
  TrainingJobDefinition as Describe shows them (the service's objective key removed from the
  static hyperparameters, warm start dropped), MaxParallelTrainingJobs = `--parallel` (default
  the source's), tagged `smlocal:replay-of=SOURCE`. Its images and S3 URIs must resolve here
  (for a job imported from AWS: SMLOCAL_IMAGE_MAP and the data under the same S3 URIs).
- **The report** per configuration: remote and local objective and `difference` (local −
  remote); over the configurations with both values: `spearman` and `kendall` (tau-b) rank
  correlation (scipy; None with fewer than 2 pairs or a constant side), and `best_same`: the
  configuration with the best remote objective is the one with the best local objective.
"""

from __future__ import annotations

import copy
import math
from typing import Any

from orchestrator.client.analytics import objective_metric, objective_type, training_job_summaries
from orchestrator.client.compare import value_of

OBJECTIVE_KEY = "_tuning_objective_metric"  # added to every training job by the service
TERMINAL = ("Completed", "Failed", "Stopped")
REPLAY_TAG = "smlocal:replay-of"


class ReplayError(ValueError):
    """Bad input for a replay, said so that the user can fix it."""


def _key(point: dict[str, str]) -> tuple[tuple[str, str], ...]:
    return tuple(sorted(point.items()))


def select(tuning: dict[str, Any], jobs: list[dict[str, Any]], top: int | None
           ) -> list[dict[str, Any]]:
    """The source's training job summaries to replay (`jobs` in creation order)."""
    if top is not None:
        maximize = objective_type(tuning) == "Maximize"
        scored = [(i, s) for i, s in enumerate(jobs) if value_of(s) is not None]
        if not scored:
            raise ReplayError(f"{tuning['HyperParameterTuningJobName']} has no training job "
                              "with an objective value: --top has nothing to rank")
        scored.sort(key=lambda iv: ((-1 if maximize else 1) * value_of(iv[1]), iv[0]))
        jobs = [s for _, s in scored]
    out, seen = [], set()
    for s in jobs:
        k = _key(s["TunedHyperParameters"])
        if k not in seen:
            seen.add(k)
            out.append(s)
    return out[:top] if top is not None else out


def replay_request(tuning: dict[str, Any], name: str, parallel: int | None
                   ) -> dict[str, Any]:
    """The CreateHyperParameterTuningJob body of the replay (the server fixes the rest)."""
    if "TrainingJobDefinition" not in tuning:
        raise ReplayError(f"{tuning['HyperParameterTuningJobName']} has several training job "
                          "definitions; replay takes a tuning job with one")
    config = copy.deepcopy(tuning["HyperParameterTuningJobConfig"])
    if parallel is not None:
        config["ResourceLimits"]["MaxParallelTrainingJobs"] = parallel
    definition = copy.deepcopy(tuning["TrainingJobDefinition"])
    static = {k: v for k, v in (definition.get("StaticHyperParameters") or {}).items()
              if k != OBJECTIVE_KEY}
    definition["StaticHyperParameters"] = static
    return {"HyperParameterTuningJobName": name, "HyperParameterTuningJobConfig": config,
            "TrainingJobDefinition": definition,
            "Tags": [{"Key": REPLAY_TAG, "Value": tuning["HyperParameterTuningJobName"]}]}


def check_source(tuning: dict[str, Any]) -> None:
    status = tuning["HyperParameterTuningJobStatus"]
    if status not in TERMINAL:
        raise ReplayError(f"{tuning['HyperParameterTuningJobName']} is {status}: replay a "
                          "tuning job once it has ended (its objectives are not final yet)")


def default_name(source: str) -> str:
    return f"{source[:25].rstrip('-')}-replay"


# -- the report ------------------------------------------------------------------------------
def _finite(x: float | None) -> float | None:
    return None if x is None or math.isnan(x) else float(x)


def rank_correlations(remote: list[float], local: list[float]) -> dict[str, float | None]:
    """Spearman's rho and Kendall's tau-b (scipy), None when undefined."""
    if len(remote) < 2 or len(set(remote)) < 2 or len(set(local)) < 2:
        return {"spearman": None, "kendall": None}
    from scipy.stats import kendalltau, spearmanr

    return {"spearman": _finite(spearmanr(remote, local).statistic),
            "kendall": _finite(kendalltau(remote, local).statistic)}


def report(source: dict[str, Any], chosen: list[dict[str, Any]], replay: dict[str, Any],
           local_jobs: list[dict[str, Any]]) -> dict[str, Any]:
    """`replay --json`: per configuration, and the correlations (see the module docstring)."""
    maximize = objective_type(source) == "Maximize"
    local = {}
    for s in local_jobs:
        local.setdefault(_key(s["TunedHyperParameters"]), s)
    rows = []
    for i, s in enumerate(chosen, 1):
        mine = local.get(_key(s["TunedHyperParameters"]))
        r, v = value_of(s), mine and value_of(mine)
        rows.append({"index": i, "hyperparameters": dict(s["TunedHyperParameters"]),
                     "remote_training_job": s["TrainingJobName"], "remote_objective": r,
                     "local_training_job": mine and mine["TrainingJobName"],
                     "local_status": mine and mine["TrainingJobStatus"],
                     "local_objective": v,
                     "difference": None if r is None or v is None else v - r})
    pairs = [row for row in rows if row["difference"] is not None]
    pick = max if maximize else min

    def best(key: str) -> dict[str, Any] | None:  # the first of ties
        return pick(pairs, key=lambda row: row[key]) if pairs else None

    remote_best, local_best = best("remote_objective"), best("local_objective")
    return {
        "source": source["HyperParameterTuningJobName"],
        "replay": replay["HyperParameterTuningJobName"],
        "replay_status": replay["HyperParameterTuningJobStatus"],
        "objective": {"metric": objective_metric(source), "type": objective_type(source)},
        "configurations": rows,
        "pairs": len(pairs),
        **rank_correlations([p["remote_objective"] for p in pairs],
                            [p["local_objective"] for p in pairs]),
        "remote_best": remote_best and remote_best["index"],
        "local_best": local_best and local_best["index"],
        "best_same": None if remote_best is None else remote_best is local_best,
    }


# -- talking to the endpoint -----------------------------------------------------------------
def plan(sm: Any, source: str, top: int | None, parallel: int | None, name: str | None
         ) -> tuple[dict[str, Any], list[dict[str, Any]], dict[str, Any]]:
    """(source Describe, the chosen summaries, the replay's request body)."""
    if top is not None and top < 1:
        raise ReplayError("--top must be at least 1")
    if parallel is not None and parallel < 1:
        raise ReplayError("--parallel must be at least 1")
    tuning = sm.describe_hyper_parameter_tuning_job(HyperParameterTuningJobName=source)
    check_source(tuning)
    jobs = sorted(training_job_summaries(sm, source),
                  key=lambda s: (s["CreationTime"], s["TrainingJobName"]))
    if not jobs:
        raise ReplayError(f"{source} has no training jobs to replay")
    chosen = select(tuning, jobs, top)
    return tuning, chosen, replay_request(tuning, name or default_name(source), parallel)


def create(endpoint: str, body: dict[str, Any], chosen: list[dict[str, Any]]) -> str:
    from orchestrator.client.extensions import call

    points = [dict(s["TunedHyperParameters"]) for s in chosen]
    return call(endpoint, "CreateFixedPointsTuningJob",
                {"TuningJob": body, "Points": points})["HyperParameterTuningJobArn"]
