"""The store's training-job index equals what the documents say, whatever happened to them.

Describe and List of a tuning job read counters, the best job and summaries from index columns
written with each training job (`controller.job_index`, `storage.training_index`) instead of
recomputing them from every document. These tests hold the two equal: random sequences of
inserts and updates (status changes, metric values, early stops, failures of both kinds,
ties), store restarts, rows written without the index or by another index version, and a
writer killed with SIGKILL in the middle of its writes.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from orchestrator.controller import describe, job_index
from orchestrator.controller.listing import list_page, name_key
from orchestrator.storage.db import Store

ROOT = Path(__file__).resolve().parents[3]
TUNING = ("tj-a", "TJ-b")  # names are case-insensitive: the index keys by lower case
STATUSES = ("InProgress", "Stopping", "Completed", "Failed", "Stopped")


def make_doc(name: str, tuning: str | None, created: float, index: int, maximize: bool,
             definition: str | None) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "TrainingJobName": name, "TrainingJobStatus": "InProgress",
        "TrainingJobArn": f"arn:aws:sagemaker:us-east-1:123456789012:training-job/{name}",
        "SecondaryStatus": "Starting", "CreationTime": created, "LastModifiedTime": created,
        "HyperParameters": {"lr": str(index / 10)},
    }
    if tuning is not None:
        doc.update(_TuningJobName=tuning, _TunedHyperParameters={"lr": str(index / 10)},
                   _ObjectiveMetric="loss", _ObjectiveType="Maximize" if maximize else "Minimize",
                   _LaunchIndex=index, TuningJobArn=f"arn:tuning/{tuning}")
        if definition is not None:
            doc["_DefinitionName"] = definition
    return doc


def mutation(kind: str, value: float, now: float):
    """A change a training job's document may undergo (any order: the index is a pure
    function of the document, so impossible sequences test it as well as possible ones)."""

    def mutate(d: dict[str, Any]) -> None:
        d["LastModifiedTime"] = now
        if kind == "metric":  # a new last value of the objective (spec §3.1 R8)
            final = {m["MetricName"]: m for m in d.get("FinalMetricDataList", [])}
            final["loss"] = {"MetricName": "loss", "Value": value, "Timestamp": now}
            d["FinalMetricDataList"] = list(final.values())
        elif kind == "other-metric":
            d.setdefault("FinalMetricDataList", []).append(
                {"MetricName": "acc", "Value": value, "Timestamp": now})
        elif kind in ("internal", "algorithm"):
            d.update(TrainingJobStatus="Failed", _FailureKind=kind, FailureReason=kind,
                     TrainingEndTime=now)
        elif kind == "early-stop":
            d.update(TrainingJobStatus="Stopped", _StopCause="early-stopping",
                     TrainingEndTime=now)
        elif kind == "restart":  # a retried job runs again (RetryStrategy)
            d.update(TrainingJobStatus="InProgress")
            d.pop("FailureReason", None)
            d.pop("_FailureKind", None)
        else:
            d["TrainingJobStatus"] = kind
            if kind in ("Completed", "Stopped"):
                d["TrainingEndTime"] = now

    return mutate


def assert_index_matches(store: Store) -> None:
    counts = job_index.counters_of(store.training_job_counts())
    for tuning in TUNING:
        docs = store.list_training_jobs(tuning_job=tuning)
        expected = job_index.recomputed(docs)
        assert job_index.stored(store, tuning) == expected
        if docs:
            assert counts[tuning.lower()] == expected.counters
        assert store.best_training_job(tuning) == expected.best
        rows = store.listed_training_jobs(tuning)
        summaries = [describe.training_summary(d, True) for d in docs]
        assert [r.summary() for r in rows] == summaries
        assert [(r.name, r.status, r.creation_time) for r in rows] == [
            (s["TrainingJobName"], s["TrainingJobStatus"], s["CreationTime"]) for s in summaries]
        assert [r.final_objective for r in rows] == [
            s.get("FinalHyperParameterTuningJobObjectiveMetric", {}).get("Value")
            for s in summaries]


def open_store(path: Path) -> Store:
    store = Store(path)
    store.use_training_index(job_index.TRAINING_INDEX)
    return store


_job = st.tuples(st.sampled_from((*TUNING, None)), st.sampled_from((1.0, 2.0, 2.0, 3.5)),
                 st.integers(0, 3), st.booleans(), st.sampled_from((None, "alpha", "beta")))
_change = st.tuples(st.sampled_from(("metric", "metric", "other-metric", "internal",
                                     "algorithm", "early-stop", "restart", *STATUSES)),
                    st.sampled_from((0.25, 0.5, 0.5, -1.0, 3.0, 1e-9)))
_step = st.one_of(st.tuples(st.just("insert"), _job),
                  st.tuples(st.just("update"), st.integers(0, 30), _change),
                  st.tuples(st.just("reopen")), st.tuples(st.just("forget")))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_step, min_size=1, max_size=40))
def test_index_equals_the_documents_after_any_writes_and_restarts(steps):
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "smlocal.db"
        store, names, now = open_store(path), [], 10.0
        for step in steps:
            now += 1
            if step[0] == "insert":
                tuning, created, index, maximize, definition = step[1]
                name = f"job-{len(names)}"
                store.insert_training_job(make_doc(name, tuning, created, index, maximize,
                                                   definition), tuning_job=tuning)
                names.append(name)
            elif step[0] == "update" and names:
                kind, value = step[2]
                store.update_training_job(names[step[1] % len(names)],
                                          mutation(kind, value, now))
            elif step[0] == "reopen":  # a restart: the index is what was committed
                store.close()
                store = open_store(path)
            elif step[0] == "forget":  # rows of an older smlocal, or written without the index
                with store._lock:
                    store._conn.execute("UPDATE training_jobs SET counter='x', loss=-99, "
                                        "summary='{}', index_version=NULL WHERE rowid % 2 = 0")
                    store._conn.execute("UPDATE training_jobs SET counter='y', "
                                        "index_version=0 WHERE rowid % 2 = 1")
                store.close()
                store = open_store(path)
            assert_index_matches(store)
        store.close()


def test_rows_written_without_the_index_are_derived_before_they_are_read(tmp_path):
    store = open_store(tmp_path / "smlocal.db")
    doc = make_doc("tj-a-001-x", "tj-a", 5.0, 1, False, None)
    doc.update(TrainingJobStatus="Completed",
               FinalMetricDataList=[{"MetricName": "loss", "Value": 0.5, "Timestamp": 6.0}])
    with store._lock:  # as a writer that knows nothing of the index would
        store._conn.execute(
            "INSERT INTO training_jobs(key, name, tuning_key, status, creation_time, doc) "
            "VALUES (?,?,?,?,?,?)", ("tj-a-001-x", "tj-a-001-x", "tj-a", "Completed", 5.0,
                                     json.dumps(doc)))
    aggregates = job_index.stored(store, "tj-a")
    assert aggregates.status_counters["Completed"] == 1
    assert aggregates.best is not None and aggregates.best.summary["TrainingJobName"] == \
        "tj-a-001-x"
    assert_index_matches(store)


def test_a_state_dir_from_before_the_index_is_indexed_when_opened(tmp_path):
    """A training_jobs table without the index columns (smlocal before them) gets them, and
    its rows are derived from their documents."""
    path = tmp_path / "smlocal.db"
    doc = make_doc("tj-a-001-x", "tj-a", 5.0, 1, True, None)
    doc.update(TrainingJobStatus="Stopped", _StopCause="early-stopping",
               FinalMetricDataList=[{"MetricName": "loss", "Value": 0.7, "Timestamp": 6.0}])
    conn = sqlite3.connect(path)
    conn.executescript("""
        CREATE TABLE training_jobs (key TEXT PRIMARY KEY, name TEXT NOT NULL, tuning_key TEXT,
            status TEXT NOT NULL, creation_time REAL NOT NULL,
            log_offset REAL NOT NULL DEFAULT 0, doc TEXT NOT NULL);
        CREATE INDEX training_by_tuning ON training_jobs(tuning_key, creation_time);""")
    conn.execute("INSERT INTO training_jobs(key, name, tuning_key, status, creation_time, doc) "
                 "VALUES (?,?,?,?,?,?)", ("tj-a-001-x", "tj-a-001-x", "tj-a", "Stopped", 5.0,
                                          json.dumps(doc)))
    conn.commit()
    conn.close()
    store = open_store(path)
    aggregates = job_index.stored(store, "tj-a")
    assert aggregates.status_counters["Stopped"] == 1
    assert aggregates.objective_counters["Succeeded"] == 1
    assert aggregates.best is not None and aggregates.best.loss == -0.7  # maximized
    assert_index_matches(store)


def test_best_job_ties_and_parents_follow_describe_best_job_order(tmp_path):
    """Equal losses: the earliest created wins, then the lowest launch index, then the first
    stored; across a warm start's parents, the own job before the parents' in their order."""
    store = open_store(tmp_path / "smlocal.db")
    for name, tuning, created, index in [("a-3", "tj-a", 2.0, 3), ("a-2", "tj-a", 2.0, 2),
                                         ("a-2b", "tj-a", 2.0, 2), ("b-1", "TJ-b", 1.0, 1),
                                         ("b-9", "TJ-b", 2.0, 2)]:
        store.insert_training_job(make_doc(name, tuning, created, index, False, None),
                                  tuning_job=tuning)
        store.update_training_job(name, mutation("metric", 0.5, 9.0))
        store.update_training_job(name, mutation("Completed", 0.0, 9.0))
    own, parent = store.best_training_job("tj-a"), store.best_training_job("tj-b")
    assert own is not None and own.summary["TrainingJobName"] == "a-2"
    assert parent is not None and parent.summary["TrainingJobName"] == "b-1"
    docs = store.list_training_jobs("tj-a") + store.list_training_jobs("tj-b")
    expected = describe.best_job(docs)
    assert expected is not None
    best = job_index.overall_best([own, parent])
    assert best is not None and best.summary["TrainingJobName"] == expected.name == "b-1"
    # Without the earlier parent job, the own job wins the tie with the later one (b-9).
    store.update_training_job("b-1", mutation("algorithm", 0.0, 10.0))
    parent = store.best_training_job("tj-b")
    best = job_index.overall_best([own, parent])
    assert best is not None and best.summary["TrainingJobName"] == "a-2"
    assert describe.best_job(store.list_training_jobs("tj-a") + store.list_training_jobs(
        "tj-b")).name == "a-2"


def fill_listed(store: Store, name_of: Callable[[int], str]) -> None:
    """23 training jobs of tj-a: equal creation times, equal objectives, every status."""
    for i in range(23):
        name = name_of(i)
        store.insert_training_job(make_doc(name, "tj-a", float(i % 4), i % 3, False, None),
                                  tuning_job="tj-a")
        for kind, value in [("metric", (i * 7) % 5 / 4), (STATUSES[i % 5], 0.0)][: 1 + i % 2]:
            store.update_training_job(name, mutation(kind, value, 30.0 + i))


def test_list_page_from_the_index_equals_the_page_from_the_documents(tmp_path):
    """ListTrainingJobsForHyperParameterTuningJob's selection, order and pages: the index's
    rows give what the summaries of every document gave."""
    store = open_store(tmp_path / "smlocal.db")
    fill_listed(store, lambda i: f"tj-a-{i % 7:03d}-{i}")
    objective = "FinalHyperParameterTuningJobObjectiveMetric"
    for sort_by in (None, "Name", "CreationTime", "Status", "FinalObjectiveMetricValue"):
        for extra in ({}, {"SortOrder": "Descending"}, {"NameContains": "-00"},
                      {"StatusEquals": "Completed"}, {"MaxResults": 4, "NextToken": None}):
            request = {"SortBy": sort_by, **extra}
            summaries = [describe.training_summary(d) for d in
                         store.list_training_jobs(tuning_job="tj-a")]
            rows = store.listed_training_jobs("tj-a")
            if sort_by == "FinalObjectiveMetricValue":
                summaries = [s for s in summaries if objective in s]
                rows = [r for r in rows if r.final_objective is not None]
            expected, _ = list_page(
                summaries, request, default_sort_by="Name",
                sort_keys={"Name": lambda s: name_key(s["TrainingJobName"]),
                           "CreationTime": lambda s: s["CreationTime"],
                           "Status": lambda s: s["TrainingJobStatus"],
                           "FinalObjectiveMetricValue": lambda s: s[objective]["Value"]},
                name=lambda s: s["TrainingJobName"], status=lambda s: s["TrainingJobStatus"])
            got, _ = list_page(
                rows, request, default_sort_by="Name",
                sort_keys={"Name": lambda r: name_key(r.name),
                           "CreationTime": lambda r: r.creation_time,
                           "Status": lambda r: r.status,
                           "FinalObjectiveMetricValue": lambda r: r.final_objective},
                name=lambda r: r.name, status=lambda r: r.status)
            assert [describe.for_definitions(r.summary(), False) for r in got] == expected


def test_sql_pages_equal_the_pages_of_the_sorted_documents(tmp_path):
    """`job_index.training_page` (selection, order and cut by SQL) walks the same pages as
    `list_page` over every document's summary: mixed-case names, equal creation times and
    objectives, every SortBy in both orders, StatusEquals, page sizes, NextToken."""
    store = open_store(tmp_path / "smlocal.db")
    fill_listed(store, lambda i: f"{'TJ' if i % 3 else 'tj'}-a-{i % 7:03d}-{i}")
    store.insert_training_job(make_doc("other-1", "tj-b", 0.0, 0, False, None), "tj-b")
    objective = "FinalHyperParameterTuningJobObjectiveMetric"
    summaries = [describe.training_summary(d) for d in store.list_training_jobs(tuning_job="tj-a")]
    for sort_by in (None, "Name", "CreationTime", "Status", "FinalObjectiveMetricValue"):
        for extra in ({}, {"SortOrder": "Descending"}, {"StatusEquals": "Completed"},
                      {"SortOrder": "Descending", "StatusEquals": "InProgress"},
                      {"StatusEquals": "Stopping"}):
            for size in (None, 1, 4, 100):
                request: dict[str, Any] = {"SortBy": sort_by, "MaxResults": size, **extra}
                listed = ([s for s in summaries if objective in s]
                          if sort_by == "FinalObjectiveMetricValue" else summaries)
                expected, got, token = [], [], None
                while True:  # every page of both, token by token
                    page, next_token = list_page(
                        listed, {**request, "NextToken": token}, default_sort_by="Name",
                        sort_keys={"Name": lambda s: name_key(s["TrainingJobName"]),
                                   "CreationTime": lambda s: s["CreationTime"],
                                   "Status": lambda s: s["TrainingJobStatus"],
                                   "FinalObjectiveMetricValue": lambda s: s[objective]["Value"]},
                        name=lambda s: s["TrainingJobName"],
                        status=lambda s: s["TrainingJobStatus"])
                    rows, sql_token = job_index.training_page(store, "TJ-A",
                                                              {**request, "NextToken": token})
                    assert sql_token == next_token, (request, token)
                    expected.append(page)
                    got.append([describe.for_definitions(r.summary(), False) for r in rows])
                    if next_token is None:
                        break
                    token = next_token
                assert got == expected, request
                assert sum(len(p) for p in got) == len(
                    [s for s in listed if extra.get("StatusEquals") in
                     (None, s["TrainingJobStatus"])])


_WRITER = textwrap.dedent("""
    import random, sys
    sys.path.insert(0, sys.argv[2])
    from tests.unit.controller.test_job_index import make_doc, mutation, open_store, TUNING
    store, rng, names = open_store(sys.argv[1]), random.Random(7), []
    kinds = ["metric", "metric", "internal", "algorithm", "early-stop", "restart", "Completed"]
    for i in range(100000):
        if not names or rng.random() < 0.3:
            name, tuning = f"job-{i}", rng.choice(TUNING)
            store.insert_training_job(make_doc(name, tuning, float(i % 5), i % 4, False, None),
                                      tuning_job=tuning)
            names.append(name)
        else:
            store.update_training_job(rng.choice(names), mutation(
                rng.choice(kinds), rng.choice([0.1, 0.5, 2.0]), float(i)))
