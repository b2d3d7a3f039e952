"""`smlocal cost`: equal to hand computations for a fixed price table, the shipped table states
its source and date, bad input exits 2 with a message; end to end on the fake-backed app."""

from __future__ import annotations

import datetime as dt
import json
import re

import pytest

from orchestrator.client.cli import main
from orchestrator.client.cost import PriceTable, load_prices, schedule, tuning_job_cost
from orchestrator.client.demo import demo_request
from tests.fake_backed import running_app, step_until
from tests.integration.e2e import clients

T0 = dt.datetime(2026, 12, 1, 6, 0, tzinfo=dt.UTC)
PRICES = PriceTable("test", "2026-12-01", "us-east-1", "USD",
                    {"ml.m5.xlarge": 0.23, "ml.p3.2xlarge": 3.825}, "test")
LOCAL_ARN = "arn:aws:sagemaker:us-east-1:123456789012:hyper-parameter-tuning-job/t"
AWS_ARN = "arn:aws:sagemaker:us-east-1:111122223333:hyper-parameter-tuning-job/t"


def at(seconds: float) -> dt.datetime:
    return T0 + dt.timedelta(seconds=seconds)


def tj(name, created, itype, count, start=None, end=None, **extra) -> dict:
    d = {"TrainingJobName": name, "TrainingJobStatus": "Completed", "CreationTime": at(created),
         "ResourceConfig": {"InstanceType": itype, "InstanceCount": count}, **extra}
    if start is not None:
        d.update(TrainingStartTime=at(start), TrainingEndTime=at(end))
    return d


class StubSageMaker:
    """Describe/List answers as boto3 returns them (datetimes), one page of summaries."""

    def __init__(self, arn: str, jobs: list[dict], parallel: int, end: float = 0,
                 tags: list[dict] | None = None) -> None:
        self.tags = tags or []
        self.tuning = {"HyperParameterTuningJobArn": arn, "CreationTime": T0,
                       "HyperParameterTuningEndTime": at(end),
                       "HyperParameterTuningJobConfig": {"ResourceLimits": {
                           "MaxNumberOfTrainingJobs": len(jobs),
                           "MaxParallelTrainingJobs": parallel}}}
        self.jobs = {j["TrainingJobName"]: j for j in jobs}

    def describe_hyper_parameter_tuning_job(self, HyperParameterTuningJobName):
        return self.tuning

    def list_training_jobs_for_hyper_parameter_tuning_job(self, **kwargs):
        # newest first, as the service lists by default: the cost must re-order by creation
        return {"TrainingJobSummaries": [{"TrainingJobName": n} for n in reversed(self.jobs)]}

    def describe_training_job(self, TrainingJobName):
        return self.jobs[TrainingJobName]

    def list_tags(self, ResourceArn):
        assert ResourceArn == self.tuning["HyperParameterTuningJobArn"]
        return {"Tags": self.tags}


def test_projected_cost_and_wall_time_equal_a_hand_computation():
    sm = StubSageMaker(LOCAL_ARN, [
        tj("a", 0, "ml.m5.xlarge", 1, start=10, end=610),      # 600 s measured
        tj("b", 1, "ml.m5.xlarge", 2, start=11, end=311),      # 300 s, 2 instances
        tj("c", 2, "ml.p3.2xlarge", 1, start=20, end=140),     # 120 s
        tj("d", 3, "ml.m5.xlarge", 1, TrainingJobStatus="Failed")],  # never started
        parallel=2)
    r = tuning_job_cost(sm, "t", PRICES, speed_factor=0.5, startup_seconds=100)
    assert r.kind == "projected"
    assert [j.name for j in r.jobs] == ["a", "b", "c", "d"]
    # a: 300 s × 1 × 0.23 / 3600; b: 150 s × 2 × 0.23 / 3600; c: 60 s × 3.825 / 3600; d: 0
    assert [j.cost for j in r.jobs] == pytest.approx([0.0191666667, 0.0191666667, 0.06375, 0])
    assert r.total == pytest.approx(367.5 / 3600)  # = 0.1020833…
    # durations with start-up: 400, 250, 160, 100 on 2 slots in creation order:
    # a 0-400, b 0-250, c 250-410, d 400-500
    assert r.wall_seconds == 500
    assert r.spot_range == pytest.approx((367.5 / 3600 * 0.1, 367.5 / 3600))
    assert r.as_dict()["usd"] == pytest.approx(0.1020833333)


def test_billed_cost_uses_billable_time_and_reports_the_spot_saving():
    sm = StubSageMaker(AWS_ARN, [
        tj("a", 0, "ml.m5.xlarge", 1, start=60, end=700, BillableTimeInSeconds=600,
           TrainingTimeInSeconds=600),
        tj("b", 5, "ml.p3.2xlarge", 2, start=70, end=1070, BillableTimeInSeconds=300,
           TrainingTimeInSeconds=1000, EnableManagedSpotTraining=True)],
        parallel=2, end=1200)
    r = tuning_job_cost(sm, "t", PRICES, speed_factor=3)  # the speed factor plays no part
    assert r.kind == "billed" and r.startup_seconds == 0
    # a: 600 × 1 × 0.23 / 3600 = 0.038333…; b: 300 × 2 × 3.825 / 3600 = 0.6375
    assert [j.cost for j in r.jobs] == pytest.approx([0.0383333333, 0.6375])
    assert r.total == pytest.approx(0.6758333333)
    assert r.jobs[1].spot_saving == pytest.approx(0.7)  # 1 - 300 / 1000
    assert r.wall_seconds == 1200 and r.spot_range is None


