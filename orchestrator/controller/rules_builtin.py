"""Definitions whose TrainingImage is a SageMaker built-in algorithm (spec §2.3, C5).

SageMaker knows the metrics of its built-in algorithms: a request needs no `MetricDefinitions`
for them (C5 is for custom images), an objective the algorithm emits is accepted, and any other
objective is rejected. Which metrics each algorithm emits is `orchestrator.builtin_algorithms`;
which images are built-in algorithms is `orchestrator.images`.

A built-in algorithm that smlocal has no local stand-in for (and the image map does not map) is
rejected at create time, saying that this is a local limitation and which algorithms do run,
rather than launching training jobs that could only fail.
"""

from __future__ import annotations

from orchestrator.builtin_algorithms import runnable_locally
from orchestrator.controller.rules_definitions import Definition
from orchestrator.images import MAP_ENV, ImageResolver, builtin_algorithm


def is_builtin(d: Definition) -> bool:
    spec = d.body["AlgorithmSpecification"]
    return builtin_algorithm(spec.get("TrainingImage"), d.body.get("StaticHyperParameters")) \
        is not None


def builtin_problems(d: Definition, images: ImageResolver) -> list[str]:
    """The objective must be one of the algorithm's metrics; the algorithm must run locally."""
    spec = d.body["AlgorithmSpecification"]
    image = spec.get("TrainingImage")
    algorithm = builtin_algorithm(image, d.body.get("StaticHyperParameters"))
    if algorithm is None:
        return []
    prefix = "" if d.label == "TrainingJobDefinition" else f"{d.label}: "
    problems = []
    metric = (d.objective or {}).get("MetricName")
    given = {m["Name"] for m in spec.get("MetricDefinitions", [])}
    if metric is not None and metric not in algorithm.metric_names and metric not in given:
        # [INF] the service's wording is not public; this says what it checks and the fix.
        choices = ", ".join(algorithm.metric_names) or "none (it cannot be tuned)"
        problems.append(
            f"{prefix}The objective metric [{metric}] is not a metric of the "
            f"[{algorithm.name}] algorithm. Choose one of the metrics the algorithm emits: "
            f"{choices}. (See {algorithm.doc})"
        )
    if algorithm.stand_in is None and images.mapped(image) is None:
        problems.append(
            f"{prefix}{image} is the SageMaker built-in {algorithm.title} algorithm, which "
            "smlocal cannot run: it has no local stand-in for it (a local limitation of "
            "smlocal; SageMaker accepts this request). Built-in algorithms that run locally: "
            f"{', '.join(runnable_locally())}. To run it anyway, map the image to a local image "
            f"that implements the algorithm in the file named by {MAP_ENV}."
        )
    return problems
