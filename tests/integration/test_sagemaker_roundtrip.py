"""Issue 11's "Done when" chain in one run, real Docker and two `smlocal serve` processes (B
stands for SageMaker), everything through real boto3 and the real CLI:

1. the gbm example tuned on A (6 jobs, 2 in parallel, cheap ranges);
2. `export --submit --to-endpoint B --copy-data` with ECR/bucket/role mapped; it runs on B on
   B's copy of the data;
3. `import` from B into A (Describe, training jobs and CloudWatch series equal to B's);
4. `compare A_JOB IMPORTED --json` asserted field by field against boto3's answers;
5. `replay IMPORTED --top 5` on A with real containers, correlations against scipy.stats;
6. a local tuning job warm-started from the imported one;
7. `snapshot` on B + `import --bundle --as` equals the direct import;
8. `cost`: projected for A's job, billed for the imported one, against the price table.

This replaces three tests that each tuned gbm on a second server (export/cost, import,
replay); their assertions live here."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import numpy as np
import pytest
from scipy.stats import kendalltau, spearmanr

from orchestrator.client.cli import main
from orchestrator.client.demo import demo_request, upload_example_data
from orchestrator.server_process import ServerProcess
from tests.integration.compare_checks import (
    PRICES,
    billed,
    check_run,
    first_index_within,
    projected,
    renamed,
    value,
)
from tests.integration.e2e import clients, wait_for

# ~19 real training jobs on two servers on a shared, loaded 2-core machine: generous.
pytestmark = [pytest.mark.docker, pytest.mark.slow, pytest.mark.timeout(3600)]
ECR = "111122223333.dkr.ecr.us-east-1.amazonaws.com/smlocal/gbm:latest"  # runs smlocal/gbm
ROLE = "arn:aws:iam::111122223333:role/SageMakerRole"
LOCAL, REMOTE = "e2e-gbm", "e2e-gbm-aws"
REPLAY, WARM, AGAIN = f"{REMOTE}-replay", "e2e-gbm-warm", "e2e-gbm-bundle"
ENDED = ("Completed", "Failed", "Stopped")
MINUTE = dt.timedelta(minutes=1)
WAIT = 1500  # seconds for one tuning job at load 15-25



# -- servers, and nothing left behind --------------------------------------------------------
def _stop_tuning_jobs(url: str) -> None:
    sm, _ = clients(url)
    listed = sm.list_hyper_parameter_tuning_jobs(MaxResults=100)
    for job in listed["HyperParameterTuningJobSummaries"]:
        if job["HyperParameterTuningJobStatus"] == "InProgress":
            sm.stop_hyper_parameter_tuning_job(
                HyperParameterTuningJobName=job["HyperParameterTuningJobName"])
    wait_for(lambda: all(j["HyperParameterTuningJobStatus"] in ENDED for j in
                         sm.list_hyper_parameter_tuning_jobs(MaxResults=100)[
                             "HyperParameterTuningJobSummaries"]),
             timeout=600, every=0.5, what=f"the tuning jobs of {url} to stop")


def _our_containers(docker_client, roots: list[Path]) -> list:
    """Containers whose smlocal.state label is under one of our state dirs."""
    found = docker_client.containers.list(ignore_removed=True, all=True, filters={"label": "smlocal.state"})
    return [c for c in found if any(c.labels["smlocal.state"].startswith(str(r))
                                    for r in roots)]


@pytest.fixture
def servers(tmp_path, gbm_image, docker_client):
    """(A, B): `smlocal serve` processes with the Docker backend. Teardown, even after a failed
    assertion: stop every running tuning job (containers outlive a stopped server), stop the
    servers, then remove and report any container of ours still there."""
    roots = [tmp_path / "a", tmp_path / "b"]
    started: list[ServerProcess] = []
    try:
        for root in roots:
            root.mkdir()
            started.append(ServerProcess(root / "state", SMLOCAL_BACKEND="docker"))
        yield started
    finally:
        problems = []
        for server in started:
            try:
                if server.alive():
                    _stop_tuning_jobs(server.url)
            except Exception as exc:  # noqa: BLE001 - clean the other server all the same
                problems.append(f"{server.url}: {exc}")
            server.stop()
        left = _our_containers(docker_client, roots)
        for c in left:
            c.remove(force=True)
        problems += [f"container left behind: {c.name}" for c in left]
        assert not problems, problems


# -- reading through boto3 -------------------------------------------------------------------
def describe(sm, name: str) -> dict:
    answer = sm.describe_hyper_parameter_tuning_job(HyperParameterTuningJobName=name)
    return {k: v for k, v in answer.items() if k != "ResponseMetadata"}


def status(sm, name: str) -> str:
    return describe(sm, name)["HyperParameterTuningJobStatus"]


def wait_ended(sm, name: str, where: str) -> dict:
    wait_for(lambda: status(sm, name) in ENDED, timeout=WAIT, every=0.5,
             what=f"tuning job {name} on {where}")
    return describe(sm, name)


def summaries(sm, name: str) -> list[dict]:
    """Training job summaries in creation order (compare's index order)."""
    out = sm.list_training_jobs_for_hyper_parameter_tuning_job(
        HyperParameterTuningJobName=name, MaxResults=100)["TrainingJobSummaries"]
    return sorted(out, key=lambda s: (s["CreationTime"], s["TrainingJobName"]))


def described_jobs(sm, name: str) -> list[dict]:
    return [{k: v for k, v in sm.describe_training_job(TrainingJobName=s["TrainingJobName"])
             .items() if k != "ResponseMetadata"} for s in summaries(sm, name)]


def series(url: str, job: dict) -> list[dict]:
    import boto3

    cw = boto3.client("cloudwatch", endpoint_url=url, region_name="us-east-1",
                      aws_access_key_id="x", aws_secret_access_key="x")
    return cw.get_metric_data(MetricDataQueries=[{"Id": "l", "MetricStat": {"Metric": {
        "Namespace": "/aws/sagemaker/TrainingJobs", "MetricName": "validation:logloss",
        "Dimensions": [{"Name": "TrainingJobName", "Value": job["TrainingJobName"]}]},
        "Period": 1, "Stat": "Average"}}], StartTime=job["CreationTime"] - MINUTE,
        EndTime=job["LastModifiedTime"] + MINUTE,  # EndTime is exclusive: the last second too
        ScanBy="TimestampAscending")["MetricDataResults"]


def cli(capsys, *args: str) -> tuple[int, str, str]:
    capsys.readouterr()
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def cheap_request(name: str, data_uri: str, jobs: int, parallel: int) -> dict:
    """The demo's request with ranges that keep each job to seconds; learning_rate stays
    continuous (distinct objectives) and max_iter >= 10 (eval_every 10: a learning curve)."""
    request = demo_request(name, data_uri, jobs, parallel)
    ranges = request["HyperParameterTuningJobConfig"]["ParameterRanges"]
    for r in ranges["IntegerParameterRanges"]:
        if r["Name"] == "max_iter":
            r.update(MinValue="10", MaxValue="40")
        elif r["Name"] == "max_depth":
            r.update(MinValue="1", MaxValue="3")
    return request


def copy_objects(src_s3, dst_s3, bucket: str, prefix: str) -> None:
    """What a user does before replaying an AWS job here: its data under the same URIs."""
    dst_s3.create_bucket(Bucket=bucket)
    for o in src_s3.list_objects_v2(Bucket=bucket, Prefix=prefix)["Contents"]:
        body = src_s3.get_object(Bucket=bucket, Key=o["Key"])["Body"].read()
        dst_s3.put_object(Bucket=bucket, Key=o["Key"], Body=body)


# -- the chain -------------------------------------------------------------------------------
def test_tune_export_import_compare_replay_warm_start_snapshot_cost(servers, tmp_path,
                                                                    monkeypatch, capsys):
    a, b = servers
    sm_a, s3_a = clients(a.url)
    sm_b, s3_b = clients(b.url)

    # 1. tune on A
    data_uri = upload_example_data(s3_a)
    sm_a.create_hyper_parameter_tuning_job(**cheap_request(LOCAL, data_uri, 6, 2))
    assert wait_ended(sm_a, LOCAL, "A")["HyperParameterTuningJobStatus"] == "Completed"

    # 2. export it to B ("AWS"), data copied, and let it run there
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "x")  # the target's own credential chain
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "x")
    code, out, err = cli(capsys, "--endpoint", a.url, "export", LOCAL,
                         "--image", f"smlocal/gbm:latest={ECR}",
                         "--bucket", "smlocal-demo=aws-bucket/amt", "--role-arn", ROLE,
                         "--name", REMOTE, "--submit", "--to-endpoint", b.url, "--copy-data")
    assert code == 0, err
    assert out.strip().endswith(f"hyper-parameter-tuning-job/{REMOTE}")
    theirs = wait_ended(sm_b, REMOTE, "B")
    assert theirs["HyperParameterTuningJobStatus"] == "Completed", b.log()[-3000:]
    on_b = described_jobs(sm_b, REMOTE)
    assert len(on_b) == 6
    for d in on_b:
        assert d["TrainingJobStatus"] == "Completed"
        assert d["AlgorithmSpecification"]["TrainingImage"] == ECR
        assert d["RoleArn"] == ROLE
        assert [c["DataSource"]["S3DataSource"]["S3Uri"] for c in d["InputDataConfig"]] == [
            "s3://aws-bucket/amt/gbm/data/train/", "s3://aws-bucket/amt/gbm/data/validation/"]
        assert d["ModelArtifacts"]["S3ModelArtifacts"].startswith("s3://aws-bucket/amt/gbm/")
        assert any(m["MetricName"] == "validation:logloss" for m in d["FinalMetricDataList"])
    keys = {o["Key"] for o in s3_b.list_objects_v2(Bucket="aws-bucket",
                                                   Prefix="amt/gbm/data/")["Contents"]}
    assert keys == {"amt/gbm/data/train/train.csv", "amt/gbm/data/validation/validation.csv"}

    # 3. import it from B into A: the same answers, learning curves included
    code, out, err = cli(capsys, "--endpoint", a.url, "import", REMOTE, "--from-endpoint", b.url)
    assert code == 0, err
    assert "metric samples from CloudWatch" in err and f"imported {REMOTE}" in out
    assert describe(sm_a, REMOTE) == theirs
    assert summaries(sm_a, REMOTE) == summaries(sm_b, REMOTE)
    imported = described_jobs(sm_a, REMOTE)
    assert imported == on_b
    for job in imported:
        here, there = series(a.url, job), series(b.url, job)
        assert here == there and here[0]["Values"], job["TrainingJobName"]
    # Not asserted: more than one point per job. A job's lines print within a second when the
    # machine is idle and period-1 averages merge them (the test this replaces failed so);
    # whole curves are checked exactly in test_import_servers.py (fake engine, paced lines).

    # 6 (started now, runs beside the replay). A local job warm-started from the imported one.
    warm = cheap_request(WARM, data_uri, 2, 2)
    warm["WarmStartConfig"] = {"WarmStartType": "IdenticalDataAndAlgorithm",
                               "ParentHyperParameterTuningJobs": [
                                   {"HyperParameterTuningJobName": REMOTE}]}
    sm_a.create_hyper_parameter_tuning_job(**warm)

    # 8. cost: projected for A's own job, billed on B and for the imported job on A
    mine_jobs, remote_jobs = summaries(sm_a, LOCAL), summaries(sm_a, REMOTE)
    assert PRICES["source"] and PRICES["retrieved"] and PRICES["region"] == "us-east-1"
    local_cost, remote_cost = projected(described_jobs(sm_a, LOCAL)), billed(imported)
    code, out, err = cli(capsys, "--endpoint", a.url, "cost", LOCAL, "--json")
    assert code == 0, err
    cost = json.loads(out)
    assert cost["kind"] == "projected" and cost["total"] == pytest.approx(
        sum(local_cost.values()))
    for flags, url in ((["--billed"], b.url), ([], a.url)):  # imported: billed by default
        code, out, err = cli(capsys, "--endpoint", url, "cost", REMOTE, "--json", *flags)
        assert code == 0, err
        cost = json.loads(out)
        assert cost["kind"] == "billed" and cost["price_date"] == PRICES["retrieved"]
        assert {j["name"]: j["cost"] for j in cost["jobs"]} == {
            k: pytest.approx(v) for k, v in remote_cost.items()}
        assert cost["total"] == pytest.approx(sum(remote_cost.values()))

    # 4. compare, field by field against boto3's answers
    code, out, err = cli(capsys, "--endpoint", a.url, "compare", LOCAL, REMOTE, "--json")
    assert code == 0, err
    cmp = json.loads(out)
    mine_d, theirs_d = describe(sm_a, LOCAL), describe(sm_a, REMOTE)
    by_name = {r["name"]: r for r in cmp["runs"]}
    check_run(by_name[LOCAL], mine_d, mine_jobs, local_cost, "projected")
    check_run(by_name[REMOTE], theirs_d, remote_jobs, remote_cost, "billed")
    assert cmp["same_objective"] is True
    mine_v, theirs_v = [value(s) for s in mine_jobs], [value(s) for s in remote_jobs]
    assert cmp["jobs_to_reach"] == {
        LOCAL: {REMOTE: first_index_within(mine_v, min(theirs_v))},
        REMOTE: {LOCAL: first_index_within(theirs_v, min(mine_v))}}
    differences = {d["path"]: d["values"] for d in cmp["request_differences"]}
    definition = "TrainingJobDefinition."
    assert differences[definition + "AlgorithmSpecification.TrainingImage"] == {
        LOCAL: "smlocal/gbm:latest", REMOTE: ECR}
    assert differences[definition + "RoleArn"] == {
        LOCAL: mine_d["TrainingJobDefinition"]["RoleArn"], REMOTE: ROLE}
    for channel in ("train", "validation"):
        path = f"{definition}InputDataConfig[{channel}].DataSource.S3DataSource.S3Uri"
        assert differences[path] == {LOCAL: f"{data_uri}/{channel}/",
                                     REMOTE: f"s3://aws-bucket/amt/gbm/data/{channel}/"}
    assert not [p for p in differences if "ParameterRanges" in p or "Objective" in p
                or "ResourceLimits" in p]  # the tuning config travelled unchanged

    # 7. snapshot on B + import --bundle --as equals the direct import
    bundle = tmp_path / "bundle.json"
    code, _, err = cli(capsys, "--endpoint", a.url, "snapshot", REMOTE, "-o", str(bundle),
                       "--from-endpoint", b.url)
    assert code == 0, err
    code, _, err = cli(capsys, "--endpoint", a.url, "import", "--bundle", str(bundle),
                       "--as", AGAIN)
    assert code == 0, err
    again_jobs = summaries(sm_a, AGAIN)
    assert len(again_jobs) == len(remote_jobs)
    # names (and the ARNs and S3 keys holding them) of both copies as placeholders
    names = {REMOTE: "<tuning>", AGAIN: "<tuning>"}
    for i, (s, t) in enumerate(zip(remote_jobs, again_jobs, strict=True)):
        names |= {s["TrainingJobName"]: f"<job{i}>", t["TrainingJobName"]: f"<job{i}>"}
    assert renamed(describe(sm_a, AGAIN), names) == renamed(theirs_d, names)
    for mine, direct in zip(renamed(described_jobs(sm_a, AGAIN), names),
                            renamed(imported, names), strict=True):
        assert mine == direct, {k: (mine.get(k), direct.get(k)) for k in mine | direct
                                if mine.get(k) != direct.get(k)}
    for job, job_again in zip(imported, described_jobs(sm_a, AGAIN), strict=True):
        assert series(a.url, job_again)[0]["Values"] == series(a.url, job)[0]["Values"]

    # 5. replay the imported job's 5 best on A, with its data under the same URIs here
    copy_objects(s3_b, s3_a, "aws-bucket", "amt/gbm/data/")
    code, out, err = cli(capsys, "--endpoint", a.url, "replay", REMOTE, "--top", "5",
                         "--parallel", "2", "--json")
    assert code == 0, err[-3000:]
    result = json.loads(out)
    assert result["replay"] == REPLAY and status(sm_a, REPLAY) == "Completed"
    ranked = sorted(enumerate(remote_jobs), key=lambda iv: (value(iv[1]), iv[0]))
    remote = [s for _, s in ranked][:5]
    local = summaries(sm_a, REPLAY)
    assert [s["TunedHyperParameters"] for s in local] == [
        s["TunedHyperParameters"] for s in remote]  # the same configurations, in that order
    r, m = [value(s) for s in remote], [value(s) for s in local]
    rows = result["configurations"]
    assert [x["remote_training_job"] for x in rows] == [s["TrainingJobName"] for s in remote]
    assert [x["local_training_job"] for x in rows] == [s["TrainingJobName"] for s in local]
    assert [x["remote_objective"] for x in rows] == r
    assert [x["local_objective"] for x in rows] == m
    assert [x["difference"] for x in rows] == [pytest.approx(y - x)
                                               for x, y in zip(r, m, strict=True)]
    assert result["pairs"] == 5
    assert result["spearman"] == pytest.approx(spearmanr(r, m).statistic)
    assert result["kendall"] == pytest.approx(kendalltau(r, m).statistic)
    assert result["best_same"] is (int(np.argmin(r)) == int(np.argmin(m)))
    code, out, err = cli(capsys, "--endpoint", a.url, "compare", REMOTE, REPLAY, "--json")
    assert code == 0, err
    replay_cmp = json.loads(out)
    assert {d["path"]: d["values"] for d in replay_cmp["request_differences"]}[
        "HyperParameterTuningJobConfig.ResourceLimits.MaxNumberOfTrainingJobs"] == {
        REMOTE: 6, REPLAY: 5}
    cmp = {x["name"]: x for x in replay_cmp["runs"]}
    assert cmp[REMOTE]["best"]["value"] == min(theirs_v)
    assert cmp[REPLAY]["best"]["value"] == min(m)
    assert (cmp[REMOTE]["jobs"], cmp[REPLAY]["jobs"]) == (6, 5)

    # 6 (end). The warm-started job completed, continuing from the imported one's results
    d = wait_ended(sm_a, WARM, "A")
    assert d["HyperParameterTuningJobStatus"] == "Completed"
    assert d["WarmStartConfig"] == warm["WarmStartConfig"]
    assert len(summaries(sm_a, WARM)) == 2  # its own jobs; the parent's are not re-run
    parent_best = theirs_d["BestTrainingJob"]
    own = d["BestTrainingJob"]["FinalHyperParameterTuningJobObjectiveMetric"]["Value"]
    overall = d["OverallBestTrainingJob"]
    assert overall["FinalHyperParameterTuningJobObjectiveMetric"]["Value"] == min(
        own, min(theirs_v))
    if min(theirs_v) < own:
        assert overall["TrainingJobName"] == parent_best["TrainingJobName"]
