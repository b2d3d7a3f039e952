"""Registers `smlocal export` (issue 11 item 1): write a local tuning job's request for AWS,
optionally copy its input data and submit it to another endpoint. The mapping itself lives in
`export`; this module parses flags, talks to the two endpoints and reports."""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
from typing import Any

from orchestrator.client.endpoint import (
    EXIT_BAD_INPUT,
    EXIT_OK,
    EXIT_UNREACHABLE,
    client,
    default_endpoint,
    error,
    guarded,
)


def register(sub: Any) -> None:
    s = sub.add_parser("export", help="a tuning job's CreateHyperParameterTuningJob body for "
                       "AWS, with local values mapped (and optionally submitted)")
    s.add_argument("name", help="the local tuning job")
    s.add_argument("-o", "--output", metavar="FILE", help="write the body here (default: "
                   "standard output)")
    s.add_argument("--map", metavar="FILE", help="JSON mapping file: {images, buckets, "
                   "parents, tags: {LOCAL: TARGET}, role_arn, region, name}")
    s.add_argument("--image", action="append", metavar="LOCAL=URI",
                   help="a local image (name[:tag]) to its ECR URI")
    s.add_argument("--bucket", action="append", metavar="LOCAL=BUCKET[/PREFIX]",
                   help="a bucket (or bucket/prefix) to a real one, in every s3:// value")
    s.add_argument("--parent", action="append", metavar="LOCAL=REMOTE",
                   help="a warm-start parent to the remote tuning job's name")
    s.add_argument("--no-warm-start", action="store_true", help="drop WarmStartConfig")
    s.add_argument("--role-arn", metavar="ARN", help="the execution role on AWS")
    s.add_argument("--region", help="the AWS region (in ECR URIs and ARNs)")
    s.add_argument("--tag", action="append", metavar="K=V", help="add or replace a tag")
    s.add_argument("--allow-local", action="store_true",
                   help="write/submit even when local-only values remain (reported)")
    s.add_argument("--name", dest="new_name", metavar="NEW",
                   help="HyperParameterTuningJobName of the exported job")
    s.add_argument("--submit", action="store_true", help="send it with boto3 to the target")
    s.add_argument("--to-endpoint", metavar="URL", help="target endpoint (default: AWS)")
    s.add_argument("--profile", help="AWS profile of the target's credentials")
    s.add_argument("--to-region", help="target region (default --region, the profile's, or "
                   "us-east-1)")
    s.add_argument("--copy-data", action="store_true", help="copy the input channels' S3 "
                   "objects from this endpoint's S3 to the target's S3 at the mapped URIs")
    s.set_defaults(func=cmd_export)


def _mapping(args: argparse.Namespace) -> Any:
    from orchestrator.client.export import Mapping, load_mapping, parse_pairs

    flags = Mapping(images=parse_pairs(args.image, "--image"),
                    buckets=parse_pairs(args.bucket, "--bucket"),
                    parents=parse_pairs(args.parent, "--parent"),
                    tags=parse_pairs(args.tag, "--tag"), role_arn=args.role_arn,
                    region=args.region, name=args.new_name,
                    drop_warm_start=args.no_warm_start)
    return load_mapping(args.map).merged(flags) if args.map else flags


def cmd_export(args: argparse.Namespace) -> int:
    """0 written (and submitted), 2 bad input / unmapped local values / target refused,
    4 an endpoint unreachable."""
    from orchestrator.client.export import apply_mapping, channel_copies, read_request

    try:
        mapping = _mapping(args)
    except ValueError as exc:
        return error(str(exc), EXIT_BAD_INPUT)
    if (args.to_endpoint or args.profile or args.to_region or args.copy_data) \
            and not args.submit:
        return error("--to-endpoint/--profile/--to-region/--copy-data need --submit",
                     EXIT_BAD_INPUT)
    endpoint = default_endpoint(args.endpoint)
    code, local = guarded(endpoint, lambda: read_request(client("sagemaker", endpoint),
                                                         args.name))
    if local is None:
        return code
    body, problems = apply_mapping(local, mapping)
    for problem in problems:
        print(f"smlocal: local-only value: {problem}", file=sys.stderr)
    if problems and not args.allow_local:
        return error(f"{len(problems)} local-only value(s) would not work on AWS; map them "
                     "(or pass --allow-local to export anyway)", EXIT_BAD_INPUT)
    text = json.dumps(body, indent=2, default=str) + "\n"
    if args.output:
        try:
            with open(args.output, "w") as f:
                f.write(text)
        except OSError as exc:
            return error(f"cannot write {args.output}: {exc.strerror}", EXIT_BAD_INPUT)
        print(f"request written to {args.output}", file=sys.stderr)
    elif not args.submit:
        sys.stdout.write(text)
    if not args.submit:
        return EXIT_OK
    return _submit(args, endpoint, body, channel_copies(local, body) if args.copy_data else [],
                   mapping.region)