def test_an_imported_job_is_billed_though_its_arn_is_local():
    job = tj("a", 0, "ml.m5.xlarge", 1, start=0, end=100, BillableTimeInSeconds=90)
    imported = StubSageMaker(LOCAL_ARN, [job], 1, tags=[
        {"Key": "smlocal:imported-from", "Value": "https://sagemaker.us-east-1.amazonaws.com"}])
    assert tuning_job_cost(imported, "t", PRICES).kind == "billed"
    assert tuning_job_cost(imported, "t", PRICES).total == pytest.approx(90 * 0.23 / 3600)
    local = StubSageMaker(LOCAL_ARN, [job], 1, tags=[{"Key": "team", "Value": "x"}])
    assert tuning_job_cost(local, "t", PRICES).kind == "projected"


def test_unpriced_instance_types_are_named_and_left_out_of_the_total():
    sm = StubSageMaker(LOCAL_ARN, [tj("a", 0, "ml.m5.xlarge", 1, start=0, end=3600),
                                   tj("b", 1, "ml.trn1.2xlarge", 1, start=0, end=3600)], 1)
    r = tuning_job_cost(sm, "t", PRICES, startup_seconds=0)
    assert r.total == pytest.approx(0.23) and r.unpriced == ["ml.trn1.2xlarge"]
    assert r.jobs[1].cost is None and r.wall_seconds == 7200


def test_schedule_is_first_free_slot_in_order():
    assert schedule([5, 1, 1, 1], 2) == 5
    assert schedule([1, 1, 1], 1) == 3
    assert schedule([], 3) == 0


def test_the_shipped_price_table_states_source_date_region_and_currency():
    table = load_prices()
    assert table.source.startswith("https://aws.amazon.com/sagemaker/pricing/")
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", table.retrieved)
    assert table.region == "us-east-1" and table.currency == "USD"
    assert {"ml.m5.xlarge", "ml.c5.xlarge", "ml.g4dn.xlarge", "ml.g5.xlarge", "ml.p3.2xlarge",
            "ml.p4d.24xlarge"} <= set(table.prices)
    assert all(t.startswith("ml.") and p > 0 for t, p in table.prices.items())


@pytest.mark.parametrize("text, message", [
    ("{", "invalid JSON"), ("[1]", "is a JSON object"),
    ('{"prices": {"ml.m5.xlarge": 1}}', "missing ['source', 'retrieved', 'region', 'currency']"),
    ('{"source": "s", "retrieved": "d", "region": "r", "currency": "USD", "prices": {"x": "1"}}',
     "bad: ['x']"),
    ('{"source": "s", "retrieved": "d", "region": "r", "currency": "USD", "prices": [1]}',
     "'prices' must map")])
def test_malformed_price_files(tmp_path, text, message):
    path = tmp_path / "p.json"
    path.write_text(text)
    with pytest.raises(ValueError, match=re.escape(message)):
        load_prices(str(path))


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    with running_app(tmp_path_factory.mktemp("state")) as app:
        sm, _ = clients(app.url)
        sm.create_hyper_parameter_tuning_job(**demo_request("cost-e2e", "s3://b/d", 3, 2))
        step_until(app, lambda: sm.describe_hyper_parameter_tuning_job(
            HyperParameterTuningJobName="cost-e2e")["HyperParameterTuningJobStatus"]
            == "Completed", "the tuning job to complete")
        yield app


def test_cli_json_equals_the_formula_over_the_described_jobs(app, capsys, tmp_path):
    prices = tmp_path / "p.json"
    prices.write_text(json.dumps({"source": "hand", "retrieved": "2026-12-01",
                                  "region": "us-east-1", "currency": "USD",
                                  "prices": {"ml.m5.large": 36.0}}))  # 1 cent a second
    assert main(["--endpoint", app.url, "cost", "cost-e2e", "--prices", str(prices),
                 "--speed-factor", "2", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    sm, _ = clients(app.url)
    names = [s["TrainingJobName"] for s in sm.list_training_jobs_for_hyper_parameter_tuning_job(
        HyperParameterTuningJobName="cost-e2e")["TrainingJobSummaries"]]
    described = [sm.describe_training_job(TrainingJobName=n) for n in names]
    seconds = [(d["TrainingEndTime"] - d["TrainingStartTime"]).total_seconds()
               for d in described]
    assert len(seconds) == 3 and all(s > 0 for s in seconds)
    assert out["kind"] == "projected" and out["price_date"] == "2026-12-01"
    assert out["total"] == pytest.approx(sum(s * 2 * 0.01 for s in seconds))
    assert out["usd"] == out["total"] and out["max_parallel"] == 2
    assert sorted(j["name"] for j in out["jobs"]) == sorted(names)


def test_cli_table_shows_total_wall_time_and_sources(app, capsys):
    assert main(["--endpoint", app.url, "cost", "cost-e2e"]) == 0
    out = capsys.readouterr().out
    assert "projected SageMaker cost" in out and "total:" in out
    assert "projected wall time with 2 in parallel" in out
    assert "with managed spot" in out and "aws.amazon.com/sagemaker/pricing" in out


def test_cli_bad_input_exits_2_with_a_message(app, capsys, tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text("{")
    cases = [(["cost", "no-such-job"], "ResourceNotFound"),
             (["cost", "cost-e2e", "--prices", str(bad)], "invalid JSON"),
             (["cost", "cost-e2e", "--prices", str(tmp_path / "none.json")], "cannot read"),
             (["cost", "cost-e2e", "--region", "eu-west-1"], "is for us-east-1, not eu-west-1"),
             (["cost", "cost-e2e", "--speed-factor", "0"], "--speed-factor must be > 0")]
    for args, message in cases:
        assert main(["--endpoint", app.url, *args]) == 2, args
        err = capsys.readouterr().err
        assert message in err and "Traceback" not in err, (args, err)
