"""Registers `smlocal import` and `smlocal snapshot` (issue 11 item 2): bring a finished tuning
job from any SageMaker endpoint (real AWS, another smlocal), a bundle file or the SDK's
analytics CSV into the local server as a read-only imported job, or write it to a bundle.

The source is read with boto3 (`client.bundle.fetch`); the local server stores it through its
extension operation `SmLocal.ImportHyperParameterTuningJob` (`client.extensions.call`), in one
transaction. Exit codes as everywhere (`client.endpoint`): 2 bad input or a source that refused
(unknown job, still running, malformed bundle or CSV), 4 an endpoint that cannot be reached.
"""

from __future__ import annotations

import os
import sys
from typing import Any

from orchestrator.client.endpoint import (
    EXIT_BAD_INPUT,
    EXIT_OK,
    EXIT_UNREACHABLE,
    default_endpoint,
    error,
)


def register(sub: Any) -> None:
    s = sub.add_parser("import", help="copy a finished tuning job (and its training jobs) "
                       "from a SageMaker endpoint, a bundle or an analytics CSV")
    s.add_argument("name", nargs="?", help="the tuning job's name at the source")
    _source_flags(s)
    s.add_argument("--bundle", metavar="FILE", help="a bundle written by `smlocal snapshot`")
    s.add_argument("--analytics-csv", metavar="FILE", help="the CSV of the SageMaker SDK's "
                   "HyperparameterTuningJobAnalytics(...).dataframe(); needs --request")
    s.add_argument("--request", metavar="FILE", help="the CreateHyperParameterTuningJob body "
                   "that ran the job of --analytics-csv")
    s.add_argument("--status", default="Completed", choices=("Completed", "Stopped", "Failed"),
                   help="with --analytics-csv: how the tuning job ended (the CSV does not say)")
    s.add_argument("--as", dest="as_name", metavar="NEWNAME",
                   help="store it under this name (a local job already has the name)")
    s.set_defaults(func=cmd_import)

    s = sub.add_parser("snapshot", help="write a finished tuning job and its training jobs "
                       "to one JSON bundle (for `smlocal import --bundle` elsewhere)")
    s.add_argument("name", help="the tuning job's name")
    _source_flags(s, default_note=" (default: --endpoint, the local server)")
    s.add_argument("-o", "--output", required=True, metavar="FILE")
    s.set_defaults(func=cmd_snapshot)


def _source_flags(s: Any, default_note: str = "") -> None:
    s.add_argument("--from-endpoint", metavar="URL",
                   help="a SageMaker-compatible endpoint to read from" + default_note)
    s.add_argument("--profile", help="AWS profile of the source (real SageMaker)")
    s.add_argument("--region", help="AWS region of the source")
    s.add_argument("--no-metric-series", action="store_true",
                   help="final metric values only (skip CloudWatch GetMetricData)")


def _remote_source(args: Any, fallback: str | None) -> tuple[str, Any, Any] | None:
    """(source text, SageMaker client, CloudWatch client or None) of --from-endpoint/
    --profile/--region, else of `fallback`; None when none is given."""
    import boto3
    from botocore.config import Config

    from orchestrator.client.endpoint import client

    url = args.from_endpoint
    if not (url or args.profile or args.region):
        if fallback is None:
            return None
        return fallback, client("sagemaker", fallback), (
            None if args.no_metric_series else client("cloudwatch", fallback))
    session = boto3.Session(profile_name=args.profile, region_name=args.region or (
        None if args.profile else os.environ.get("AWS_DEFAULT_REGION", "us-east-1")))
    keys: dict[str, str] = {}
    if session.get_credentials() is None and url:  # an open smlocal takes any credentials
        keys = {"aws_access_key_id": "smlocal", "aws_secret_access_key": "smlocal"}
    # Without --from-endpoint the source is SageMaker itself: an AWS_ENDPOINT_URL exported for
    # the SDK-against-smlocal recipe (README) must not send the reads to smlocal.
    config = Config(retries={"max_attempts": 4, "mode": "standard"}, connect_timeout=5,
                    read_timeout=120, ignore_configured_endpoint_urls=not url)
    sm = session.client("sagemaker", endpoint_url=url, config=config, **keys)
    cw = None if args.no_metric_series else session.client("cloudwatch", endpoint_url=url,
                                                           config=config, **keys)
    where = url or "SageMaker"
    parts = [f"profile {args.profile}" if args.profile else "",
             f"region {session.region_name}" if not url or args.region else ""]
    extra = ", ".join(p for p in parts if p)
    return (f"{where} ({extra})" if extra else where), sm, cw


