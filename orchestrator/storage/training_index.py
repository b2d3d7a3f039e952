"""Index columns of training jobs, so Describe and List* of a tuning job read a few small
columns instead of decoding every training job's document (issue 15, load).

What a tuning job's Describe aggregates (status and objective counters, the best training job)
and what its ListTrainingJobsForHyperParameterTuningJob sorts, filters and returns are derived
from each training job's document by a function its owner registers
(`Store.use_training_index`; the controller's `job_index.index_row`). The store knows the
columns, not their meaning. They are written in the same transaction as the document, so a
`kill -9` can never leave them out of step with it.

Rows indexed by another version of the function (a state dir from an older smlocal), or
written while none was registered (`index_version` NULL), are re-derived: the former when the
index is registered, the latter before every read of the index (`heal`; normally a lookup
that finds nothing).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

Doc = dict[str, Any]

COLUMNS = (("counter", "TEXT"), ("objective_status", "TEXT"), ("final_objective", "REAL"),
           ("loss", "REAL"), ("launch_index", "INTEGER"), ("summary", "TEXT"),
           ("index_version", "INTEGER"))
ASSIGN = ", ".join(f"{name}=?" for name, _type in COLUMNS)
_INDEXES = """
CREATE INDEX IF NOT EXISTS training_counts
    ON training_jobs(tuning_key, counter, objective_status);
CREATE INDEX IF NOT EXISTS training_best
    ON training_jobs(tuning_key, loss, creation_time, launch_index) WHERE loss IS NOT NULL;
CREATE INDEX IF NOT EXISTS training_unindexed
    ON training_jobs(key) WHERE index_version IS NULL;
"""
_HEAL_BATCH = 500


@dataclass(frozen=True)
class IndexRow:
    """A training job as its tuning job's Describe and List see it."""

    counter: str  # its member of TrainingJobStatusCounters
    objective_status: str  # its member of ObjectiveStatusCounters
    final_objective: float | None  # the objective value its summary shows
    loss: float | None  # lower is better; set only when it competes for the best job
    launch_index: int  # the tie-breaker after the creation time
    summary: Doc  # its HyperParameterTrainingJobSummary


@dataclass(frozen=True)
class TrainingIndex:
    derive: Callable[[Doc], IndexRow]
    version: int  # bumped when `derive` changes meaning: stored rows are then re-derived


@dataclass(frozen=True)
class Candidate:
    """A tuning job's best training job and its place in the best-job order."""

    summary: Doc
    loss: float
    creation_time: float
    launch_index: int


@dataclass(frozen=True)
class ListedRow:
    """What ListTrainingJobsForHyperParameterTuningJob filters and sorts on; the summary is
    decoded only for the rows of the page (`summary()`)."""

    name: str
    status: str
    creation_time: float
    final_objective: float | None
    summary_json: str

    def summary(self) -> Doc:
        return json.loads(self.summary_json)

    @classmethod
    def of_summary(cls, summary: Doc) -> ListedRow:
        """The row of a summary kept some other way (not derived by the index)."""
        objective = summary.get("FinalHyperParameterTuningJobObjectiveMetric")
        return cls(summary["TrainingJobName"], summary["TrainingJobStatus"],
                   summary["CreationTime"], None if objective is None else objective["Value"],
                   json.dumps(summary))


def migrate(conn: sqlite3.Connection) -> None:
    """Adds the columns and indexes to a training_jobs table made before they existed (every
    new state file too: the base schema predates them). `conn` is in autocommit mode. The
    columns are read and added in one write transaction: two processes opening the same
    state at once (a server and a CLI command) both saw them missing otherwise, and the
    second one's ALTER TABLE failed with "duplicate column name". A state that has them
    takes no write lock."""
    if not _missing(conn):
        conn.executescript(_INDEXES)
        return
    conn.execute("BEGIN IMMEDIATE")
    try:
        for name, sql_type in _missing(conn):  # again, under the lock
            conn.execute(f"ALTER TABLE training_jobs ADD COLUMN {name} {sql_type}")
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    conn.executescript(_INDEXES)


def _missing(conn: sqlite3.Connection) -> list[tuple[str, str]]:
    have = {row[1] for row in conn.execute("PRAGMA table_info(training_jobs)")}
    return [(name, sql_type) for name, sql_type in COLUMNS if name not in have]