""")


def test_index_survives_kill_9_of_the_writer(tmp_path):
    """SIGKILL in the middle of writes: on reopening, every committed document and its index
    columns agree (they are written in one transaction)."""
    path = tmp_path / "smlocal.db"
    writer = subprocess.Popen([sys.executable, "-c", _WRITER, str(path), str(ROOT)],
                              stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 120
        while True:
            assert writer.poll() is None, writer.stderr.read().decode() if writer.stderr else ""
            if path.exists():
                probe = Store(path)
                written = len(probe.list_training_jobs())
                probe.close()
                if written >= 150:
                    break
            assert time.monotonic() < deadline, "the writer wrote too little in 120 s"
            time.sleep(0.1)
    finally:
        os.kill(writer.pid, signal.SIGKILL)
        writer.wait(timeout=30)
    store = open_store(path)
    assert len(store.list_training_jobs()) >= 150
    assert_index_matches(store)
    store.close()


def test_two_processes_opening_a_new_state_at_once_both_migrate(tmp_path):
    """Two connections add the index columns at the same time (in CI: a test's probe opened
    the state while the writer was creating it, and its ALTER TABLE failed with "duplicate
    column name"). Connection B holds the write lock while A starts its migration; once A is
    waiting, B adds the columns and commits. A must then find them and add nothing."""
    import threading

    from orchestrator.storage import training_index

    path = tmp_path / "smlocal.db"
    Store(path).close()
    setup = sqlite3.connect(path)  # the columns as a state made before they existed
    setup.execute("DROP TABLE training_jobs")
    setup.execute("CREATE TABLE training_jobs (key TEXT PRIMARY KEY, name TEXT, tuning_key TEXT,"
                  " status TEXT, creation_time REAL, doc TEXT)")
    setup.commit()
    setup.close()
    b = sqlite3.connect(path, isolation_level=None)
    a = sqlite3.connect(path, isolation_level=None, timeout=30, check_same_thread=False)
    started: list[str] = []
    a.set_trace_callback(started.append)
    errors: list[BaseException] = []

    def migrate_a() -> None:
        try:
            training_index.migrate(a)
        except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)

    b.execute("BEGIN IMMEDIATE")
    thread = threading.Thread(target=migrate_a)
    thread.start()
    deadline = time.monotonic() + 10
    # A waits for the lock at its first write: BEGIN IMMEDIATE (or, unguarded, ALTER TABLE)
    while not any(s.startswith(("BEGIN IMMEDIATE", "ALTER TABLE")) for s in started):
        assert time.monotonic() < deadline, started
        time.sleep(0.01)
    for name, sql_type in training_index.COLUMNS:
        b.execute(f"ALTER TABLE training_jobs ADD COLUMN {name} {sql_type}")
    b.execute("COMMIT")
    thread.join(30)
    assert not thread.is_alive() and errors == []
    columns = [row[1] for row in b.execute("PRAGMA table_info(training_jobs)")]
    assert columns == ["key", "name", "tuning_key", "status", "creation_time", "doc"] + [
        name for name, _ in training_index.COLUMNS]
    a.close()
    b.close()
