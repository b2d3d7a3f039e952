"""A tuning job's aggregates and training-job list, read from the store's training-job index.

Describe of a tuning job used to decode every training job's document on every call (40 ms
of one core for 500 jobs, most of it `json.loads`); under 50 clients that queued into seconds.
Now each write of a training job also stores the little its tuning job's Describe and List
need (`index_row`: counter, objective status, loss, summary; `storage.training_index`), in the
same transaction, and Describe reads grouped counts and the best row by SQL.

`index_row` is the only derivation: it applies `describe`'s per-job definitions
(`counter_of`, `TrainingRecord.objective_status`/`loss`, `training_summary`), so the stored
aggregates are by construction the ones `describe.status_counters`, `objective_counters` and
`best_job` compute from the documents; `recomputed` does exactly that, and the tests compare.
Bump `INDEX_VERSION` whenever `index_row` changes meaning: stored rows are then re-derived
when the store is opened.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from orchestrator.controller import describe
from orchestrator.controller.listing import DEFAULT_PAGE_SIZE, decode_token, encode_token
from orchestrator.controller.records import Doc, TrainingRecord
from orchestrator.storage.db import Store
from orchestrator.storage.training_index import (
    Candidate,
    IndexRow,
    ListedRow,
    Page,
    TrainingIndex,
)

INDEX_VERSION = 1
_OBJECTIVE = "FinalHyperParameterTuningJobObjectiveMetric"


def index_row(doc: Doc) -> IndexRow:
    rec = TrainingRecord.of(doc)
    summary = describe.training_summary(rec, multi_definition=True)
    shown = summary.get(_OBJECTIVE)
    return IndexRow(counter=describe.counter_of(rec), objective_status=rec.objective_status,
                    final_objective=None if shown is None else shown["Value"], loss=rec.loss,
                    launch_index=rec.launch_index, summary=summary)


TRAINING_INDEX = TrainingIndex(index_row, INDEX_VERSION)
# ListTrainingJobsForHyperParameterTuningJob's SortBy → the index's order (`Page.order`).
_ORDERS = {"Name": "name", "CreationTime": "creation_time", "Status": "status",
           "FinalObjectiveMetricValue": "final_objective"}


def training_page(store: Store, tuning_job: str,
                  request: Doc) -> tuple[list[ListedRow], str | None]:
    """A page of ListTrainingJobsForHyperParameterTuningJob as `controller.listing.list_page`
    cuts it (default Name Ascending, StatusEquals, offset tokens, 10 a page), from SQL.
    SortBy FinalObjectiveMetricValue lists only the jobs with an objective (spec §2.4)."""
    sort_by = request.get("SortBy") or "Name"
    start = decode_token(request["NextToken"]) if request.get("NextToken") else 0
    size = request.get("MaxResults")
    size = DEFAULT_PAGE_SIZE if size is None else size
    rows = store.listed_training_jobs(tuning_job, Page(
        _ORDERS[sort_by], descending=request.get("SortOrder") == "Descending",
        status=request.get("StatusEquals"), scored=sort_by == "FinalObjectiveMetricValue",
        offset=start, limit=size + 1))  # one more: is there a next page?
    return rows[:size], (encode_token(start + size) if len(rows) > size else None)


@dataclass(frozen=True)
class Aggregates:
    """What a tuning job's Describe reports about its training jobs."""

    status_counters: dict[str, int]
    objective_counters: dict[str, int]
    best: Candidate | None  # summary as training_summary(..., multi_definition=True)

    @property
    def counters(self) -> tuple[dict[str, int], dict[str, int]]:
        return self.status_counters, self.objective_counters


def counters_of(counts: Iterable[tuple[str, str, str, int]]
                ) -> dict[str, tuple[dict[str, int], dict[str, int]]]:
    """Tuning job key → (status counters, objective counters), from the store's counts."""
    out: dict[str, tuple[dict[str, int], dict[str, int]]] = {}
    for key, counter, objective, n in counts:
        status, objectives = out.setdefault(key, (describe.zero_status_counters(),
                                                  describe.zero_objective_counters()))
        status[counter] = status.get(counter, 0) + n
        objectives[objective] = objectives.get(objective, 0) + n
    return out


def empty_counters() -> tuple[dict[str, int], dict[str, int]]:
    return describe.zero_status_counters(), describe.zero_objective_counters()


def stored(store: Store, tuning_job: str) -> Aggregates:
    """The aggregates from the index: a grouped count and one indexed row."""
    counts, best = store.training_job_aggregate(tuning_job)
    status, objective = counters_of(counts).get(tuning_job.lower(), empty_counters())
    return Aggregates(status, objective, best)


def overall_best(candidates: Sequence[Candidate | None]) -> Candidate | None:
    """The best of the tuning job's own best (first) and its parents' (in the order of the
    WarmStartConfig): `describe.best_job`'s order over the jobs listed in that order."""
    best: tuple[tuple[float, float, int, int], Candidate] | None = None
    for group, c in enumerate(candidates):
        if c is None:
            continue
        key = (c.loss, c.creation_time, c.launch_index, group)
        if best is None or key < best[0]:
            best = (key, c)
    return None if best is None else best[1]


def recomputed(jobs: Sequence[Doc | TrainingRecord]) -> Aggregates:
    """The aggregates computed from the documents themselves (what the index must equal)."""
    records = [j if isinstance(j, TrainingRecord) else TrainingRecord.of(j) for j in jobs]
    best = describe.best_job(records)
    candidate = None
    if best is not None and best.loss is not None:
        candidate = Candidate(describe.training_summary(best, multi_definition=True), best.loss,
                              best.creation_time, best.launch_index)
    return Aggregates(describe.status_counters(records), describe.objective_counters(records),
                      candidate)

