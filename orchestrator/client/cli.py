"""`smlocal`: serve the endpoint, submit tuning jobs, watch them, read logs.

Exit codes (for scripts): 0 success (tuning job Completed, or command done); 1 the tuning job
ended Failed; 2 bad input (file, JSON, or a request the endpoint rejected); 3 the tuning job
ended Stopped; 4 the endpoint could not be reached or started.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any

from orchestrator.config import DEFAULT_PORT, Settings, default_state_dir

EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT, EXIT_STOPPED, EXIT_UNREACHABLE = 0, 1, 2, 3, 4
TERMINAL = ("Completed", "Failed", "Stopped")


def _client(service: str, endpoint: str) -> Any:
    import boto3
    from botocore.config import Config

    return boto3.client(
        service, endpoint_url=endpoint, region_name=os.environ.get("AWS_DEFAULT_REGION",
                                                                   "us-east-1"),
        aws_access_key_id="smlocal", aws_secret_access_key="smlocal",
        config=Config(retries={"max_attempts": 2}, connect_timeout=2, read_timeout=60),
    )


def _answers(endpoint: str) -> bool:
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        _client("sagemaker", endpoint).list_hyper_parameter_tuning_jobs(MaxResults=1)
        return True
    except ClientError:
        return True
    except BotoCoreError:
        return False


def _endpoint(args: argparse.Namespace) -> str:
    return args.endpoint or os.environ.get("SMLOCAL_ENDPOINT") or (
        f"http://127.0.0.1:{DEFAULT_PORT}")


def _error(msg: str, code: int) -> int:
    print(f"smlocal: {msg}", file=sys.stderr)
    return code


# -- serve -------------------------------------------------------------------------------------
def cmd_serve(args: argparse.Namespace) -> int:
    from orchestrator.app import SmlocalApp

    settings = Settings(state_dir=Path(args.state_dir)) if args.state_dir else Settings()
    try:
        app = SmlocalApp(settings=settings, host=args.host, port=args.port).start()
    except OSError as exc:
        return _error(f"cannot listen on {args.host}:{args.port}: {exc}", EXIT_UNREACHABLE)
    print(f"smlocal serving SageMaker and S3 on {app.url} (state: {settings.state_dir})",
          flush=True)
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    signal.signal(signal.SIGINT, lambda *_: done.set())
    done.wait()
    app.stop()
    return EXIT_OK


# -- tune --------------------------------------------------------------------------------------
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


def cmd_tune(args: argparse.Namespace) -> int:
    try:
        body = load_request(args.file)
    except ValueError as exc:
        return _error(str(exc), EXIT_BAD_INPUT)
    if args.name:
        body["HyperParameterTuningJobName"] = args.name
    with _maybe_embedded(args) as endpoint:
        return submit_and_watch(endpoint, body, wait=args.wait or args.embedded_forced,
                                embedded=args.embedded_forced)


class _maybe_embedded:
    """Use the running server, or start one in this process when none answers."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.app: Any = None
        args.embedded_forced = False

    def __enter__(self) -> str:
        endpoint = _endpoint(self.args)
        if _answers(endpoint):
            return endpoint
        from orchestrator.app import SmlocalApp

        port = int(endpoint.rsplit(":", 1)[-1].split("/")[0])
        print(f"smlocal: no server at {endpoint}; starting one in this process "
              "(jobs end when this command ends; use `smlocal serve` for a lasting one)",
              file=sys.stderr)
        self.app = SmlocalApp(port=port).start()
        self.args.embedded_forced = True
        return self.app.url

    def __exit__(self, *exc: Any) -> None:
        if self.app is not None:
            self.app.stop()


def submit_and_watch(endpoint: str, body: dict[str, Any], wait: bool,
                     embedded: bool = False) -> int:
    """Create the tuning job; with `wait`, watch it to the end.

    Ctrl-C while watching: with an embedded server (its jobs cannot outlive this process) the
    tuning job is stopped and watched until Stopped, so no container is left behind; with a
    separate server we only stop watching and the job goes on."""
    from botocore.exceptions import ClientError, ParamValidationError

    sm = _client("sagemaker", endpoint)
    try:
        arn = sm.create_hyper_parameter_tuning_job(**body)["HyperParameterTuningJobArn"]
    except ParamValidationError as exc:
        return _error(f"invalid request: {exc}", EXIT_BAD_INPUT)
    except ClientError as exc:
        err = exc.response["Error"]
        return _error(f"{err['Code']}: {err['Message']}", EXIT_BAD_INPUT)
    name = body["HyperParameterTuningJobName"]
    print(f"created {arn}")
    if not wait:
        return EXIT_OK
    from orchestrator.progress import watch

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
    return {"Completed": EXIT_OK, "Failed": EXIT_FAILED}.get(
        final["HyperParameterTuningJobStatus"], EXIT_STOPPED)


# -- inspection --------------------------------------------------------------------------------
def _call(args: argparse.Namespace, method: str, **kwargs: Any) -> tuple[int, Any]:
    from botocore.exceptions import BotoCoreError, ClientError

    endpoint = _endpoint(args)
    try:
        return EXIT_OK, getattr(_client("sagemaker", endpoint), method)(**kwargs)
    except ClientError as exc:
        err = exc.response["Error"]
        return _error(f"{err['Code']}: {err['Message']}", EXIT_BAD_INPUT), None
    except BotoCoreError as exc:
        return _error(f"cannot reach {endpoint} ({exc}); start it with `smlocal serve`",
                      EXIT_UNREACHABLE), None


