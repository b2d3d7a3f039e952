"""The SageMaker operations smlocal serves: one method per operation, called by `api/`.

`handle(operation, request)` takes a request that already passed shape validation (botocore's
model) and returns a response dict; `api/` filters it to the output shape. Cross-field rules
live in `controller.rules`; statuses and Describe payloads come from stored state.
"""

from __future__ import annotations

import copy
import re
import secrets
from collections.abc import Callable
from typing import Any

from orchestrator.clock import Clock
from orchestrator.config import Settings
from orchestrator.controller import describe, imported, job_index, rules
from orchestrator.controller.listing import list_page, name_key, paginate
from orchestrator.controller.rules_definitions import Definition
from orchestrator.controller.spec import build_spec
from orchestrator.controller.training import TrainingService
from orchestrator.controller.tuning import TuningController, tuning_job_not_found
from orchestrator.errors import ValidationError
from orchestrator.status import EarlyStoppingType, TuningJobStatus
from orchestrator.storage.db import Doc, Store
from orchestrator.storage.training_index import ListedRow
from orchestrator.strategies.completion import convergence_window

Request = dict[str, Any]


class SageMakerService:
    supported_operations = frozenset({
        "CreateHyperParameterTuningJob", "DescribeHyperParameterTuningJob",
        "ListHyperParameterTuningJobs", "ListTrainingJobsForHyperParameterTuningJob",
        "StopHyperParameterTuningJob", "DeleteHyperParameterTuningJob", "CreateTrainingJob",
        "DescribeTrainingJob", "ListTrainingJobs", "StopTrainingJob", "AddTags", "ListTags",
        "DeleteTags",
    })

    def __init__(self, store: Store, training: TrainingService, tuner: TuningController,
                 settings: Settings, clock: Clock) -> None:
        self.store = store
        self.training = training
        self.tuner = tuner
        self.settings = settings
        self.clock = clock

    def handle(self, operation: str, request: Request) -> dict[str, Any]:
        method: Callable[[Request], dict[str, Any]] = getattr(
            self, re.sub(r"(?<!^)(?=[A-Z])", "_", operation).lower())
        return method(request)

    # -- tuning jobs -----------------------------------------------------------------------
    def create_hyper_parameter_tuning_job(self, request: Request) -> dict[str, Any]:
        quotas = self.settings.quotas
        found = rules.check_tuning_job_request(request, quotas, self.training.images)
        active = self.store.list_tuning_jobs(statuses=[TuningJobStatus.InProgress.value,
                                                       TuningJobStatus.Stopping.value])
        rules.check_concurrent_tuning_jobs(len(active), quotas)
        warm = request.get("WarmStartConfig")
        if warm:
            # Missing parents are reported by the rule itself, with the others' problems.
            parents = []
            for p in warm.get("ParentHyperParameterTuningJobs") or []:
                parent = self.store.get_tuning_job(p.get("HyperParameterTuningJobName", ""))
                if parent is not None:
                    counters = job_index.stored(self.store, parent["HyperParameterTuningJobName"])
                    parents.append({**parent,
                                    "TrainingJobStatusCounters": counters.status_counters})
            rules.check_warm_start(request, parents, quotas)
        doc = self.tuning_doc(request, found)
        self.store.insert_tuning_job(doc)
        if request.get("Tags"):
            self.store.add_tags(doc["HyperParameterTuningJobArn"], request["Tags"])
        self.tuner.wake()
        return {"HyperParameterTuningJobArn": doc["HyperParameterTuningJobArn"]}

    def tuning_doc(self, request: Request, found: list[Definition]) -> Doc:
        """The stored document: the request with its defaults filled and echoed as the service
        does, plus the tuning spec (`_Spec`) the controller runs from."""
        now = self.clock.now()
        name = request["HyperParameterTuningJobName"]
        doc: Doc = {k: copy.deepcopy(v) for k, v in request.items() if k != "Tags"}
        config = doc["HyperParameterTuningJobConfig"]
        config.setdefault("TrainingJobEarlyStoppingType", EarlyStoppingType.Off.value)
        config["ResourceLimits"].setdefault("MaxNumberOfTrainingJobs", rules.default_max_jobs(
            request, self.settings.default_max_training_jobs, found))
        criteria = config.get("TuningJobCompletionCriteria") or {}
        if "BestObjectiveNotImproving" in criteria:
            # Filled and echoed when omitted, as the service does (spec §2.2); the value is our
            # convergence window, documented in the README.
            criteria["BestObjectiveNotImproving"].setdefault(
                "MaxNumberOfTrainingJobsNotImproving",
                convergence_window(config["ResourceLimits"]["MaxNumberOfTrainingJobs"]))
        spec = build_spec(doc, found, config.get("RandomSeed", secrets.randbelow(2**31)))
        single = "TrainingJobDefinition" in doc
        bodies = [doc["TrainingJobDefinition"]] if single else doc["TrainingJobDefinitions"]
        for body, definition in zip(bodies, spec.definitions, strict=True):
            # Every training job gets the objective key and Describe echoes it (spec §9.3; SDK
            # attach()).
            body["StaticHyperParameters"] = dict(definition.template["HyperParameters"])
            # The SDK sends HyperParameterTuningResourceConfig, and HyperparameterTuner.attach()
            # reads TrainingJobDefinition["ResourceConfig"] (sagemaker/estimator.py
            # _prepare_init_params_from_job_description): echo the one the training jobs get.
            if "ResourceConfig" not in body and "HyperParameterTuningResourceConfig" in body:
                body["ResourceConfig"] = dict(definition.template["ResourceConfig"])
        doc.update(
            HyperParameterTuningJobArn=self.settings.arn("hyper-parameter-tuning-job", name),
            HyperParameterTuningJobStatus=TuningJobStatus.InProgress.value,
            CreationTime=now, LastModifiedTime=now, _Spec=spec.to_dict(),
        )
        return doc

    def _get_tuning(self, name: str) -> Doc:
        doc = self.store.get_tuning_job(name)
        if doc is None:
            raise tuning_job_not_found(name)
        return doc

    def describe_hyper_parameter_tuning_job(self, request: Request) -> dict[str, Any]:
        doc = self._get_tuning(request["HyperParameterTuningJobName"])
        if imported.is_imported(doc):  # the source's own Describe, never recomputed
            return imported.describe_tuning_job(doc)
        own = job_index.stored(self.store, doc["HyperParameterTuningJobName"])
        overall = None
        if describe.wants_overall_best(doc):
            parents = (doc.get("WarmStartConfig") or {}).get("ParentHyperParameterTuningJobs", [])
            overall = job_index.overall_best([own.best] + [self.store.best_training_job(
                p["HyperParameterTuningJobName"]) for p in parents])
        return describe.describe_tuning_job(doc, own.counters, own.best and own.best.summary,
                                            overall and overall.summary, self.clock.now())

    def list_hyper_parameter_tuning_jobs(self, request: Request) -> dict[str, Any]:
        counters = job_index.counters_of(self.store.training_job_counts())
        summaries = [self._tuning_summary(d, counters) for d in self.store.list_tuning_jobs()]
        name, status = "HyperParameterTuningJobName", "HyperParameterTuningJobStatus"
        page, token = list_page(
            summaries, request, default_sort_by="Name",
            sort_keys={"Name": lambda s: name_key(s[name]), "Status": lambda s: s[status],
                       "CreationTime": lambda s: s["CreationTime"]},
            name=lambda s: s[name], status=lambda s: s[status],
            creation_time=lambda s: s["CreationTime"],
            last_modified_time=lambda s: s.get("LastModifiedTime"))
        return _page("HyperParameterTuningJobSummaries", page, token)

    def _tuning_summary(self, d: Doc, counters: dict[str, tuple[dict[str, int], dict[str, int]]]
                        ) -> dict[str, Any]:
        if imported.is_imported(d):
            return imported.tuning_summary(d)
        status, objective = counters.get(d["HyperParameterTuningJobName"].lower(),
                                         job_index.empty_counters())
        return {
            "HyperParameterTuningJobName": d["HyperParameterTuningJobName"],
            "HyperParameterTuningJobArn": d["HyperParameterTuningJobArn"],
            "HyperParameterTuningJobStatus": d["HyperParameterTuningJobStatus"],
            "Strategy": d["HyperParameterTuningJobConfig"]["Strategy"],
            "CreationTime": d["CreationTime"],
            "HyperParameterTuningEndTime": d.get("HyperParameterTuningEndTime"),
            "LastModifiedTime": d.get("LastModifiedTime"),
            "TrainingJobStatusCounters": status,
            "ObjectiveStatusCounters": objective,
            "ResourceLimits": d["HyperParameterTuningJobConfig"]["ResourceLimits"],
        }

    def list_training_jobs_for_hyper_parameter_tuning_job(self, request: Request) -> dict:
        doc = self._get_tuning(request["HyperParameterTuningJobName"])
        multi = "TrainingJobDefinitions" in doc
        if not imported.is_imported(doc):
            # Selected, sorted and cut by SQL on the index's small columns; only the page's
            # rows are read (`controller.job_index`).
            page, token = job_index.training_page(self.store, doc["HyperParameterTuningJobName"],
                                                  request)
            return _page("TrainingJobSummaries",
                         [describe.for_definitions(r.summary(), multi) for r in page], token)
        rows = [ListedRow.of_summary(imported.stored_training_summary(j)  # as the source said
                                     or describe.training_summary(j, True))
                for j in self.store.list_training_jobs(
                    tuning_job=doc["HyperParameterTuningJobName"])]
        if request.get("SortBy") == "FinalObjectiveMetricValue":
            # Jobs without an objective are not listed (spec §2.4).
            rows = [r for r in rows if r.final_objective is not None]
        page, token = list_page(
            rows, request, default_sort_by="Name",
            sort_keys={"Name": lambda r: name_key(r.name),
                       "CreationTime": lambda r: r.creation_time,
                       "Status": lambda r: r.status,
                       "FinalObjectiveMetricValue": lambda r: r.final_objective},
            name=lambda r: r.name, status=lambda r: r.status)
        summaries = [describe.for_definitions(r.summary(), multi) for r in page]
        return _page("TrainingJobSummaries", summaries, token)

    def stop_hyper_parameter_tuning_job(self, request: Request) -> dict[str, Any]:
        name = request["HyperParameterTuningJobName"]
        imported.refuse_stop(self.store.get_tuning_job(name), "tuning job", name)
        self.tuner.request_stop(name)
        return {}

    def delete_hyper_parameter_tuning_job(self, request: Request) -> dict[str, Any]:
        name = request["HyperParameterTuningJobName"]
        doc = self.store.get_tuning_job(name)
        if imported.is_imported(doc):  # drops the local copy, its training jobs included
            imported.delete(self.store, doc)
        else:
            self.tuner.delete(name)
        return {}

    # -- training jobs ---------------------------------------------------------------------
    def create_training_job(self, request: Request) -> dict[str, Any]:
        rules.check_training_job_request(request)
        doc = self.training.create(request)
        return {"TrainingJobArn": doc["TrainingJobArn"]}

    def describe_training_job(self, request: Request) -> dict[str, Any]:
        return self.training.describe(request["TrainingJobName"])

    def list_training_jobs(self, request: Request) -> dict[str, Any]:
        summaries = [{
            "TrainingJobName": d["TrainingJobName"], "TrainingJobArn": d["TrainingJobArn"],
            "CreationTime": d["CreationTime"], "TrainingEndTime": d.get("TrainingEndTime"),
            "LastModifiedTime": d.get("LastModifiedTime"),
            "TrainingJobStatus": d["TrainingJobStatus"], "SecondaryStatus": d["SecondaryStatus"],
        } for d in self.store.list_training_jobs()]
        page, token = list_page(
            summaries, request, default_sort_by="CreationTime",
            sort_keys={"Name": lambda s: name_key(s["TrainingJobName"]),
                       "Status": lambda s: s["TrainingJobStatus"],
                       "CreationTime": lambda s: s["CreationTime"]},
            name=lambda s: s["TrainingJobName"], status=lambda s: s["TrainingJobStatus"],
            creation_time=lambda s: s["CreationTime"],
            last_modified_time=lambda s: s.get("LastModifiedTime"))
        return _page("TrainingJobSummaries", page, token)

    def stop_training_job(self, request: Request) -> dict[str, Any]:
        name = request["TrainingJobName"]
        imported.refuse_stop(self.store.get_training_job(name), "training job", name)
        self.training.stop(name, cause="user")
        self.tuner.wake()
        return {}

    # -- tags ------------------------------------------------------------------------------
    def _check_resource(self, arn: str) -> Doc:
        match = re.fullmatch(r"arn:aws[a-z\-]*:sagemaker:[^:]*:[^:]*:([a-z\-]+)/(.+)", arn)
        doc = None
        if match and match.group(1) == "hyper-parameter-tuning-job":
            doc = self.store.get_tuning_job(match.group(2))
        elif match and match.group(1) == "training-job":
            doc = self.store.get_training_job(match.group(2))
        if doc is None:
            raise ValidationError("Resource does not exist")
        return doc

    def add_tags(self, request: Request) -> dict[str, Any]:
        doc = self._check_resource(request["ResourceArn"])
        imported.refuse_marker_change(doc, [t["Key"] for t in request["Tags"]])
        self.store.add_tags(request["ResourceArn"], request["Tags"])
        return {"Tags": request["Tags"]}

    def list_tags(self, request: Request) -> dict[str, Any]:
        self._check_resource(request["ResourceArn"])
        tags = self.store.list_tags(request["ResourceArn"])
        page, token = paginate(tags, request.get("NextToken"), request.get("MaxResults"),
                               default=50)
        return _page("Tags", page, token)

    def delete_tags(self, request: Request) -> dict[str, Any]:
        doc = self._check_resource(request["ResourceArn"])
        imported.refuse_marker_change(doc, request["TagKeys"])
        self.store.delete_tags(request["ResourceArn"], request["TagKeys"])
        return {}


def _page(key: str, items: list, token: str | None) -> dict[str, Any]:
    out: dict[str, Any] = {key: items}
    if token:
        out["NextToken"] = token
    return out
