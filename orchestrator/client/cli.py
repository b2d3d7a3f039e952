"""`smlocal`: serve the endpoint, submit tuning jobs, watch them, read logs.

Argument parsing and one small function per command. Every command except `serve` is a client
of the endpoint (`--endpoint`, `$SMLOCAL_ENDPOINT`, or the local default) and works the same
against a remote server; exit codes are listed in `orchestrator.client.endpoint`.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from typing import Any

from orchestrator.client.endpoint import (
    EXIT_BAD_INPUT,
    EXIT_OK,
    client,
    default_endpoint,
    error,
    guarded,
)
from orchestrator.client.local_server import ServerOrEmbedded, serve
from orchestrator.config import DEFAULT_PORT


def _sagemaker_call(args: argparse.Namespace, method: str, **kwargs: Any) -> tuple[int, Any]:
    endpoint = default_endpoint(args.endpoint)
    return guarded(endpoint, lambda: getattr(client("sagemaker", endpoint), method)(**kwargs))


def _print_json(data: Any) -> None:
    data = {k: v for k, v in data.items() if k != "ResponseMetadata"}
    print(json.dumps(data, indent=2, default=lambda o: o.isoformat()))


def cmd_serve(args: argparse.Namespace) -> int:
    return serve(args.host, args.port, args.state_dir, backend=args.backend,
                 access_key_id=args.access_key_id, secret_access_key=args.secret_access_key,
                 credentials_file=args.credentials_file)


def cmd_tune(args: argparse.Namespace) -> int:
    from orchestrator.client.tune import load_request, submit_and_watch

    try:
        body = load_request(args.file)
    except ValueError as exc:
        return error(str(exc), EXIT_BAD_INPUT)
    if args.name:
        body["HyperParameterTuningJobName"] = args.name
    with ServerOrEmbedded(default_endpoint(args.endpoint)) as server:
        from orchestrator.client.images_commands import build_on_first_use

        code = build_on_first_use(body, server.url, server.embedded)
        if code != EXIT_OK:
            return code
        # An embedded server's jobs die with this process: always watch them to the end.
        return submit_and_watch(server.url, body, wait=args.wait or server.embedded,
                                embedded=server.embedded)


def cmd_describe(args: argparse.Namespace) -> int:
    method, key = (("describe_training_job", "TrainingJobName") if args.training
                   else ("describe_hyper_parameter_tuning_job", "HyperParameterTuningJobName"))
    code, out = _sagemaker_call(args, method, **{key: args.name})
    if out is not None:
        _print_json(out)
    return code


def cmd_list(args: argparse.Namespace) -> int:
    from orchestrator.client.progress import print_tuning_jobs

    code, out = _sagemaker_call(args, "list_hyper_parameter_tuning_jobs", MaxResults=100,
                                SortBy="CreationTime", SortOrder="Descending")
    if out is not None:
        print_tuning_jobs(out["HyperParameterTuningJobSummaries"])
    return code


def cmd_jobs(args: argparse.Namespace) -> int:
    from orchestrator.client.progress import print_training_jobs

    if args.csv or args.json:  # the SDK's HyperparameterTuningJobAnalytics(...).dataframe()
        from orchestrator.client.analytics import export

        endpoint = default_endpoint(args.endpoint)
        code, text = guarded(endpoint, lambda: export(client("sagemaker", endpoint), args.name,
                                                      "csv" if args.csv else "json"))
        if text is not None:
            sys.stdout.write(text if text.endswith("\n") else text + "\n")
        return code
    kwargs: dict[str, Any] = {"HyperParameterTuningJobName": args.name, "MaxResults": 100}
    if args.sort == "objective":
        kwargs.update(SortBy="FinalObjectiveMetricValue",
                      SortOrder="Descending" if args.descending else "Ascending")
    summaries: list[dict[str, Any]] = []
    while True:
        code, out = _sagemaker_call(args, "list_training_jobs_for_hyper_parameter_tuning_job",
                                    **kwargs)
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
    code, out = _sagemaker_call(args, method, **{key: args.name})
    if out is not None:
        print(f"stopping {args.name}")
    return code


def cmd_logs(args: argparse.Namespace) -> int:
    from orchestrator.client.logs import LogTail, follow, render

    endpoint = default_endpoint(args.endpoint)
    tail = LogTail(client("logs", endpoint), args.name)

    def emit(event: tuple[int, str, str]) -> None:
        print(render(event), flush=True)

    if args.follow:
        sm = client("sagemaker", endpoint)
        return guarded(endpoint, lambda: follow(tail, lambda: sm.describe_training_job(
            TrainingJobName=args.name)["TrainingJobStatus"], emit))[0]
    code, events = guarded(endpoint, tail.read)
    if code != EXIT_OK:
        return code
    if not events:
        # No stream yet: say whether the job is unknown (the service's error) or silent.
        code, _ = _sagemaker_call(args, "describe_training_job", TrainingJobName=args.name)
        return code if code != EXIT_OK else error(
            f"training job {args.name} has written no log yet", EXIT_BAD_INPUT)
    for event in events:
        emit(event)
    return EXIT_OK


def cmd_demo(args: argparse.Namespace) -> int:
    from orchestrator.client.demo import run_demo

    with ServerOrEmbedded(default_endpoint(args.endpoint)) as server:
        return run_demo(server.url, jobs=args.jobs, parallel=args.parallel,
                        embedded=server.embedded)


def cmd_report(args: argparse.Namespace) -> int:
    from orchestrator.client.report import write_report

    endpoint = default_endpoint(args.endpoint)
    path = args.output or f"{args.name}.html"
    code, _ = guarded(endpoint, lambda: write_report(
        client("sagemaker", endpoint), client("cloudwatch", endpoint), args.name, path))
    if code == EXIT_OK:
        print(f"report written to {path}")
    return code


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="smlocal", description=__doc__.split("\n")[0])
    p.add_argument("--endpoint", help=f"smlocal endpoint (default http://127.0.0.1:"
                   f"{DEFAULT_PORT}, or $SMLOCAL_ENDPOINT)")
    p.add_argument("-v", "--verbose", action="store_true")
    sub = p.add_subparsers(dest="command", required=True)

    s = sub.add_parser("serve", help="serve SageMaker + S3 on one port")
    s.add_argument("--host", default="127.0.0.1", help="address to listen on (default "
                   "loopback; any other needs an access key and turns authentication on)")
    s.add_argument("--port", type=int, default=DEFAULT_PORT)
    s.add_argument("--state-dir", help="state directory (default $SMLOCAL_HOME or ~/.smlocal)")
    s.add_argument("--backend", help="where training jobs run: docker (default, or "
                   "$SMLOCAL_BACKEND) or fake (in-process containers, for tests)")
    s.add_argument("--access-key-id", help="require requests SigV4-signed with this key "
                   "(or $SMLOCAL_ACCESS_KEY_ID); needs --secret-access-key")
    s.add_argument("--secret-access-key", help="its secret (or $SMLOCAL_SECRET_ACCESS_KEY)")
    s.add_argument("--credentials-file", help="an AWS credentials file with the key "
                   "([default] or only section; or $SMLOCAL_CREDENTIALS_FILE)")
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
    fmt = s.add_mutually_exclusive_group()
    fmt.add_argument("--csv", action="store_true", help="the SDK's analytics dataframe as CSV")
    fmt.add_argument("--json", action="store_true", help="the same as a JSON list of records")
    s.set_defaults(func=cmd_jobs)

    s = sub.add_parser("stop", help="stop a tuning job (or --training job)")
    s.add_argument("name")
    s.add_argument("--training", action="store_true")
    s.set_defaults(func=cmd_stop)

    s = sub.add_parser("logs", help="a training job's log (CloudWatch Logs API)")
    s.add_argument("name")
    s.add_argument("--follow", "-f", action="store_true")
    # Accepted and ignored: logs used to be read from the server's state folder; scripts that
    # still pass it keep working.
    s.add_argument("--state-dir", help=argparse.SUPPRESS)
    s.set_defaults(func=cmd_logs)

    s = sub.add_parser("demo", help="run the bundled example tuning job end to end")
    s.add_argument("--jobs", type=int, default=20)
    s.add_argument("--parallel", type=int, default=4)
    s.set_defaults(func=cmd_demo)

    s = sub.add_parser("report", help="a tuning job as one self-contained HTML file")
    s.add_argument("name")
    s.add_argument("-o", "--output", help="the HTML file (default NAME.html)")
    s.set_defaults(func=cmd_report)

    _register_command_modules(sub)
    return p


def _register_command_modules(sub: Any) -> None:
    """Every `orchestrator/client/*_commands.py` adds its sub-commands through `register(sub)`
    (train/check/regex-check, export/import/compare, ...), in name order so `--help` is stable."""
    import importlib
    import pkgutil

    import orchestrator.client as package

    for info in sorted(pkgutil.iter_modules(package.__path__), key=lambda m: m.name):
        if info.name.endswith("_commands"):
            importlib.import_module(f"{package.__name__}.{info.name}").register(sub)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