def values(index: TrainingIndex | None, doc: Doc) -> tuple:
    """The index columns of `doc` (all NULL without an index: healed on the next read)."""
    if index is None:
        return (None,) * len(COLUMNS)
    row = index.derive(doc)
    return (row.counter, row.objective_status, row.final_objective, row.loss, row.launch_index,
            json.dumps(row.summary), index.version)


def reindex(conn: sqlite3.Connection, index: TrainingIndex, stale_only: bool) -> int:
    """Re-derive rows of another version (all of them unless `stale_only`: only unindexed)."""
    where = ("index_version IS NULL" if stale_only
             else "index_version IS NULL OR index_version != ?")
    args = () if stale_only else (index.version,)
    done = 0
    while True:
        rows = conn.execute(f"SELECT key, doc FROM training_jobs WHERE {where} LIMIT ?",
                            (*args, _HEAL_BATCH)).fetchall()
        if not rows:
            return done
        conn.executemany(f"UPDATE training_jobs SET {ASSIGN} WHERE key=?",
                         [(*values(index, json.loads(doc)), key) for key, doc in rows])
        done += len(rows)


def needs_heal(conn: sqlite3.Connection) -> bool:
    return conn.execute(
        "SELECT 1 FROM training_jobs WHERE index_version IS NULL LIMIT 1").fetchone() is not None


def counts(conn: sqlite3.Connection, tuning_key: str | None) -> list[tuple[str, str, str, int]]:
    """(tuning job key, counter, objective status, number of training jobs)."""
    sql = ("SELECT tuning_key, counter, objective_status, COUNT(*) FROM training_jobs "
           "WHERE tuning_key {} GROUP BY tuning_key, counter, objective_status")
    if tuning_key is None:
        return conn.execute(sql.format("IS NOT NULL")).fetchall()
    return conn.execute(sql.format("= ?"), (tuning_key,)).fetchall()


def best(conn: sqlite3.Connection, tuning_key: str) -> Candidate | None:
    """Lowest loss; ties go to the earliest created, then the lowest launch index, then the
    first stored (the order of `describe.best_job` over the jobs as the store lists them)."""
    row = conn.execute(
        "SELECT summary, loss, creation_time, launch_index FROM training_jobs "
        "WHERE tuning_key=? AND loss IS NOT NULL "
        "ORDER BY loss, creation_time, launch_index, rowid LIMIT 1", (tuning_key,)).fetchone()
    if row is None:
        return None
    return Candidate(json.loads(row[0]), row[1], row[2], row[3])


@dataclass(frozen=True)
class Page:
    """One page of a tuning job's training jobs, selected, ordered and cut by SQLite, so a
    List call reads only its page's rows (issue 15, load: sorting every row's summary in
    Python cost 3.6 ms per call for 500 training jobs)."""

    order: str  # a key of ORDERS
    descending: bool
    status: str | None  # only the rows of this status
    scored: bool  # only the rows with a final objective
    offset: int
    limit: int


# Column orders. Names go case-insensitively, then exactly (`controller.listing.name_key`;
# SQLite's lower() folds ASCII only, all a training job name may hold). Equal keys keep the
# store's list order (creation time, then stored) in both directions, as a stable sort does.
ORDERS = {"name": ("lower(name)", "name"), "creation_time": ("creation_time",),
          "status": ("status",), "final_objective": ("final_objective",)}
_LISTED = "SELECT name, status, creation_time, final_objective, summary FROM training_jobs "


def listed(conn: sqlite3.Connection, tuning_key: str,
           page: Page | None = None) -> list[ListedRow]:
    """The tuning job's training jobs in the store's list order (creation time, then stored),
    or the rows of `page`."""
    if page is None:
        rows = conn.execute(_LISTED + "WHERE tuning_key=? ORDER BY creation_time, rowid",
                            (tuning_key,)).fetchall()
        return [ListedRow(*row) for row in rows]
    where, args = ["tuning_key=?"], [tuning_key]
    if page.status is not None:
        where.append("status=?")
        args.append(page.status)
    if page.scored:
        where.append("final_objective IS NOT NULL")
    direction = " DESC" if page.descending else ""
    order = ", ".join(column + direction for column in ORDERS[page.order])
    rows = conn.execute(
        f"{_LISTED}WHERE {' AND '.join(where)} ORDER BY {order}, creation_time, rowid "
        "LIMIT ? OFFSET ?", (*args, page.limit, page.offset)).fetchall()
    return [ListedRow(*row) for row in rows]
