"""`smlocal import` / `smlocal snapshot` (issue 11 item 2) between real smlocal apps on the fake
backend: a tuning job runs on B (the "remote SageMaker") and is imported into A through the CLI
and the `SmLocal.ImportHyperParameterTuningJob` extension operation."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

from orchestrator.client.bundle import to_request
from orchestrator.client.cli import main
from orchestrator.controller.imported import TAG_ARN, TAG_SOURCE, plan_import
from orchestrator.errors import ResourceInUse
from tests.unit.client.import_fixtures import (
    SOURCE_NAME,
    TAGS,
    apps,
    cloudwatch,
    payload,
    run_to_end,
    sm,
    source_request,
    tags,
    training_view,
)


def _import(app, *args: str) -> int:
    return main(["--endpoint", app.url, "import", *args])


def test_import_from_another_endpoint_stores_what_the_source_answers(tmp_path, capsys):
    with apps(tmp_path, 2) as (local, remote):
        remote_describe = payload(run_to_end(remote, source_request()))
        assert _import(local, SOURCE_NAME, "--from-endpoint", remote.url) == 0
        out = capsys.readouterr()
        assert f"imported {SOURCE_NAME} from {remote.url}: 5 training jobs" in out.out

        # Same region and account on both: the stored payloads equal the source's exactly.
        ours = payload(sm(local).describe_hyper_parameter_tuning_job(
            HyperParameterTuningJobName=SOURCE_NAME))
        assert ours == remote_describe
        assert training_view(local, SOURCE_NAME) == training_view(remote, SOURCE_NAME)
        listed = sm(local).list_hyper_parameter_tuning_jobs()["HyperParameterTuningJobSummaries"]
        theirs = sm(remote).list_hyper_parameter_tuning_jobs()[
            "HyperParameterTuningJobSummaries"]
        assert listed == theirs

        # Marked as imported, the source's tags kept, on the tuning job and each training job.
        arn = ours["HyperParameterTuningJobArn"]
        assert tags(local, arn) == {**{t["Key"]: t["Value"] for t in TAGS},
                                    TAG_SOURCE: remote.url, TAG_ARN: arn}
        summaries, described = training_view(local, SOURCE_NAME)
        for d in described:
            assert tags(local, d["TrainingJobArn"])[TAG_SOURCE] == remote.url

        # CloudWatch GetMetricData serves the imported series as the source does.
        job = described[0]
        query = {"MetricDataQueries": [{"Id": "m", "MetricStat": {"Metric": {
            "Namespace": "/aws/sagemaker/TrainingJobs", "MetricName": "loss",
            "Dimensions": [{"Name": "TrainingJobName", "Value": job["TrainingJobName"]}]},
            "Period": 3600, "Stat": "Average"}}],
            "StartTime": job["CreationTime"], "EndTime": job["TrainingEndTime"].replace(
                year=job["TrainingEndTime"].year + 1)}
        mine = cloudwatch(local).get_metric_data(**query)["MetricDataResults"]
        assert mine[0]["Values"] and mine == cloudwatch(remote).get_metric_data(
            **query)["MetricDataResults"]

        # The reconcile loop never touches it: nothing launched, nothing changed.
        for _ in range(5):
            local.tuner.step()
            local.backend.step()
        assert local.backend.launched == []
        assert payload(sm(local).describe_hyper_parameter_tuning_job(
            HyperParameterTuningJobName=SOURCE_NAME)) == remote_describe


def test_imported_jobs_refuse_stop_and_delete_drops_the_copy(tmp_path, capsys):
    with apps(tmp_path, 2) as (local, remote):
        run_to_end(remote, source_request())
        assert _import(local, SOURCE_NAME, "--from-endpoint", remote.url) == 0
        client = sm(local)
        with pytest.raises(ClientError) as err:
            client.stop_hyper_parameter_tuning_job(HyperParameterTuningJobName=SOURCE_NAME)
        assert err.value.response["Error"]["Code"] == "ValidationException"
        assert "imported from" in err.value.response["Error"]["Message"]
        summaries, _ = training_view(local, SOURCE_NAME)
        with pytest.raises(ClientError) as err:
            client.stop_training_job(TrainingJobName=summaries[0]["TrainingJobName"])
        assert "read-only copy" in err.value.response["Error"]["Message"]
        arn = client.describe_hyper_parameter_tuning_job(
            HyperParameterTuningJobName=SOURCE_NAME)["HyperParameterTuningJobArn"]
        with pytest.raises(ClientError) as err:
            client.delete_tags(ResourceArn=arn, TagKeys=[TAG_SOURCE])
        assert "marks an imported job" in err.value.response["Error"]["Message"]

        client.delete_hyper_parameter_tuning_job(HyperParameterTuningJobName=SOURCE_NAME)
        with pytest.raises(ClientError) as err:
            client.describe_hyper_parameter_tuning_job(HyperParameterTuningJobName=SOURCE_NAME)
        assert err.value.response["Error"]["Code"] == "ResourceNotFound"
        with pytest.raises(ClientError):
            client.describe_training_job(TrainingJobName=summaries[0]["TrainingJobName"])
        assert local.store.list_training_jobs() == []
        assert local.store.metric_series(summaries[0]["TrainingJobName"], "loss") == []
        assert local.store.list_tags(arn) == []
        # ... and the same job can be imported again.
        assert _import(local, SOURCE_NAME, "--from-endpoint", remote.url) == 0


def test_a_name_taken_here_is_refused_unless_imported_as_another(tmp_path, capsys):
    with apps(tmp_path, 2) as (local, remote):
        run_to_end(remote, source_request())
        assert _import(local, SOURCE_NAME, "--from-endpoint", remote.url) == 0
        capsys.readouterr()
        assert _import(local, SOURCE_NAME, "--from-endpoint", remote.url) == 2
        err = capsys.readouterr().err
        assert "ResourceInUse" in err and "--as NEWNAME" in err
        assert _import(local, SOURCE_NAME, "--from-endpoint", remote.url, "--as", "copy2") == 0
        summaries, described = training_view(local, "copy2")
        originals, _ = training_view(remote, SOURCE_NAME)
        assert len(summaries) == 5
        for mine, theirs in zip(summaries, originals, strict=True):
            assert mine["TrainingJobName"] == "copy2" + theirs["TrainingJobName"][len(
                SOURCE_NAME):]
            assert mine["TuningJobName"] == "copy2"
            assert mine["TunedHyperParameters"] == theirs["TunedHyperParameters"]
        d = sm(local).describe_hyper_parameter_tuning_job(HyperParameterTuningJobName="copy2")
        assert d["HyperParameterTuningJobArn"].endswith("/copy2")
        assert d["BestTrainingJob"]["TrainingJobName"].startswith("copy2-")
        assert all(x["TuningJobArn"] == d["HyperParameterTuningJobArn"] for x in described)
        assert tags(local, d["HyperParameterTuningJobArn"])[TAG_ARN].endswith(f"/{SOURCE_NAME}")


def test_snapshot_then_import_bundle_equals_a_direct_import(tmp_path, capsys):
    with apps(tmp_path, 3) as (direct, via_bundle, remote):
        run_to_end(remote, source_request())
        bundle = tmp_path / "job.json"
        assert main(["snapshot", SOURCE_NAME, "--from-endpoint", remote.url, "-o",
                     str(bundle)]) == 0
        data = json.loads(bundle.read_text())
        assert data["Format"] == "smlocal-tuning-job-bundle" and data["FormatVersion"] == 1
        assert data["MetricSeriesSource"] == "CloudWatch GetMetricData"
        assert len(data["TrainingJobs"]) == 5
        assert all(j["MetricSeries"] for j in data["TrainingJobs"])
        assert _import(direct, SOURCE_NAME, "--from-endpoint", remote.url) == 0
        assert _import(via_bundle, "--bundle", str(bundle)) == 0
        for name in [SOURCE_NAME]:
            a = payload(sm(direct).describe_hyper_parameter_tuning_job(
                HyperParameterTuningJobName=name))
            b = payload(sm(via_bundle).describe_hyper_parameter_tuning_job(
                HyperParameterTuningJobName=name))
            assert a == b
            assert training_view(direct, name) == training_view(via_bundle, name)
            assert tags(direct, a["HyperParameterTuningJobArn"]) == tags(
                via_bundle, b["HyperParameterTuningJobArn"])
        for job in direct.store.list_training_jobs():
            assert direct.store.metric_series(job["TrainingJobName"], "loss") == \
                via_bundle.store.metric_series(job["TrainingJobName"], "loss")
        # snapshot of the local server (no --from-endpoint) reads the imported copy back
        again = tmp_path / "again.json"
        assert main(["--endpoint", direct.url, "snapshot", SOURCE_NAME, "-o", str(again)]) == 0
        assert json.loads(again.read_text())["TuningJob"] == data["TuningJob"]


@pytest.mark.parametrize("warm_type", ["IdenticalDataAndAlgorithm", "TransferLearning"])
def test_an_imported_job_is_a_warm_start_parent(tmp_path, capsys, monkeypatch, warm_type):
    """The imported results reach the strategy of the new local job: every `suggest` call sees
    the parent's observations (its training jobs' tuned values and objectives)."""
    from orchestrator.controller import tuning

    seen: list[list] = []
    real = tuning.make_strategy

    def spying(*args, **kwargs):
        strategy = real(*args, **kwargs)
        suggest = strategy.suggest

        def recording(history, pending, n):
            seen.append(list(history))
            return suggest(history, pending, n)

        strategy.suggest = recording
        return strategy

    monkeypatch.setattr(tuning, "make_strategy", spying)
    with apps(tmp_path, 2) as (local, remote):
        run_to_end(remote, source_request())
        assert _import(local, SOURCE_NAME, "--from-endpoint", remote.url) == 0
        child = source_request(name="local-child", jobs=3)
        child["HyperParameterTuningJobConfig"]["Strategy"] = "Bayesian"
        child["WarmStartConfig"] = {"WarmStartType": warm_type, "ParentHyperParameterTuningJobs": [
            {"HyperParameterTuningJobName": SOURCE_NAME}]}
        seen.clear()  # the remote's own run went through the same (process-wide) spy
        d = run_to_end(local, child)
        assert d["HyperParameterTuningJobStatus"] == "Completed"
        assert len(sm(local).list_training_jobs_for_hyper_parameter_tuning_job(
            HyperParameterTuningJobName="local-child")["TrainingJobSummaries"]) == 3
        summaries, _ = training_view(remote, SOURCE_NAME)
        expected = {s["TrainingJobName"]: (
            s["FinalHyperParameterTuningJobObjectiveMetric"]["Value"],
            s["TunedHyperParameters"]) for s in summaries}
        source = "parent" if warm_type == "IdenticalDataAndAlgorithm" else "transfer"
        assert seen, "the strategy was never asked"
        for history in seen:
            parents = [o for o in history if o.source != "self"]
            assert {o.job_name: (o.value, o.params) for o in parents} == expected
            assert {o.source for o in parents} == {source}
        best_parent = min(v for v, _ in expected.values())
        if warm_type == "IdenticalDataAndAlgorithm":
            overall = d["OverallBestTrainingJob"]["FinalHyperParameterTuningJobObjectiveMetric"]
            mine = d["BestTrainingJob"]["FinalHyperParameterTuningJobObjectiveMetric"]["Value"]
            assert overall["Value"] == min(best_parent, mine)


def test_a_running_remote_job_is_refused_and_nothing_is_stored(tmp_path, capsys):
    with apps(tmp_path, 2) as (local, remote):
        sm(remote).create_hyper_parameter_tuning_job(**source_request())
        assert _import(local, SOURCE_NAME, "--from-endpoint", remote.url) == 2
        err = capsys.readouterr().err
        assert "InProgress" in err and "wait for it to end" in err and "Traceback" not in err
        assert local.store.list_tuning_jobs() == [] and local.store.list_training_jobs() == []


def test_unknown_job_and_unreachable_endpoints_are_clear_errors(tmp_path, capsys):
    with apps(tmp_path, 2) as (local, remote):
        assert _import(local, "no-such-job", "--from-endpoint", remote.url) == 2
        err = capsys.readouterr().err
        assert "ResourceNotFound" in err and "no-such-job" in err
        assert _import(local, "x", "--from-endpoint", "http://127.0.0.1:9") == 4
        assert "cannot read from http://127.0.0.1:9" in capsys.readouterr().err
        run_to_end(remote, source_request())
        assert main(["--endpoint", "http://127.0.0.1:9", "import", SOURCE_NAME,
                     "--from-endpoint", remote.url]) == 4
        assert "cannot reach http://127.0.0.1:9" in capsys.readouterr().err
        assert _import(local, SOURCE_NAME) == 2
        assert "--from-endpoint URL" in capsys.readouterr().err
        assert _import(local, "--bundle", "a.json", "--analytics-csv", "b.csv") == 2
        assert "give one source" in capsys.readouterr().err
        assert _import(local, SOURCE_NAME, "--profile", "no-such-profile-here") == 2
        assert "no-such-profile-here" in capsys.readouterr().err
        # --region with an endpoint: the source is named by both
        assert _import(local, SOURCE_NAME, "--from-endpoint", remote.url, "--region",
                       "eu-west-1") == 0
        assert f"from {remote.url} (region eu-west-1)" in capsys.readouterr().out


def _bundle_of(remote, tmp_path: Path) -> dict:
    path = tmp_path / "b.json"
    assert main(["snapshot", SOURCE_NAME, "--from-endpoint", remote.url, "-o", str(path)]) == 0
    return json.loads(path.read_text())


def test_malformed_bundles_are_refused_whole(tmp_path, capsys):
    with apps(tmp_path, 2) as (local, remote):
        run_to_end(remote, source_request())
        good = _bundle_of(remote, tmp_path)
        cases = {
            "not json": ("{oops", "invalid JSON"),
            "not a bundle": (json.dumps({"a": 1}), "not an smlocal tuning-job bundle"),
            "future version": (json.dumps({**good, "FormatVersion": 9}), "version 9"),
        }
        running = json.loads(json.dumps(good))
        running["TrainingJobs"][3]["Description"]["TrainingJobStatus"] = "InProgress"
        cases["a training job still running"] = (json.dumps(running), "must have ended")
        wrong_type = json.loads(json.dumps(good))
        wrong_type["TrainingJobs"][1]["Description"]["HyperParameters"] = ["lr"]
        cases["wrong member type"] = (json.dumps(wrong_type), "ValidationException")
        uneven = json.loads(json.dumps(good))
        uneven["TrainingJobs"][2]["MetricSeries"][0]["Values"].append(1.0)
        cases["uneven series"] = (json.dumps(uneven), "timestamps but")
        for label, (text, message) in cases.items():
            path = tmp_path / "bad.json"
            path.write_text(text)
            assert _import(local, "--bundle", str(path)) == 2, label
            err = capsys.readouterr().err
            assert message in err and "Traceback" not in err, (label, err)
        assert local.store.list_tuning_jobs() == [] and local.store.list_training_jobs() == []


def test_a_collision_on_the_last_training_job_stores_nothing(tmp_path, capsys):
    """One transaction: the training job names are checked inside it too."""
    with apps(tmp_path, 2) as (local, remote):
        run_to_end(remote, source_request())
        bundle = _bundle_of(remote, tmp_path)
        last = bundle["TrainingJobs"][-1]["Description"]["TrainingJobName"]
        taken = {**bundle["TrainingJobs"][-1]["Description"], "_TuningJobName": "other"}
        local.store.insert_training_job(taken, tuning_job="other")
        path = tmp_path / "b2.json"
        path.write_text(json.dumps(bundle))
        assert _import(local, "--bundle", str(path)) == 2
        assert last in capsys.readouterr().err
        assert local.store.list_tuning_jobs() == []
        assert [j["TrainingJobName"] for j in local.store.list_training_jobs()] == [last]
        # The store's own check, inside the transaction (the service checks before it too).
        plan = plan_import(to_request(bundle), local.settings, 0.0)
        with pytest.raises(ResourceInUse, match=last):
            local.store.insert_imported(plan.tuning, plan.training, plan.metrics, plan.tags)
        assert local.store.list_tuning_jobs() == []


def test_import_into_a_server_with_authentication(tmp_path, capsys, monkeypatch):
    """The extension call is signed like a SageMaker call: the local server's key works, a
    wrong one is refused (exit 2) and nothing is stored."""
    from orchestrator.app import SmlocalApp
    from orchestrator.clock import FakeClock
    from orchestrator.config import Settings
    from orchestrator.credentials import AccessKey
    from orchestrator.runner.fake import FakeBackend
    from tests.fake_backed import START, silent

    key = AccessKey("AKIAIMPORTTEST", "import-test-secret")
    clock = FakeClock(START)
    secured = SmlocalApp(settings=Settings(state_dir=tmp_path / "secured", backend="fake",
                                           access_key=key), port=0, clock=clock,
                         backend=FakeBackend(silent, clock)).start()
    try:
        with apps(tmp_path, 1) as (remote,):
            run_to_end(remote, source_request())
            monkeypatch.setenv("SMLOCAL_ACCESS_KEY_ID", key.access_key_id)
            monkeypatch.setenv("SMLOCAL_SECRET_ACCESS_KEY", "wrong")
            assert _import(secured, SOURCE_NAME, "--from-endpoint", remote.url) == 2
            assert "InvalidSignatureException" in capsys.readouterr().err
            assert secured.store.list_tuning_jobs() == []
            monkeypatch.setenv("SMLOCAL_SECRET_ACCESS_KEY", key.secret_access_key)
            assert _import(secured, SOURCE_NAME, "--from-endpoint", remote.url) == 0
            assert len(secured.store.list_training_jobs()) == 5
    finally:
        secured.stop()


def test_profile_or_region_reads_sagemaker_itself_whatever_aws_endpoint_url_says(monkeypatch):
    """The README's SDK recipe exports AWS_ENDPOINT_URL=smlocal; `import --region R` must still
    read from SageMaker in R, and `--from-endpoint` wins over both."""
    from types import SimpleNamespace

    from orchestrator.client.import_commands import _remote_source

    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:4577")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "x")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "x")
    args = SimpleNamespace(from_endpoint=None, profile=None, region="eu-west-1",
                           no_metric_series=False)
    source, sm_client, cw = _remote_source(args, None)
    assert source == "SageMaker (region eu-west-1)"
    assert sm_client.meta.endpoint_url == "https://api.sagemaker.eu-west-1.amazonaws.com"
    assert cw.meta.endpoint_url == "https://monitoring.eu-west-1.amazonaws.com"
    args.from_endpoint = "http://127.0.0.1:9999"
    _, sm_client, _ = _remote_source(args, None)
    assert sm_client.meta.endpoint_url == "http://127.0.0.1:9999"


def test_an_endpoint_that_is_not_sagemaker_is_named_as_such(tmp_path, capsys):
    """A plain web server as the source or as the local server: exit 2 with what it is."""
    import threading
    from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

    web = ThreadingHTTPServer(("127.0.0.1", 0), SimpleHTTPRequestHandler)
    threading.Thread(target=web.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{web.server_port}"
    try:
        with apps(tmp_path, 1) as (remote,):
            assert main(["import", "x", "--from-endpoint", url]) == 2
            assert "not as SageMaker does: is it a SageMaker endpoint?" in \
                capsys.readouterr().err
            run_to_end(remote, source_request())
            assert main(["--endpoint", url, "import", SOURCE_NAME, "--from-endpoint",
                         remote.url]) == 2
            err = capsys.readouterr().err
            assert "HTTP 501 without an AWS error: is it an smlocal server?" in err
            assert "Traceback" not in err
    finally:
        web.shutdown()
        web.server_close()