def _print_json(data: Any) -> None:
    data = {k: v for k, v in data.items() if k != "ResponseMetadata"}
    print(json.dumps(data, indent=2, default=lambda o: o.isoformat()))


def cmd_describe(args: argparse.Namespace) -> int:
    method, key = (("describe_training_job", "TrainingJobName") if args.training
                   else ("describe_hyper_parameter_tuning_job", "HyperParameterTuningJobName"))
    code, out = _call(args, method, **{key: args.name})
    if out is not None:
        _print_json(out)
    return code


def cmd_list(args: argparse.Namespace) -> int:
    from orchestrator.progress import print_tuning_jobs

    code, out = _call(args, "list_hyper_parameter_tuning_jobs", MaxResults=100,
                      SortBy="CreationTime", SortOrder="Descending")
    if out is not None:
        print_tuning_jobs(out["HyperParameterTuningJobSummaries"])
    return code


def cmd_jobs(args: argparse.Namespace) -> int:
    from orchestrator.progress import print_training_jobs

    kwargs: dict[str, Any] = {"HyperParameterTuningJobName": args.name, "MaxResults": 100}
    if args.sort == "objective":
        kwargs.update(SortBy="FinalObjectiveMetricValue",
                      SortOrder="Descending" if args.descending else "Ascending")
    summaries: list[dict[str, Any]] = []
    while True:
        code, out = _call(args, "list_training_jobs_for_hyper_parameter_tuning_job", **kwargs)
        if out is None:
            return code
        summaries += out["TrainingJobSummaries"]
        if "NextToken" not in out:
            break
        kwargs["NextToken"] = out["NextToken"]
    print_training_jobs(summaries)
    return EXIT_OK


def cmd_stop(args: argparse.Namespace) -> int:
    method, key = (("stop_training_job", "TrainingJobName") if args.training
                   else ("stop_hyper_parameter_tuning_job", "HyperParameterTuningJobName"))
    code, out = _call(args, method, **{key: args.name})
    if out is not None:
        print(f"stopping {args.name}")
    return code


def cmd_logs(args: argparse.Namespace) -> int:
    from orchestrator.storage.joblogs import events_path, read_events, render

    logs_dir = (Path(args.state_dir) if args.state_dir else default_state_dir()) / "logs"
    if not args.follow and not events_path(logs_dir, args.name).exists():
        return _error(f"no log for training job {args.name} under {logs_dir}", EXIT_BAD_INPUT)
    offset, ended_at = 0, None
    while True:
        events, offset = read_events(logs_dir, args.name, offset)
        for event in events:
            print(render(event))
        sys.stdout.flush()
        if not args.follow:
            return EXIT_OK
        code, out = _call(args, "describe_training_job", TrainingJobName=args.name)
        if out is None:
            return code
        if out["TrainingJobStatus"] in TERMINAL:
            # one more read after the end, for lines written just before it
            ended_at = ended_at or time.monotonic()
            if time.monotonic() - ended_at >= 0.5:
                return EXIT_OK
        time.sleep(0.5)


def cmd_demo(args: argparse.Namespace) -> int:
    from orchestrator.demo import run_demo

    with _maybe_embedded(args) as endpoint:
        return run_demo(endpoint, jobs=args.jobs, parallel=args.parallel,
                        embedded=args.embedded_forced)


# -- parser ------------------------------------------------------------------------------------
def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="smlocal", description=__doc__.split("\n")[0])
    p.add_argument("--endpoint", help=f"smlocal endpoint (default http://127.0.0.1:"
                   f"{DEFAULT_PORT}, or $SMLOCAL_ENDPOINT)")
    p.add_argument("-v", "--verbose", action="store_true")
    sub = p.add_subparsers(dest="command", required=True)

    s = sub.add_parser("serve", help="serve SageMaker + S3 on one port")
    s.add_argument("--host", default="127.0.0.1")
    s.add_argument("--port", type=int, default=DEFAULT_PORT)
    s.add_argument("--state-dir", help="state directory (default $SMLOCAL_HOME or ~/.smlocal)")
    s.set_defaults(func=cmd_serve)

    s = sub.add_parser("tune", help="submit a CreateHyperParameterTuningJob JSON body")
    s.add_argument("file")
    s.add_argument("--name", help="override HyperParameterTuningJobName")
    s.add_argument("--wait", action="store_true", help="show live progress until it ends")
    s.set_defaults(func=cmd_tune)

    s = sub.add_parser("describe", help="describe a tuning job (or --training job)")
    s.add_argument("name")
    s.add_argument("--training", action="store_true")
    s.set_defaults(func=cmd_describe)

    s = sub.add_parser("list", help="list tuning jobs")
    s.set_defaults(func=cmd_list)

    s = sub.add_parser("jobs", help="a tuning job's training jobs")
    s.add_argument("name")
    s.add_argument("--sort", choices=["name", "objective"], default="name")
    s.add_argument("--descending", action="store_true")
    s.set_defaults(func=cmd_jobs)

    s = sub.add_parser("stop", help="stop a tuning job (or --training job)")
    s.add_argument("name")
    s.add_argument("--training", action="store_true")
    s.set_defaults(func=cmd_stop)

    s = sub.add_parser("logs", help="a training job's log")
    s.add_argument("name")
    s.add_argument("--follow", "-f", action="store_true")
    s.add_argument("--state-dir")
    s.set_defaults(func=cmd_logs)

    s = sub.add_parser("demo", help="run the bundled example tuning job end to end")
    s.add_argument("--jobs", type=int, default=20)
    s.add_argument("--parallel", type=int, default=4)
    s.set_defaults(func=cmd_demo)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
