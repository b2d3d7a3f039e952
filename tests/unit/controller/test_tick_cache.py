"""The reconciler's cache between ticks (`controller.tick`): a tick must always see what is
stored now, whichever path wrote it: the runner's status changes, a user's stop, another
connection to the same state, metric rows appended after the job ended, a restart."""

from __future__ import annotations

from orchestrator.controller.harness import Harness, tuning_request
from orchestrator.controller.records import TrainingRecord, TuningRecord
from orchestrator.controller.tick import Tick, TickCache, _Series
from orchestrator.runner.base import JobSpec
from orchestrator.runner.fake import FakeScript
from orchestrator.storage.db import Store
from orchestrator.strategies.base import Observation


def _script(spec: JobSpec) -> FakeScript:
    return FakeScript(lines=[f"loss={3.0 - e * 0.5}" for e in range(4)])


def _cached_tick(h: Harness, name: str = "tj") -> Tick:
    """The tick the controller itself would read now, through its own cache."""
    return h.tuner._cache.tick(h.store, TuningRecord.of(h.store.get_tuning_job(name)))


def assert_fresh(h: Harness, name: str = "tj") -> Tick:
    """The cached tick equals a tick decoded from scratch: same records, same documents, same
    objective series."""
    tick = _cached_tick(h, name)
    docs = h.store.list_training_jobs(tuning_job=name)
    assert [j.doc for j in tick.jobs] == docs
    assert tick.jobs == [TrainingRecord.of(d) for d in docs]
    for job in tick.jobs:
        stored = tuple(v for v, _ts in h.store.metric_series(job.name, "loss"))
        assert tick.series_of(job) == stored, job.name
    for order, job in enumerate(tick.finished):  # the history strategies read, kept too
        stored = tuple(v for v, _ts in h.store.metric_series(job.name, "loss"))
        fresh = TrainingRecord.of(h.store.get_training_job(job.name))
        for with_series in (True, False):
            assert tick.observation(job, with_series, order) == Observation(
                params=dict(fresh.tuned), value=fresh.succeeded_objective,
                series=stored if with_series else (), status=fresh.status,
                job_name=fresh.name, end_order=order,
                # the launch counter NNN of `<tuning>-NNN-<hex>` (spec §4.5 N1), 0-based
                launch_order=int(fresh.name.split("-")[-2]) - 1), job.name
    return tick


def _started(tmp_path, **config) -> Harness:
    h = Harness(tmp_path, _script)
    h.call("CreateHyperParameterTuningJob", tuning_request(max_jobs=8, parallel=3, **config))
    h.tick()
    h.tick()
    assert_fresh(h)  # the cache now holds every job and series
    return h


def test_cache_follows_the_runner_through_a_whole_tuning_job(tmp_path):
    h = Harness(tmp_path, _script)
    h.call("CreateHyperParameterTuningJob", tuning_request(
        max_jobs=8, parallel=3, TrainingJobEarlyStoppingType="Auto"))
    for _ in range(200):
        h.tick()
        if h.describe()["HyperParameterTuningJobStatus"] != "InProgress":
            break
        assert_fresh(h)
    assert h.describe()["HyperParameterTuningJobStatus"] == "Completed"


def test_a_user_stop_is_seen_on_the_next_tick(tmp_path):
    h = _started(tmp_path)
    running = next(j for j in h.training_jobs() if j["TrainingJobStatus"] == "InProgress")
    h.call("StopTrainingJob", {"TrainingJobName": running["TrainingJobName"]})
    tick = assert_fresh(h)
    stopped = next(j for j in tick.jobs if j.name == running["TrainingJobName"])
    assert stopped.status == "Stopping" and stopped.stop_cause == "user"


def test_a_write_through_another_connection_is_seen(tmp_path):
    h = _started(tmp_path)
    name = h.training_jobs()[0]["TrainingJobName"]
    other = Store(tmp_path / "smlocal.db")  # e.g. another process on the same state dir

    def fail(d):
        d["TrainingJobStatus"] = "Failed"
        d["FailureReason"] = "written elsewhere"

    other.update_training_job(name, fail)
    other.add_metrics(name, [("loss", 0.125, 99.0)])
    tick = assert_fresh(h)
    job = next(j for j in tick.jobs if j.name == name)
    assert job.status == "Failed" and job.doc["FailureReason"] == "written elsewhere"
    assert tick.series_of(job)[-1] == 0.125


def test_metrics_appended_after_a_job_ended_reach_its_series(tmp_path):
    h = _started(tmp_path)
    for _ in range(20):
        h.tick()
        ended = [j for j in h.training_jobs() if j["TrainingJobStatus"] == "Completed"]
        if ended:
            break
    name = ended[0]["TrainingJobName"]
    assert_fresh(h)
    h.store.add_metrics(name, [("loss", 0.25, 100.0)])  # no document change at all
    assert assert_fresh(h).series_of(next(
        j for j in _cached_tick(h).jobs if j.name == name))[-1] == 0.25


def test_a_job_first_listed_after_its_metrics_were_stored_is_read_in_full(tmp_path):
    h = _started(tmp_path)
    keys = [j["TrainingJobName"].lower() for j in h.training_jobs()]
    late = keys.pop()  # its rows are stored, but the reader has not listed it yet
    series = _Series("loss")
    first = series.read(h.store, keys)
    assert late not in first
    h.store.add_metrics(keys[0], [("loss", 9.0, 100.0)])  # moves the last row id on
    both = series.read(h.store, [*keys, late])
    assert both[late] == [v for v, _ts in h.store.metric_series(late, "loss")] != []
    assert both[keys[0]][-1] == 9.0
    assert both[keys[0]].count(9.0) == 1  # nothing read twice


def test_a_restarted_controller_reads_the_stored_state_not_the_old_cache(tmp_path):
    h = _started(tmp_path)
    old = h.tuner._cache
    h.store.close()
    # "kill -9": a new store and controller on the same file, the "containers" live on.
    h2 = Harness(tmp_path, _script, clock=h.clock, store=Store(tmp_path / "smlocal.db"),
                 backend=h.backend)
    assert h2.tuner._cache is not old
    h2.training.recover()
    for _ in range(3):
        h2.tick()
        assert_fresh(h2)
    assert h2.run()["HyperParameterTuningJobStatus"] == "Completed"


def test_a_cache_is_dropped_when_its_tuning_job_ends(tmp_path):
    h = _started(tmp_path)
    assert h.tuner._cache._jobs
    h.call("StopHyperParameterTuningJob", {"HyperParameterTuningJobName": "tj"})
    h.run()
    h.tuner.step()
    assert not h.tuner._cache._jobs


def test_a_new_tuning_job_by_an_old_name_gets_a_new_cache(tmp_path):
    cache = TickCache()
    h = _started(tmp_path)
    tuning = TuningRecord.of(h.store.get_tuning_job("tj"))
    cache.tick(h.store, tuning)
    later = TuningRecord.of({**tuning.doc, "CreationTime": tuning.creation_time + 1})
    cache.keep_only([later])
    assert not cache._jobs