def _target(args: argparse.Namespace, region: str | None) -> tuple[Any, Any]:
    import boto3

    session = boto3.Session(profile_name=args.profile) if args.profile else boto3.Session()
    region = args.to_region or region or session.region_name or "us-east-1"
    kw = {"region_name": region, "endpoint_url": args.to_endpoint}
    return session.client("sagemaker", **kw), session.client("s3", **kw)


def _submit(args: argparse.Namespace, source: str, body: dict[str, Any],
            copies: list[tuple[str, str, str]], region: str | None) -> int:
    from botocore.exceptions import (
        BotoCoreError,
        ClientError,
        NoCredentialsError,
        PartialCredentialsError,
        ProfileNotFound,
    )

    target = args.to_endpoint or "AWS"
    try:
        sm, s3 = _target(args, region)
        for kind, src, dst in copies:
            count = copy_channel(client("s3", source), s3, kind, src, dst)
            print(f"copied {count} object(s) {src} -> {dst}", file=sys.stderr)
        arn = sm.create_hyper_parameter_tuning_job(**body)["HyperParameterTuningJobArn"]
    except ValueError as exc:
        return error(str(exc), EXIT_BAD_INPUT)
    except (ProfileNotFound, NoCredentialsError, PartialCredentialsError) as exc:
        return error(f"{target}: {exc}", EXIT_BAD_INPUT)
    except ClientError as exc:  # the target refused the job, or an S3 copy was refused
        err = exc.response["Error"]
        return error(f"{exc.operation_name} refused ({target}): {err['Code']}: "
                     f"{err['Message']}", EXIT_BAD_INPUT)
    except BotoCoreError as exc:  # connection errors, timeouts
        return error(f"cannot reach {target} ({exc})", EXIT_UNREACHABLE)
    print(arn)
    return EXIT_OK


def _split(uri: str) -> tuple[str, str]:
    bucket, _, key = uri[len("s3://"):].partition("/")
    return bucket, key


def copy_channel(src_s3: Any, dst_s3: Any, kind: str, src: str, dst: str) -> int:
    """Copy one channel's objects (an S3Prefix: every key under it; otherwise the one
    object) from `src_s3` to `dst_s3` under `dst`; returns the count. ValueError when the
    source holds nothing there (the job would fail on the target)."""
    src_bucket, src_key = _split(src)
    dst_bucket, dst_key = _split(dst)
    if kind == "S3Prefix":
        keys = [o["Key"] for page in src_s3.get_paginator("list_objects_v2").paginate(
            Bucket=src_bucket, Prefix=src_key) for o in page.get("Contents", [])]
    else:
        keys = [src_key]
    if not keys:
        raise ValueError(f"--copy-data: no object under {src} on the source endpoint")
    _ensure_bucket(dst_s3, dst_bucket)
    for key in keys:
        body = src_s3.get_object(Bucket=src_bucket, Key=key)["Body"]
        dst_s3.upload_fileobj(body, dst_bucket, dst_key + key[len(src_key):])
    return len(keys)


def _ensure_bucket(s3: Any, bucket: str) -> None:
    from botocore.exceptions import ClientError

    try:
        s3.head_bucket(Bucket=bucket)
        return
    except ClientError as exc:
        if exc.response["Error"]["Code"] not in ("404", "NoSuchBucket", "NotFound"):
            raise
    region = s3.meta.region_name
    kwargs: dict[str, Any] = {"Bucket": bucket}
    if region and region != "us-east-1":  # S3's rule: us-east-1 takes no constraint
        kwargs["CreateBucketConfiguration"] = {"LocationConstraint": region}
    with contextlib.suppress(s3.exceptions.BucketAlreadyOwnedByYou):
        s3.create_bucket(**kwargs)
