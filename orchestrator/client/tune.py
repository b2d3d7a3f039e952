"""Submit a CreateHyperParameterTuningJob body and, optionally, watch it to the end."""

from __future__ import annotations

import contextlib
import json
from pathlib import Path
from typing import Any

from orchestrator.client.endpoint import (
    EXIT_BAD_INPUT,
    EXIT_FAILED,
    EXIT_OK,
    EXIT_STOPPED,
    client,
    error,
)
from orchestrator.client.progress import watch
from orchestrator.status import TuningJobStatus


def load_request(path: str) -> dict[str, Any]:
    """Read a CreateHyperParameterTuningJob body; say what is wrong and where."""
    try:
        text = Path(path).read_text()
    except OSError as exc:
        raise ValueError(f"cannot read {path}: {exc.strerror}") from exc
    try:
        body = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}:{exc.lineno}:{exc.colno}: invalid JSON: {exc.msg}") from exc
    if not isinstance(body, dict):
        raise ValueError(f"{path}: expected a JSON object (a CreateHyperParameterTuningJob "
                         "request body)")
    return body


def submit_and_watch(endpoint: str, body: dict[str, Any], wait: bool,
                     embedded: bool = False) -> int:
    """Create the tuning job; with `wait`, watch it to the end. Returns the exit code.

    Ctrl-C while watching: with an embedded server (its jobs cannot outlive this process) the
    tuning job is stopped and watched until Stopped, so no container is left behind; with a
    separate server we only stop watching and the job goes on."""
    from botocore.exceptions import ClientError, ParamValidationError

    sm = client("sagemaker", endpoint)
    try:
        arn = sm.create_hyper_parameter_tuning_job(**body)["HyperParameterTuningJobArn"]
    except ParamValidationError as exc:
        return error(f"invalid request: {exc}", EXIT_BAD_INPUT)
    except ClientError as exc:
        err = exc.response["Error"]
        return error(f"{err['Code']}: {err['Message']}", EXIT_BAD_INPUT)
    name = body["HyperParameterTuningJobName"]
    print(f"created {arn}")
    if not wait:
        return EXIT_OK
    try:
        final = watch(sm, name)
    except KeyboardInterrupt:
        if not embedded:
            print(f"\nstopped watching; {name} goes on (smlocal stop {name} to stop it)")
            return EXIT_STOPPED
        print(f"\nstopping {name} (the server lives in this process)...", flush=True)
        with contextlib.suppress(ClientError):
            sm.stop_hyper_parameter_tuning_job(HyperParameterTuningJobName=name)
        final = watch(sm, name)
    return {TuningJobStatus.Completed: EXIT_OK, TuningJobStatus.Failed: EXIT_FAILED}.get(
        final["HyperParameterTuningJobStatus"], EXIT_STOPPED)
