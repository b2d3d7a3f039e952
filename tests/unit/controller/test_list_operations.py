"""List operations through the real service: filters, default sorts, pagination (spec §2.3, §2.9)."""

from __future__ import annotations

from orchestrator.controller.harness import Harness, tuning_request
from orchestrator.runner.fake import FakeScript


def test_list_tuning_jobs_filters_sorts_and_pages(tmp_path):
    h = Harness(tmp_path, lambda spec: FakeScript(lines=["loss=1"]))
    for name in ("beta-run", "Alpha-run", "gamma"):
        h.call("CreateHyperParameterTuningJob", tuning_request(name=name, max_jobs=1))
        h.clock.advance(10)
    first = h.describe("beta-run")["CreationTime"]
    h.run("gamma")  # all three finish; gamma's LastModifiedTime moves on

    def names(**request):
        out = h.call("ListHyperParameterTuningJobs", request)
        return [s["HyperParameterTuningJobName"] for s in out["HyperParameterTuningJobSummaries"]]

    assert names() == ["Alpha-run", "beta-run", "gamma"]  # default: Name, case-insensitive
    assert names(SortBy="Name", SortOrder="Descending") == ["gamma", "beta-run", "Alpha-run"]
    assert names(NameContains="RUN") == ["Alpha-run", "beta-run"]
    assert names(CreationTimeAfter=first) == ["Alpha-run", "gamma"]  # strictly after
    assert names(StatusEquals="InProgress") == []
    page = h.call("ListHyperParameterTuningJobs", {"MaxResults": 2})
    rest = h.call("ListHyperParameterTuningJobs", {"MaxResults": 2,
                                                   "NextToken": page["NextToken"]})
    assert [s["HyperParameterTuningJobName"] for s in rest["HyperParameterTuningJobSummaries"]] \
        == ["gamma"] and "NextToken" not in rest
    summary = h.call("ListHyperParameterTuningJobs", {"NameContains": "gamma"})[
        "HyperParameterTuningJobSummaries"][0]
    assert summary["TrainingJobStatusCounters"]["Completed"] == 1


def test_list_training_jobs_defaults_to_creation_time_and_filters_status(tmp_path):
    h = Harness(tmp_path, lambda spec: FakeScript(lines=["loss=1"] * 3))
    h.call("CreateHyperParameterTuningJob", tuning_request(max_jobs=3, parallel=1))
    h.run()
    created = [j["TrainingJobName"] for j in h.training_jobs()]
    out = h.call("ListTrainingJobs", {})["TrainingJobSummaries"]
    assert [s["TrainingJobName"] for s in out] == created
    newest_first = h.call("ListTrainingJobs", {"SortOrder": "Descending"})["TrainingJobSummaries"]
    assert [s["TrainingJobName"] for s in newest_first] == created[::-1]
    assert h.call("ListTrainingJobs", {"StatusEquals": "Failed"})["TrainingJobSummaries"] == []
