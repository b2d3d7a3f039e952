"""The normalized tuning spec: a tuning request as the controller runs it, made once at create.

`build_spec` turns a validated CreateHyperParameterTuningJob request (its defaults filled) and
the definitions the rules parsed into a `TuningSpec`: per definition the objective, the parsed
`SearchSpace` and the template every launched training job starts from; the strategy with
Hyperband's resource; the limits; the completion criteria; the warm-start parents; the seed.
The service stores `spec.to_dict()` under the tuning job document's internal `_Spec` key; the
reconciler, the strategies and Describe read it back with `TuningSpec.of(doc)` (which builds it
from the stored request for documents written before the spec existed) instead of parsing the
request again on every tick.

Hyperband's resource is inferred here only (`hyperband_resource`); the rules word its problems.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from orchestrator.controller.constants import TUNING_OBJECTIVE_KEY
from orchestrator.controller.rules_definitions import Definition, definitions
from orchestrator.status import EarlyStoppingType, Strategy, WarmStartType
from orchestrator.strategies.objective import maximizes
from orchestrator.strategies.space import SearchSpace, parse_bound

# C10 [DOC API_HyperbandStrategyConfig]: where MaxResource is inferred from, in this order.
HYPERBAND_EPOCH_KEYS = ("epochs", "numepochs", "n-epochs", "n_epochs", "num_epochs")
# Members of a HyperParameterTrainingJobDefinition copied into each training job (spec §4.5 N3).
COPIED_MEMBERS = ("AlgorithmSpecification", "RoleArn", "InputDataConfig", "OutputDataConfig",
                  "VpcConfig", "StoppingCondition", "EnableNetworkIsolation",
                  "EnableInterContainerTrafficEncryption", "EnableManagedSpotTraining",
                  "CheckpointConfig", "RetryStrategy", "Environment")
_DEFAULT_RESOURCES = {"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 30}


@dataclass(frozen=True)
class Objective:
    metric: str
    type: str  # ObjectiveType's value

    @property
    def maximize(self) -> bool:
        return maximizes(self.type)


@dataclass(frozen=True)
class DefinitionSpec:
    """One training job definition: what to tune, what to optimise, what to launch."""

    name: str | None  # DefinitionName (None for a single TrainingJobDefinition)
    objective: Objective
    space: SearchSpace
    tuned: frozenset[str]  # names of the tuned hyperparameters
    # CreateTrainingJob members every job of this definition gets (spec §4.5 N3): the copied
    # members, ResourceConfig, and HyperParameters = the static ones incl. the objective key.
    template: Mapping[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return {"Name": self.name, "Objective": {"MetricName": self.objective.metric,
                                                 "Type": self.objective.type},
                "Space": self.space.to_list(), "Template": dict(self.template)}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> DefinitionSpec:
        space = SearchSpace.from_list(d["Space"])
        return cls(d["Name"], Objective(d["Objective"]["MetricName"], d["Objective"]["Type"]),
                   space, frozenset(space.names), d["Template"])


@dataclass(frozen=True)
class HyperbandResource:
    min_resource: int
    max_resource: int


@dataclass(frozen=True)
class WarmStart:
    type: str  # WarmStartType
    parents: tuple[str, ...]

    @property
    def source(self) -> str:
        """How a parent's observations join the model (strategies.base.Observation.source)."""
        return "parent" if self.type == WarmStartType.IdenticalDataAndAlgorithm else "transfer"


@dataclass(frozen=True)
class TuningSpec:
    strategy: str  # Strategy's value
    definitions: tuple[DefinitionSpec, ...]
    max_jobs: int
    max_parallel: int
    max_runtime: float | None  # ResourceLimits.MaxRuntimeInSeconds
    early_stopping: str  # EarlyStoppingType's value
    hyperband: HyperbandResource | None
    completion: Mapping[str, Any] | None  # TuningJobCompletionCriteria, defaults filled
    warm_start: WarmStart | None
    seed: int
    # smlocal's FixedPoints strategy (`smlocal replay`): the configurations to run, in order
    points: tuple[Mapping[str, str], ...] | None = None
    _by_name: dict[str | None, DefinitionSpec] = field(default_factory=dict, compare=False,
                                                       repr=False)

    def __post_init__(self) -> None:
        self._by_name.update({d.name: d for d in self.definitions})

    @property
    def objective(self) -> Objective:
        """The tuning job's objective (the first definition's; they share its direction)."""
        return self.definitions[0].objective

    @property
    def early_stopping_auto(self) -> bool:
        return self.early_stopping == EarlyStoppingType.Auto

    def definition(self, name: str | None) -> DefinitionSpec:
        """The definition a training job came from (the first for unknown names)."""
        return self._by_name.get(name) or self.definitions[0]

    # -- storage -----------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return {
            "Strategy": self.strategy, "Definitions": [d.to_dict() for d in self.definitions],
            "MaxJobs": self.max_jobs, "MaxParallel": self.max_parallel,
            "MaxRuntime": self.max_runtime, "EarlyStopping": self.early_stopping,
            "HyperbandResource": None if self.hyperband is None else {
                "MinResource": self.hyperband.min_resource,
                "MaxResource": self.hyperband.max_resource},
            "Completion": None if self.completion is None else dict(self.completion),
            "WarmStart": None if self.warm_start is None else {
                "Type": self.warm_start.type, "Parents": list(self.warm_start.parents)},
            "Seed": self.seed,
            "Points": None if self.points is None else [dict(p) for p in self.points],
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> TuningSpec:
        hb, warm = d["HyperbandResource"], d["WarmStart"]
        return cls(
            strategy=d["Strategy"],
            definitions=tuple(DefinitionSpec.from_dict(x) for x in d["Definitions"]),
            max_jobs=int(d["MaxJobs"]), max_parallel=int(d["MaxParallel"]),
            max_runtime=d["MaxRuntime"], early_stopping=d["EarlyStopping"],
            hyperband=None if hb is None else HyperbandResource(hb["MinResource"],
                                                                hb["MaxResource"]),
            completion=d["Completion"],
            warm_start=None if warm is None else WarmStart(warm["Type"], tuple(warm["Parents"])),
            seed=int(d["Seed"]),
            points=None if d.get("Points") is None else tuple(dict(p) for p in d["Points"]),
        )

    @classmethod
    def of(cls, doc: Mapping[str, Any]) -> TuningSpec:
        """The spec of a stored tuning job document; documents written before the spec was
        stored are built from their request (their `_Seed` and `_Hyperband` kept)."""
        if "_Spec" in doc:
            return cls.from_dict(doc["_Spec"])
        stored = doc.get("_Hyperband")
        hb = HyperbandResource(int(stored["MinResource"]), int(stored["MaxResource"])) \
            if stored else None
        return build_spec(doc, definitions(dict(doc), []), int(doc["_Seed"]), hb)


