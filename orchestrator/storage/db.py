"""Durable job state in SQLite (WAL): tuning jobs, training jobs, metric series, tags.

Records are JSON documents shaped like the Describe responses (timestamps as epoch seconds),
with a few indexed columns for lookup and listing. Keys are lower-cased names because SageMaker
names are case-insensitive for uniqueness and lookup while responses keep the original case
(spec §0). Internal fields in documents start with `_`; the API drops them (they are not
modelled members).

Every write is one transaction; `update_*` run a mutation function on the stored document
under the store lock, so concurrent backend callbacks and the reconciler never lose updates.
WAL with synchronous=NORMAL survives a `kill -9` of the process (only an OS crash may lose the
last transactions), which is the durability the issue asks for.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from orchestrator.errors import ResourceInUse, StateDiskFull
from orchestrator.storage import training_index
from orchestrator.storage.training_index import Candidate, ListedRow, Page, TrainingIndex

Doc = dict[str, Any]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS tuning_jobs (
    key TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    status TEXT NOT NULL,
    creation_time REAL NOT NULL,
    doc TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS training_jobs (
    key TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    tuning_key TEXT,
    status TEXT NOT NULL,
    creation_time REAL NOT NULL,
    log_offset REAL NOT NULL DEFAULT 0,
    doc TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS training_by_tuning ON training_jobs(tuning_key, creation_time);
CREATE TABLE IF NOT EXISTS metrics (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    job_key TEXT NOT NULL,
    name TEXT NOT NULL,
    value REAL NOT NULL,
    ts REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS metrics_by_job ON metrics(job_key, name, id);
CREATE TABLE IF NOT EXISTS tags (
    arn_key TEXT NOT NULL,
    key TEXT NOT NULL,
    value TEXT NOT NULL,
    position INTEGER NOT NULL,
    PRIMARY KEY (arn_key, key)
);
"""


