"""`smlocal import --analytics-csv FILE --request REQUEST.json` on a CSV written by the SageMaker
Python SDK v2's own `HyperparameterTuningJobAnalytics(...).dataframe()` from a finished tuning
job (run on a second smlocal app, the "remote SageMaker")."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from orchestrator.client.cli import main
from orchestrator.controller.imported import TAG_SOURCE
from tests.sdk_v2 import tuning_analytics
from tests.unit.client.import_fixtures import (
    SOURCE_NAME,
    apps,
    payload,
    run_to_end,
    sm,
    source_request,
    tags,
    training_view,
)


def _sdk_csv(app, path: Path, *, index: bool = True) -> None:
    tuning_analytics(app.url, SOURCE_NAME, "smlocal-csv").to_csv(path, index=index)


@pytest.fixture
def finished(tmp_path):
    """(local app, remote app, the request file, the SDK's CSV) with a finished remote job."""
    with apps(tmp_path, 2) as (local, remote):
        request = source_request(jobs=6)
        run_to_end(remote, request)
        request_file = tmp_path / "request.json"
        request_file.write_text(json.dumps(request))
        csv_file = tmp_path / "analytics.csv"
        _sdk_csv(remote, csv_file)
        yield local, remote, request_file, csv_file


def test_the_sdk_csv_and_the_request_become_an_imported_job(finished, capsys, tmp_path):
    local, remote, request_file, csv_file = finished
    assert main(["--endpoint", local.url, "import", "--analytics-csv", str(csv_file),
                 "--request", str(request_file)]) == 0
    assert f"imported {SOURCE_NAME} from analytics CSV analytics.csv: 6 training jobs" in \
        capsys.readouterr().out
    mine, mine_described = training_view(local, SOURCE_NAME)
    theirs, theirs_described = training_view(remote, SOURCE_NAME)
    assert [s["TrainingJobName"] for s in mine] == [s["TrainingJobName"] for s in theirs]
    for a, b in zip(mine, theirs, strict=True):
        # Strings exactly as SageMaker sent them, although the SDK made every number a float.
        assert a["TunedHyperParameters"] == b["TunedHyperParameters"]
        for key in ("TrainingJobStatus", "TrainingStartTime", "TrainingEndTime",
                    "ObjectiveStatus", "FinalHyperParameterTuningJobObjectiveMetric"):
            assert a.get(key) == b.get(key), key
        assert "FailureReason" not in a  # not in the CSV: absent, not invented
    for a, b in zip(mine_described, theirs_described, strict=True):
        assert a["HyperParameters"] == b["HyperParameters"]
        assert a["FinalMetricDataList"] == [{"MetricName": "loss", "Value": next(
            m["Value"] for m in b["FinalMetricDataList"] if m["MetricName"] == "loss")}]
        for absent in ("ModelArtifacts", "SecondaryStatusTransitions", "BillableTimeInSeconds"):
            assert absent not in a
    d = payload(sm(local).describe_hyper_parameter_tuning_job(
        HyperParameterTuningJobName=SOURCE_NAME))
    r = payload(sm(remote).describe_hyper_parameter_tuning_job(
        HyperParameterTuningJobName=SOURCE_NAME))
    for key in ("TrainingJobStatusCounters", "ObjectiveStatusCounters",
                "HyperParameterTuningJobStatus"):
        assert d[key] == r[key], key
    assert d["BestTrainingJob"]["TrainingJobName"] == r["BestTrainingJob"]["TrainingJobName"]
    assert d["BestTrainingJob"]["FinalHyperParameterTuningJobObjectiveMetric"] == \
        r["BestTrainingJob"]["FinalHyperParameterTuningJobObjectiveMetric"]
    assert "HyperParameterTuningEndTime" not in d and "ConsumedResources" not in d
    assert tags(local, d["HyperParameterTuningJobArn"])[TAG_SOURCE] == \
        "analytics CSV analytics.csv"

    # ... and it can warm-start a local job.
    child = source_request(name="from-csv", jobs=2)
    child["WarmStartConfig"] = {"WarmStartType": "TransferLearning",
                                "ParentHyperParameterTuningJobs": [
                                    {"HyperParameterTuningJobName": SOURCE_NAME}]}
    assert run_to_end(local, child)["HyperParameterTuningJobStatus"] == "Completed"


def test_a_csv_without_the_index_column_and_under_another_name(finished, capsys, tmp_path):
    local, remote, request_file, _ = finished
    plain = tmp_path / "plain.csv"
    _sdk_csv(remote, plain, index=False)
    assert main(["--endpoint", local.url, "import", "--analytics-csv", str(plain),
                 "--request", str(request_file), "--as", "csv-copy",
                 "--status", "Stopped"]) == 0
    d = sm(local).describe_hyper_parameter_tuning_job(HyperParameterTuningJobName="csv-copy")
    assert d["HyperParameterTuningJobStatus"] == "Stopped"
    summaries, _ = training_view(local, "csv-copy")
    assert len(summaries) == 6 and all(s["TrainingJobName"].startswith("csv-copy-")
                                       for s in summaries)


def test_malformed_csv_or_request_is_a_clear_error_and_stores_nothing(finished, capsys,
                                                                      tmp_path):
    local, _, request_file, csv_file = finished
    text = csv_file.read_text()
    lines = text.splitlines()
    header = lines[0]
    bad = {
        "missing column": ("\n".join([header.replace("TrainingJobStatus", "Status"),
                                      *lines[1:]]), "no column 'TrainingJobStatus'"),
        "bad number": ("\n".join([header, lines[1].replace("Completed,", "Completed,x", 1)]),
                       "FinalObjectiveValue='x"),
        "running": ("\n".join([header, lines[1].replace("Completed", "InProgress")]),
                    "InProgress"),
        "unknown column": ("\n".join([header + ",mystery", *[x + ",1" for x in lines[1:]]]),
                           "column 'mystery'"),
        "header only": (header + "\n", "no training jobs"),
    }
    for label, (content, message) in bad.items():
        path = tmp_path / "bad.csv"
        path.write_text(content)
        code = main(["--endpoint", local.url, "import", "--analytics-csv", str(path),
                     "--request", str(request_file)])
        err = capsys.readouterr().err
        assert code == 2 and message in err and "Traceback" not in err, (label, err)
    assert main(["--endpoint", local.url, "import", "--analytics-csv", str(csv_file)]) == 2
    assert "needs --request" in capsys.readouterr().err
    broken = tmp_path / "broken.json"
    broken.write_text('{"HyperParameterTuningJobName": ')
    assert main(["--endpoint", local.url, "import", "--analytics-csv", str(csv_file),
                 "--request", str(broken)]) == 2
    assert "invalid JSON" in capsys.readouterr().err
    assert main(["--endpoint", local.url, "import", "--analytics-csv",
                 str(tmp_path / "nope.csv"), "--request", str(request_file)]) == 2
    assert "cannot read" in capsys.readouterr().err
    assert local.store.list_tuning_jobs() == [] and local.store.list_training_jobs() == []
