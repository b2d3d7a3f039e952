"""smlocal's own operations, beside SageMaker's: what a local endpoint can do that SageMaker has
no operation for (import a finished tuning job, describe the server, ...).

They are served on the same endpoint as `POST /` with `X-Amz-Target: SmLocal.<Operation>`
(`orchestrator.api.extensions` is the wire side: routing, validation, errors). Each operation
lives in its own module `orchestrator/controller/ext_<topic>.py` exposing `OPERATIONS`, a list
of `Extension`; `discover()` finds every such module, so adding an operation never edits a
shared file.

How to add an operation (e.g. `SmLocal.CreateFixedPointsTuningJob`):

1. Create `orchestrator/controller/ext_<topic>.py` with

       SHAPES = {
           "CreateFixedPointsTuningJobRequest": {"type": "structure",
               "required": ["HyperParameterTuningJobName", "Points"],
               "members": {
                   # any SageMaker shape may be named (botocore's model is merged in)
                   "HyperParameterTuningJobName": {"shape": "HyperParameterTuningJobName"},
                   "Points": {"shape": "SmLocalPointList"}}},
           "SmLocalPointList": {"type": "list", "member": {"shape": "HyperParameters"},
                                "min": 1, "max": 750},
           "CreateFixedPointsTuningJobResponse": {"type": "structure", "members": {
               "HyperParameterTuningJobArn": {"shape": "HyperParameterTuningJobArn"}}},
       }

       def create_fixed_points_tuning_job(ctx: Context, request: dict) -> dict:
           ...  # raise orchestrator.errors.* for bad input; return the output shape's members

       OPERATIONS = [Extension("CreateFixedPointsTuningJob", SHAPES,
                               create_fixed_points_tuning_job)]

   Shapes use botocore's JSON model format (`type`, `members`, `required`, `min`, `max`,
   `pattern`, `enum`); the input shape is `<Name>Request`, the output `<Name>Response`. Name
   new helper shapes `SmLocal...` so they never collide with SageMaker's (a collision is an
   error at start-up, and `tests/unit/api/test_extensions.py` checks every module).
2. Call it from the client: `orchestrator.client.extensions.call(endpoint,
   "CreateFixedPointsTuningJob", body)` returns the response dict or raises botocore's
   `ClientError` (so `client.endpoint.guarded` reports it like any SageMaker error).

Requests arrive validated against the input shape (types, required members, min/max, patterns,
enums, unknown members refused) and normalized (timestamps as epoch seconds); the result is
filtered to the output shape. Handlers never see the wire.
"""

from __future__ import annotations

import importlib
import pkgutil
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from orchestrator.clock import Clock
from orchestrator.config import Settings
from orchestrator.controller.training import TrainingService
from orchestrator.controller.tuning import TuningController
from orchestrator.storage.db import Store

MODULE_PREFIX = "ext_"
Request = dict[str, Any]


@dataclass(frozen=True)
class Context:
    """What an extension operation may use: the same state the SageMaker service has."""

    store: Store
    training: TrainingService
    tuner: TuningController
    settings: Settings
    clock: Clock


@dataclass(frozen=True)
class Extension:
    """One operation: its name, the botocore-format shapes it declares, and its handler."""

    name: str
    shapes: dict[str, dict[str, Any]]
    handler: Callable[[Context, Request], dict[str, Any]]

    @property
    def input_shape(self) -> str:
        return f"{self.name}Request"

    @property
    def output_shape(self) -> str:
        return f"{self.name}Response"


def discover() -> list[Extension]:
    """Every `Extension` of every `orchestrator.controller.ext_*` module, by name."""
    import orchestrator.controller as package

    found: dict[str, Extension] = {}
    for info in pkgutil.iter_modules(package.__path__):
        if not info.name.startswith(MODULE_PREFIX):
            continue
        module = importlib.import_module(f"{package.__name__}.{info.name}")
        for ext in getattr(module, "OPERATIONS", []):
            if ext.name in found:
                raise ValueError(f"extension operation {ext.name} is declared twice")
            if not re.fullmatch(r"[A-Z][A-Za-z0-9]+", ext.name):
                raise ValueError(f"extension operation name {ext.name!r} is not PascalCase")
            found[ext.name] = ext
    return [found[n] for n in sorted(found)]


class Extensions:
    """The handler `api.extensions.ExtensionEndpoint` calls: `handle(operation, request)`."""

    def __init__(self, context: Context, operations: Iterable[Extension] | None = None) -> None:
        self.context = context
        self.operations = {e.name: e for e in (discover() if operations is None
                                               else operations)}
        self.supported_operations = frozenset(self.operations)

    def handle(self, operation: str, request: Request) -> dict[str, Any]:
        return self.operations[operation].handler(self.context, request)