class Store:
    def __init__(self, path: Path | str) -> None:
        if str(path) != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        self._path = Path(path)
        self._conn = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        self._lock = threading.RLock()
        self._index: TrainingIndex | None = None
        with self._lock:
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute("PRAGMA synchronous=NORMAL")
            self._conn.executescript(_SCHEMA)
            training_index.migrate(self._conn)

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    # -- helpers ---------------------------------------------------------------------------
    def _tx(self, fn: Callable[[sqlite3.Connection], Any]) -> Any:
        """`fn` in one write transaction. A full disk is `StateDiskFull`, and the transaction
        is over either way (SQLite may or may not have rolled it back itself)."""
        with self._lock:
            try:
                self._conn.execute("BEGIN IMMEDIATE")
                try:
                    result = fn(self._conn)
                    self._conn.execute("COMMIT")
                except BaseException:
                    if self._conn.in_transaction:
                        self._conn.execute("ROLLBACK")
                    raise
            except sqlite3.OperationalError as exc:
                if "full" not in str(exc):  # SQLITE_FULL: "database or disk is full"
                    raise
                raise StateDiskFull(
                    f"smlocal's state disk is full ({self._path.parent}); the change was not "
                    "stored. Free space there and retry.") from exc
            return result

    def _query(self, sql: str, args: Iterable[Any] = ()) -> list[tuple]:
        with self._lock:
            return self._conn.execute(sql, tuple(args)).fetchall()

    # -- tuning jobs -----------------------------------------------------------------------
    def insert_tuning_job(self, doc: Doc) -> None:
        name = doc["HyperParameterTuningJobName"]

        def tx(c: sqlite3.Connection) -> None:
            if c.execute("SELECT 1 FROM tuning_jobs WHERE key=?", (name.lower(),)).fetchone():
                raise ResourceInUse(
                    f"A hyperparameter tuning job with the name, {name}, already exists. "
                    "Choose a different name."
                )
            c.execute(
                "INSERT INTO tuning_jobs(key, name, status, creation_time, doc) VALUES (?,?,?,?,?)",
                (name.lower(), name, doc["HyperParameterTuningJobStatus"], doc["CreationTime"],
                 json.dumps(doc)),
            )

        self._tx(tx)

    def get_tuning_job(self, name: str) -> Doc | None:
        rows = self._query("SELECT doc FROM tuning_jobs WHERE key=?", (name.lower(),))
        return json.loads(rows[0][0]) if rows else None

    def list_tuning_jobs(self, statuses: Iterable[str] | None = None) -> list[Doc]:
        if statuses is None:
            rows = self._query("SELECT doc FROM tuning_jobs ORDER BY creation_time")
        else:
            st = list(statuses)
            marks = ",".join("?" * len(st))
            rows = self._query(
                f"SELECT doc FROM tuning_jobs WHERE status IN ({marks}) ORDER BY creation_time", st
            )
        return [json.loads(r[0]) for r in rows]

    def update_tuning_job(self, name: str, mutate: Callable[[Doc], None]) -> Doc | None:
        """Apply `mutate` to the stored document atomically; returns the new document."""

        def tx(c: sqlite3.Connection) -> Doc | None:
            row = c.execute("SELECT doc FROM tuning_jobs WHERE key=?", (name.lower(),)).fetchone()
            if row is None:
                return None
            doc = json.loads(row[0])
            mutate(doc)
            c.execute(
                "UPDATE tuning_jobs SET status=?, doc=? WHERE key=?",
                (doc["HyperParameterTuningJobStatus"], json.dumps(doc), name.lower()),
            )
            return doc

        return self._tx(tx)

    def delete_tuning_job(self, name: str) -> None:
        self._tx(lambda c: c.execute("DELETE FROM tuning_jobs WHERE key=?", (name.lower(),)))

    def insert_imported(self, tuning: Doc, training: list[Doc],
                        metrics: dict[str, list[tuple[str, float, float]]],
                        tags: dict[str, list[dict[str, str]]]) -> None:
        """A tuning job with its training jobs, their metric series (job → [(name, value,
        ts)]) and tags (ARN → tags), all in one transaction: stored whole or not at all. Any
        name already taken is `ResourceInUse` and nothing is written."""
        name = tuning["HyperParameterTuningJobName"]

        def tx(c: sqlite3.Connection) -> None:
            if c.execute("SELECT 1 FROM tuning_jobs WHERE key=?", (name.lower(),)).fetchone():
                raise ResourceInUse(
                    f"A hyperparameter tuning job with the name, {name}, already exists. "
                    "Choose a different name.")
            for doc in training:
                job = doc["TrainingJobName"]
                if c.execute("SELECT 1 FROM training_jobs WHERE key=?",
                             (job.lower(),)).fetchone():
                    raise ResourceInUse(f"A training job with the name, {job}, already exists.")
            c.execute("INSERT INTO tuning_jobs(key, name, status, creation_time, doc) "
                      "VALUES (?,?,?,?,?)", (name.lower(), name,
                                             tuning["HyperParameterTuningJobStatus"],
                                             tuning["CreationTime"], json.dumps(tuning)))
            columns = ", ".join(c for c, _type in training_index.COLUMNS)
            c.executemany(
                f"INSERT INTO training_jobs(key, name, tuning_key, status, creation_time, doc, "
                f"{columns}) VALUES (?,?,?,?,?,?,{','.join('?' * len(training_index.COLUMNS))})",
                [(d["TrainingJobName"].lower(), d["TrainingJobName"], name.lower(),
                  d["TrainingJobStatus"], d["CreationTime"], json.dumps(d),
                  *training_index.values(self._index, d)) for d in training])
            c.executemany("INSERT INTO metrics(job_key, name, value, ts) VALUES (?,?,?,?)",
                          [(job.lower(), n, v, t) for job, rows in metrics.items()
                           for n, v, t in rows])
            c.executemany("INSERT INTO tags(arn_key, key, value, position) VALUES (?,?,?,?) "
                          "ON CONFLICT(arn_key, key) DO UPDATE SET value=excluded.value",
                          [(arn.lower(), t["Key"], t.get("Value", ""), i)
                           for arn, items in tags.items() for i, t in enumerate(items, 1)])

        self._tx(tx)

    def delete_tuning_job_with_training_jobs(self, name: str, arns: list[str]) -> None:
        """A tuning job, its training jobs, their metric series and the tags of `arns`, in
        one transaction (dropping an imported copy)."""

        def tx(c: sqlite3.Connection) -> None:
            key = name.lower()
            c.execute("DELETE FROM metrics WHERE job_key IN "
                      "(SELECT key FROM training_jobs WHERE tuning_key=?)", (key,))
            c.execute("DELETE FROM training_jobs WHERE tuning_key=?", (key,))
            c.execute("DELETE FROM tuning_jobs WHERE key=?", (key,))
            c.executemany("DELETE FROM tags WHERE arn_key=?", [(a.lower(),) for a in arns])

        self._tx(tx)

    # -- training jobs ---------------------------------------------------------------------
    def insert_training_job(self, doc: Doc, tuning_job: str | None = None) -> None:
        name = doc["TrainingJobName"]

        def tx(c: sqlite3.Connection) -> None:
            existing = c.execute(
                "SELECT doc FROM training_jobs WHERE key=?", (name.lower(),)
            ).fetchone()
            if existing:
                arn = json.loads(existing[0])["TrainingJobArn"]
                raise ResourceInUse(
                    "Training job names must be unique within an AWS account and region, and a "
                    f"training job with this name already exists ({arn})"
                )
            columns = ", ".join(c for c, _type in training_index.COLUMNS)
            c.execute(
                f"INSERT INTO training_jobs(key, name, tuning_key, status, creation_time, doc, "
                f"{columns}) VALUES (?,?,?,?,?,?,{','.join('?' * len(training_index.COLUMNS))})",
                (name.lower(), name, tuning_job.lower() if tuning_job else None,
                 doc["TrainingJobStatus"], doc["CreationTime"], json.dumps(doc),
                 *training_index.values(self._index, doc)),
            )

        self._tx(tx)

    def get_training_job(self, name: str) -> Doc | None:
        rows = self._query("SELECT doc FROM training_jobs WHERE key=?", (name.lower(),))
        return json.loads(rows[0][0]) if rows else None

    def list_training_jobs(
        self, tuning_job: str | None = None, statuses: Iterable[str] | None = None
    ) -> list[Doc]:
        sql, args = "SELECT doc FROM training_jobs WHERE 1=1", []
        if tuning_job is not None:
            sql += " AND tuning_key=?"
            args.append(tuning_job.lower())
        if statuses is not None:
            st = list(statuses)
            sql += f" AND status IN ({','.join('?' * len(st))})"
            args.extend(st)
        rows = self._query(sql + " ORDER BY creation_time, rowid", args)
        return [json.loads(r[0]) for r in rows]

    def count_training_jobs(self, tuning_job: str) -> int:
        return self._query(
            "SELECT COUNT(*) FROM training_jobs WHERE tuning_key=?", (tuning_job.lower(),)
        )[0][0]

    def update_training_job(self, name: str, mutate: Callable[[Doc], None]) -> Doc | None:
        def tx(c: sqlite3.Connection) -> Doc | None:
            row = c.execute("SELECT doc FROM training_jobs WHERE key=?", (name.lower(),)).fetchone()
            if row is None:
                return None
            doc = json.loads(row[0])
            mutate(doc)
            c.execute(
                f"UPDATE training_jobs SET status=?, doc=?, {training_index.ASSIGN} WHERE key=?",
                (doc["TrainingJobStatus"], json.dumps(doc),
                 *training_index.values(self._index, doc), name.lower()),
            )
            return doc

        return self._tx(tx)

    # -- the training-job index (`storage.training_index`) ---------------------------------
    def use_training_index(self, index: TrainingIndex) -> None:
        """Derive the index columns with `index` from now on, and re-derive now the rows
        derived otherwise (another version, or none)."""
        with self._lock:
            self._index = index
            self._tx(lambda c: training_index.reindex(c, index, stale_only=False))

    def _indexed(self, read: Callable[[sqlite3.Connection], Any]) -> Any:
        """`read` of the index columns, after deriving those of rows written without them."""
        with self._lock:
            if self._index is None:
                raise RuntimeError("no training-job index registered (use_training_index)")
            index = self._index
            if training_index.needs_heal(self._conn):
                self._tx(lambda c: training_index.reindex(c, index, stale_only=True))
            return read(self._conn)

    def training_job_counts(self, tuning_job: str | None = None
                            ) -> list[tuple[str, str, str, int]]:
        """(tuning job key, counter, objective status, number of training jobs), of one tuning
        job or of all."""
        key = tuning_job.lower() if tuning_job is not None else None
        return self._indexed(lambda c: training_index.counts(c, key))

    def training_job_aggregate(self, tuning_job: str
                               ) -> tuple[list[tuple[str, str, str, int]], Candidate | None]:
        """A tuning job's counts and best training job, read together (one snapshot)."""
        key = tuning_job.lower()
        return self._indexed(
            lambda c: (training_index.counts(c, key), training_index.best(c, key)))

    def best_training_job(self, tuning_job: str) -> Candidate | None:
        return self._indexed(lambda c: training_index.best(c, tuning_job.lower()))

    def listed_training_jobs(self, tuning_job: str, page: Page | None = None) -> list[ListedRow]:
        return self._indexed(lambda c: training_index.listed(c, tuning_job.lower(), page))

    def set_log_offset(self, name: str, ts: float) -> None:
        self._tx(lambda c: c.execute(
            "UPDATE training_jobs SET log_offset=MAX(log_offset, ?) WHERE key=?", (ts, name.lower())
        ))

    def log_offset(self, name: str) -> float:
        rows = self._query("SELECT log_offset FROM training_jobs WHERE key=?", (name.lower(),))
        return float(rows[0][0]) if rows else 0.0

    # -- metrics ---------------------------------------------------------------------------
    def add_metrics(self, job: str, samples: Iterable[tuple[str, float, float]]) -> None:
        rows = [(job.lower(), n, v, t) for n, v, t in samples]
        if rows:
            self._tx(lambda c: c.executemany(
                "INSERT INTO metrics(job_key, name, value, ts) VALUES (?,?,?,?)", rows
            ))

    def metric_series(self, job: str, name: str) -> list[tuple[float, float]]:
        """[(value, timestamp)] of one metric, in the order observed."""
        rows = self._query(
            "SELECT value, ts FROM metrics WHERE job_key=? AND name=? ORDER BY id",
            (job.lower(), name),
        )
        return [(float(v), float(t)) for v, t in rows]

    def metric_series_since(self, after: dict[str, int], name: str
                            ) -> tuple[dict[str, list[float]], int]:
        """One metric's values of many jobs (job key → values in order), of each job those
        stored after its metric row id `after[job]` (0: all), and the id of the last metric
        row stored, read in one snapshot: asked again from that id, only what was added since
        is returned (a job's rows are only appended, and the ids of an AUTOINCREMENT table
        grow with each insert and are never reused)."""
        out: dict[str, list[float]] = {j.lower(): [] for j in after}
        groups: dict[int, list[str]] = {}
        for job, since in after.items():
            groups.setdefault(since, []).append(job.lower())
        with self._lock:
            for since, keys in groups.items():
                for i in range(0, len(keys), 500):
                    chunk = keys[i:i + 500]
                    for key, value in self._conn.execute(
                            f"SELECT job_key, value FROM metrics WHERE name=? AND id > ? AND "
                            f"job_key IN ({','.join('?' * len(chunk))}) ORDER BY id",
                            [name, since, *chunk]):
                        out[key].append(float(value))
            last = self._conn.execute("SELECT COALESCE(MAX(id), 0) FROM metrics").fetchone()[0]
        return out, last

    def training_job_texts(self, tuning_job: str) -> list[tuple[str, str]]:
        """(key, stored JSON text) of a tuning job's training jobs, in `list_training_jobs`'
        order: for a caller that keeps decoded documents and decodes only a changed text."""
        return [(k, d) for k, d in self._query(
            "SELECT key, doc FROM training_jobs WHERE tuning_key=? ORDER BY creation_time, rowid",
            (tuning_job.lower(),))]

    # -- tags ------------------------------------------------------------------------------
    def add_tags(self, arn: str, tags: list[dict[str, str]]) -> None:
        def tx(c: sqlite3.Connection) -> None:
            top = c.execute(
                "SELECT COALESCE(MAX(position), 0) FROM tags WHERE arn_key=?", (arn.lower(),)
            ).fetchone()[0]
            for i, tag in enumerate(tags, start=1):
                c.execute(
                    "INSERT INTO tags(arn_key, key, value, position) VALUES (?,?,?,?) "
                    "ON CONFLICT(arn_key, key) DO UPDATE SET value=excluded.value",
                    (arn.lower(), tag["Key"], tag.get("Value", ""), top + i),
                )

        self._tx(tx)

    def list_tags(self, arn: str) -> list[dict[str, str]]:
        rows = self._query(
            "SELECT key, value FROM tags WHERE arn_key=? ORDER BY position", (arn.lower(),)
        )
        return [{"Key": k, "Value": v} for k, v in rows]

    def delete_tags(self, arn: str, keys: list[str]) -> None:
        def tx(c: sqlite3.Connection) -> None:
            for key in keys:
                c.execute("DELETE FROM tags WHERE arn_key=? AND key=?", (arn.lower(), key))

        self._tx(tx)