def resource_config(body: Mapping[str, Any]) -> dict[str, Any]:
    """The ResourceConfig a definition's training jobs run with."""
    if body.get("ResourceConfig"):
        return dict(body["ResourceConfig"])
    hp = body.get("HyperParameterTuningResourceConfig") or {}
    configs = hp.get("InstanceConfigs")
    if configs:  # "Prioritized": the first entry is the one we can always run locally
        first = configs[0]
        return {"InstanceType": first["InstanceType"], "InstanceCount": first["InstanceCount"],
                "VolumeSizeInGB": first["VolumeSizeInGB"]}
    return {k: hp[k] for k in ("InstanceType", "InstanceCount", "VolumeSizeInGB")
            if k in hp} or dict(_DEFAULT_RESOURCES)


def inferred_max_resource(body: Mapping[str, Any]) -> tuple[str | None, int | None]:
    """(the static key MaxResource is inferred from, its value), (None, None) without such a
    key, (key, None) when its value is not a positive integer (C10)."""
    static = body.get("StaticHyperParameters") or {}
    key = next((k for k in HYPERBAND_EPOCH_KEYS if k in static), None)
    if key is None:
        return None, None
    value = parse_bound(static[key], integer=True)
    return key, int(value) if value is not None and value >= 1 else None


def hyperband_resource(cfg: Mapping[str, Any], found: Sequence[Definition]
                       ) -> HyperbandResource | None:
    """MinResource (default 1) and MaxResource, given or inferred (the smallest over the
    definitions); None when MaxResource cannot be known (the rules report why)."""
    given = (cfg.get("StrategyConfig") or {}).get("HyperbandStrategyConfig") or {}
    high = given.get("MaxResource")
    if high is None:
        inferred = [inferred_max_resource(d.body)[1] for d in found]
        if not inferred or None in inferred:
            return None
        high = min(v for v in inferred if v is not None)
    return HyperbandResource(int(given.get("MinResource", 1)), int(high))


def build_spec(doc: Mapping[str, Any], found: Sequence[Definition], seed: int,
               hyperband: HyperbandResource | None = None) -> TuningSpec:
    """The spec of a validated request whose defaults are filled (MaxNumberOfTrainingJobs,
    TrainingJobEarlyStoppingType, MaxNumberOfTrainingJobsNotImproving). `found`: its
    definitions as the rules parsed them."""
    cfg = doc["HyperParameterTuningJobConfig"]
    limits = cfg["ResourceLimits"]
    warm = doc.get("WarmStartConfig")
    strategy = cfg["Strategy"]
    if strategy == Strategy.Hyperband and hyperband is None:
        hyperband = hyperband_resource(cfg, found)
    return TuningSpec(
        strategy=strategy,
        definitions=tuple(_definition_spec(d) for d in found),
        max_jobs=int(limits["MaxNumberOfTrainingJobs"]),
        max_parallel=int(limits["MaxParallelTrainingJobs"]),
        max_runtime=limits.get("MaxRuntimeInSeconds"),
        early_stopping=cfg.get("TrainingJobEarlyStoppingType", EarlyStoppingType.Off.value),
        hyperband=hyperband if strategy == Strategy.Hyperband else None,
        completion=cfg.get("TuningJobCompletionCriteria"),
        warm_start=None if not warm else WarmStart(warm["WarmStartType"], tuple(
            p["HyperParameterTuningJobName"] for p in warm["ParentHyperParameterTuningJobs"])),
        seed=seed,
    )


def _definition_spec(d: Definition) -> DefinitionSpec:
    assert d.objective is not None  # the rules require it (Autotune is rejected)
    objective = Objective(d.objective["MetricName"], d.objective["Type"])
    space = SearchSpace.from_parameter_ranges(d.ranges)
    static = dict(d.body.get("StaticHyperParameters") or {})
    static[TUNING_OBJECTIVE_KEY] = objective.metric
    template: dict[str, Any] = {k: d.body[k] for k in COPIED_MEMBERS if k in d.body}
    template["ResourceConfig"] = resource_config(d.body)
    template["HyperParameters"] = static
    return DefinitionSpec(d.body.get("DefinitionName"), objective, space,
                          frozenset(space.names), template)