def _fetch(args: Any, fallback: str | None) -> tuple[int, dict[str, Any] | None]:
    from botocore.exceptions import BotoCoreError, ClientError, ProfileNotFound

    from orchestrator.client.bundle import BundleError, fetch

    try:
        source = _remote_source(args, fallback)
    except ProfileNotFound as exc:
        return error(str(exc), EXIT_BAD_INPUT), None
    except BotoCoreError as exc:
        return error(f"cannot use that source: {exc}", EXIT_BAD_INPUT), None
    if source is None:
        return error("say where the tuning job comes from: --from-endpoint URL, --profile P "
                     "and/or --region R, --bundle FILE, or --analytics-csv FILE --request "
                     "FILE", EXIT_BAD_INPUT), None
    text, sm, cw = source
    try:
        return EXIT_OK, fetch(sm, cw, args.name, text, progress=_say)
    except BundleError as exc:
        return error(str(exc), EXIT_BAD_INPUT), None
    except ClientError as exc:
        err = exc.response["Error"]
        if str(err.get("Code", "")).isdigit():  # an HTTP error without an AWS error body
            return error(f"{text} answered HTTP {err['Code']}, not as SageMaker does: is it a "
                         "SageMaker endpoint?", EXIT_BAD_INPUT), None
        return error(f"{text}: {err.get('Code')}: {err.get('Message')}", EXIT_BAD_INPUT), None
    except BotoCoreError as exc:
        return error(f"cannot read from {text}: {exc}", EXIT_UNREACHABLE), None
    except (KeyError, TypeError, ValueError) as exc:  # an answer without SageMaker's members
        return error(f"{text} did not answer as SageMaker does (missing or odd {exc}); is it "
                     "a SageMaker endpoint?", EXIT_BAD_INPUT), None


def _say(message: str) -> None:
    print(message, file=sys.stderr)


def _local_bundle(args: Any) -> tuple[int, dict[str, Any] | None]:
    """The bundle of --bundle or --analytics-csv/--request."""
    from orchestrator.client.analytics_import import bundle_from_csv
    from orchestrator.client.bundle import BundleError, load
    from orchestrator.client.tune import load_request

    try:
        if args.bundle:
            return EXIT_OK, load(args.bundle)
        if not args.request:
            return error("--analytics-csv needs --request FILE (the CreateHyperParameterTuning"
                         "Job body that ran it)", EXIT_BAD_INPUT), None
        request = load_request(args.request)
        if args.name and args.name != request.get("HyperParameterTuningJobName"):
            request["HyperParameterTuningJobName"] = args.name
        return EXIT_OK, bundle_from_csv(args.analytics_csv, request, status=args.status)
    except (BundleError, ValueError) as exc:
        return error(str(exc), EXIT_BAD_INPUT), None


def cmd_import(args: Any) -> int:
    """Exit 0 once the whole job is stored; 2/4 otherwise, and then nothing is stored."""
    from orchestrator.client.bundle import to_request

    local = [flag for flag, given in (("--bundle", args.bundle),
                                      ("--analytics-csv", args.analytics_csv)) if given]
    remote = args.from_endpoint or args.profile or args.region
    if len(local) > 1 or (local and remote):
        return error("give one source: --from-endpoint/--profile/--region, --bundle or "
                     "--analytics-csv", EXIT_BAD_INPUT)
    if args.request and not args.analytics_csv:
        return error("--request goes with --analytics-csv", EXIT_BAD_INPUT)
    if not local and not args.name:
        return error("name the tuning job to import (smlocal import NAME --from-endpoint URL)",
                     EXIT_BAD_INPUT)
    code, bundle = _local_bundle(args) if local else _fetch(args, None)
    if bundle is None:
        return code
    return _store(default_endpoint(args.endpoint), to_request(bundle, args.as_name),
                  bundle["Source"])


def _store(endpoint: str, body: dict[str, Any], source: str) -> int:
    from orchestrator.client.endpoint import guarded
    from orchestrator.client.extensions import call

    code, out = guarded(endpoint, lambda: call(endpoint, "ImportHyperParameterTuningJob", body))
    if out is None:
        return code
    print(f"imported {out['HyperParameterTuningJobName']} from {source}: "
          f"{out.get('TrainingJobCount', 0)} training jobs, {out.get('MetricSampleCount', 0)} "
          f"metric samples ({out['HyperParameterTuningJobArn']})")
    return EXIT_OK


def cmd_snapshot(args: Any) -> int:
    from orchestrator.client.bundle import save

    code, bundle = _fetch(args, default_endpoint(args.endpoint))
    if bundle is None:
        return code
    try:
        save(bundle, args.output)
    except OSError as exc:
        return error(f"cannot write {args.output}: {exc.strerror}", EXIT_BAD_INPUT)
    print(f"snapshot of {args.name} ({len(bundle['TrainingJobs'])} training jobs) written to "
          f"{args.output}")
    return EXIT_OK
