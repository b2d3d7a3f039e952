"""`smlocal export`: a local tuning job as the CreateHyperParameterTuningJob body for AWS.

The body is rebuilt from DescribeHyperParameterTuningJob (+ ListTags) and cut down to the
members of botocore's input shape for CreateHyperParameterTuningJob, so it carries exactly what
the service accepts. Then what differs between here and AWS is mapped (`Mapping`): image names
to ECR URIs, buckets/prefixes to real S3 in every `s3://` value, the role ARN, the region in
ECR URIs and ARNs, tags and warm-start parents. Values that only work here are reported as
`LocalValue`s (each says what to map) rather than passed on silently.

What counts as local-only comes from smlocal itself: its fake account is
`orchestrator.config.DEFAULT_ACCOUNT` (STS GetCallerIdentity answers it; the demo, `train` and
the pytest plugin use roles of that account), and its own buckets are named `smlocal-...`
(`smlocal-demo`, `smlocal-train`, `smlocal-pytest`).
"""

from __future__ import annotations

import copy
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from orchestrator.config import DEFAULT_ACCOUNT

OPERATION = "CreateHyperParameterTuningJob"
SMLOCAL_BUCKET_PREFIX = "smlocal-"
# <account>.dkr.ecr.<region>.amazonaws.com[.cn]/<repo>[:tag|@digest]: the only registry
# SageMaker pulls from unless TrainingImageConfig says Vpc (a private registry).
ECR_URI = re.compile(r"^(\d{12})\.dkr\.ecr\.([a-z0-9-]+)\.amazonaws\.com(\.cn)?/.+")
ARN = re.compile(r"^arn:(aws[a-z-]*):([a-z0-9-]+):([a-z0-9-]*):(\d{12})?:(.+)$")
# A URL of this machine (e.g. an endpoint in Environment) means nothing inside SageMaker.
THIS_MACHINE = re.compile(r"^[a-z][a-z0-9+.-]*://(localhost|127\.\d+\.\d+\.\d+|0\.0\.0\.0|"
                          r"\[::1\])(?=[:/]|$)", re.IGNORECASE)


@dataclass
class Mapping:
    """What to change for AWS; from flags and/or a JSON mapping file (same keys)."""

    images: dict[str, str] = field(default_factory=dict)     # local image -> ECR URI
    buckets: dict[str, str] = field(default_factory=dict)    # bucket[/prefix] -> bucket[/prefix]
    parents: dict[str, str] = field(default_factory=dict)    # warm-start parent -> remote name
    tags: dict[str, str] = field(default_factory=dict)
    role_arn: str | None = None
    region: str | None = None
    name: str | None = None
    drop_warm_start: bool = False

    def merged(self, other: Mapping) -> Mapping:
        """`other` (flags) over self (file)."""
        return Mapping(images={**self.images, **other.images},
                       buckets={**self.buckets, **other.buckets},
                       parents={**self.parents, **other.parents},
                       tags={**self.tags, **other.tags},
                       role_arn=other.role_arn or self.role_arn,
                       region=other.region or self.region, name=other.name or self.name,
                       drop_warm_start=other.drop_warm_start or self.drop_warm_start)


MAP_KEYS = {"images", "buckets", "parents", "tags", "role_arn", "region", "name"}


def load_mapping(path: str) -> Mapping:
    """Read a mapping file; ValueError with the file and what is wrong."""
    try:
        data = json.loads(Path(path).read_text())
    except OSError as exc:
        raise ValueError(f"cannot read {path}: {exc.strerror}") from exc
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}:{exc.lineno}:{exc.colno}: invalid JSON ({exc.msg})") from exc
    if not isinstance(data, dict):
        raise ValueError(f"{path}: a mapping file is a JSON object with keys "
                         f"{sorted(MAP_KEYS)}")
    unknown = sorted(set(data) - MAP_KEYS)
    if unknown:
        raise ValueError(f"{path}: unknown key(s) {unknown}; allowed: {sorted(MAP_KEYS)}")
    for key in ("images", "buckets", "parents", "tags"):
        value = data.get(key, {})
        if not isinstance(value, dict) or not all(
                isinstance(k, str) and isinstance(v, str) for k, v in value.items()):
            raise ValueError(f"{path}: {key!r} must be an object of strings")
    for key in ("role_arn", "region", "name"):
        if key in data and not isinstance(data[key], str):
            raise ValueError(f"{path}: {key!r} must be a string")
    return Mapping(**{k: data[k] for k in MAP_KEYS if k in data})


def parse_pairs(values: list[str] | None, flag: str) -> dict[str, str]:
    out = {}
    for value in values or []:
        key, sep, target = value.partition("=")
        if not sep or not key or not target:
            raise ValueError(f"{flag} {value!r}: expected LOCAL=TARGET")
        out[key] = target
    return out


@dataclass(frozen=True)
class LocalValue:
    """A value that works here but not on AWS, where it is and what to map."""

    where: str
    value: str
    why: str
    fix: str

    def __str__(self) -> str:
        return f"{self.where}: {self.value!r} {self.why}; {self.fix}"


# -- the request from Describe -------------------------------------------------------------

def input_shape() -> Any:
    import botocore.session

    model = botocore.session.get_session().get_service_model("sagemaker")
    return model.operation_model(OPERATION).input_shape


def keep_input_members(value: Any, shape: Any) -> Any:
    """`value` with everything outside `shape` (a botocore shape) dropped, at any depth."""
    if shape.type_name == "structure" and isinstance(value, dict):
        return {k: keep_input_members(v, shape.members[k]) for k, v in value.items()
                if k in shape.members}
    if shape.type_name == "list" and isinstance(value, list):
        return [keep_input_members(v, shape.member) for v in value]
    if shape.type_name == "map" and isinstance(value, dict):
        return {k: keep_input_members(v, shape.value) for k, v in value.items()}
    return value


def request_from_describe(described: dict[str, Any], tags: list[dict[str, str]]) -> dict:
    """The CreateHyperParameterTuningJob body a Describe answer (+ its tags) stands for."""
    body = keep_input_members(described, input_shape())
    # aws:-prefixed tags are the service's own and cannot be set by a caller; smlocal:-prefixed
    # ones are smlocal's marks (e.g. smlocal:imported-from), facts of this copy only.
    user_tags = [t for t in tags if not t.get("Key", "").startswith(("aws:", "smlocal:"))]
    if user_tags:
        body["Tags"] = user_tags
    return body


def read_request(sm: Any, name: str) -> dict[str, Any]:
    """Describe + ListTags of tuning job `name` on `sm` (boto3 errors propagate)."""
    described = sm.describe_hyper_parameter_tuning_job(HyperParameterTuningJobName=name)
    tags: list[dict[str, str]] = []
    kwargs: dict[str, Any] = {"ResourceArn": described["HyperParameterTuningJobArn"]}
    while True:
        page = sm.list_tags(**kwargs)
        tags += page.get("Tags", [])
        if not page.get("NextToken"):
            break
        kwargs["NextToken"] = page["NextToken"]
    return request_from_describe(described, tags)


# -- mapping --------------------------------------------------------------------------------

def definitions(body: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    out = []
    if "TrainingJobDefinition" in body:
        out.append(("TrainingJobDefinition", body["TrainingJobDefinition"]))
    for i, d in enumerate(body.get("TrainingJobDefinitions", [])):
        out.append((f"TrainingJobDefinitions[{i}]", d))
    return out


def map_s3_uri(uri: str, buckets: dict[str, str]) -> str | None:
    """`uri` under the longest matching bucket[/prefix] key, moved to its target; None when
    no key matches."""
    rest = uri[len("s3://"):]
    for key in sorted(buckets, key=len, reverse=True):
        src = key.removeprefix("s3://").rstrip("/")
        if rest == src or rest.startswith(src + "/"):
            target = buckets[key].removeprefix("s3://").rstrip("/")
            return "s3://" + target + rest[len(src):]
    return None


def _bucket(uri: str) -> str:
    return uri[len("s3://"):].split("/", 1)[0]


def _map_strings(node: Any, path: str, mapping: Mapping, problems: list[LocalValue]) -> Any:
    """Every s3:// value mapped by bucket; every ARN's region changed; values of smlocal's
    own buckets/account reported."""
    if isinstance(node, dict):
        return {k: _map_strings(v, f"{path}.{k}" if path else k, mapping, problems)
                for k, v in node.items()}
    if isinstance(node, list):
        return [_map_strings(v, f"{path}[{i}]", mapping, problems) for i, v in enumerate(node)]
    if not isinstance(node, str):
        return node
    if node.startswith("s3://"):
        mapped = map_s3_uri(node, mapping.buckets)
        if mapped is not None:
            return mapped
        if _bucket(node).startswith(SMLOCAL_BUCKET_PREFIX):
            problems.append(LocalValue(path, node, "is in smlocal's own bucket "
                                       f"{_bucket(node)!r}", f"map it with --bucket "
                                       f"{_bucket(node)}=YOUR-BUCKET[/PREFIX]"))
        return node
    match = ARN.match(node)
    if match:
        return _map_arn(node, match, path, mapping, problems)
    if THIS_MACHINE.match(node):
        problems.append(LocalValue(path, node, "points at this machine", "change it in the "
                                   "request, or export with --allow-local and edit the file"))
    return node


def _map_arn(arn: str, match: re.Match[str], path: str, mapping: Mapping,
             problems: list[LocalValue]) -> str:
    partition, service, region, account, resource = match.groups()
    if region and mapping.region:
        region = mapping.region
    arn = f"arn:{partition}:{service}:{region}:{account or ''}:{resource}"
    if account == DEFAULT_ACCOUNT:
        fix = ("give --role-arn ARN" if path.endswith("RoleArn")
               else "map the value in your request (or the mapping file) to a resource of "
                    "your account")
        problems.append(LocalValue(path, arn, f"belongs to smlocal's fake account "
                                   f"{DEFAULT_ACCOUNT}", fix))
    return arn


def _map_image(image: str, where: str, access_mode: str | None, mapping: Mapping,
               problems: list[LocalValue]) -> str:
    repo, _, tag = image.rpartition(":") if ":" in image.rsplit("/", 1)[-1] else (image, "", "")
    if image in mapping.images:
        image = mapping.images[image]
    elif repo and repo in mapping.images:  # `--image my/trainer=URI` maps every tag
        target = mapping.images[repo]
        image = target if ":" in target.rsplit("/", 1)[-1] else f"{target}:{tag}"
    match = ECR_URI.match(image)
    if match and mapping.region and match.group(2) != mapping.region:
        image = image.replace(f".dkr.ecr.{match.group(2)}.", f".dkr.ecr.{mapping.region}.", 1)
    match = ECR_URI.match(image)
    if match and match.group(1) == DEFAULT_ACCOUNT:
        problems.append(LocalValue(where, image, f"is an ECR URI of smlocal's fake account "
                                   f"{DEFAULT_ACCOUNT}", f"map it with --image {image}=URI"))
    elif not match and access_mode != "Vpc":
        problems.append(LocalValue(where, image, "is not an ECR image URI (SageMaker pulls "
                                   "training images from Amazon ECR)",
                                   f"push it to ECR and map it with --image {image}=URI"))
    return image


def apply_mapping(body: dict[str, Any], mapping: Mapping) -> tuple[dict, list[LocalValue]]:
    """The body for AWS and the local-only values left in it."""
    problems: list[LocalValue] = []
    out = copy.deepcopy(body)
    if mapping.name:
        out["HyperParameterTuningJobName"] = mapping.name
    for where, definition in definitions(out):
        if mapping.role_arn and "RoleArn" in definition:
            definition["RoleArn"] = mapping.role_arn
        spec = definition.get("AlgorithmSpecification", {})
        if "TrainingImage" in spec:
            mode = (spec.get("TrainingImageConfig") or {}).get("TrainingRepositoryAccessMode")
            spec["TrainingImage"] = _map_image(
                spec["TrainingImage"], f"{where}.AlgorithmSpecification.TrainingImage", mode,
                mapping, problems)
    _map_parents(out, mapping, problems)
    if mapping.tags:
        tags = {t["Key"]: t["Value"] for t in out.get("Tags", [])}
        tags.update(mapping.tags)
        out["Tags"] = [{"Key": k, "Value": v} for k, v in tags.items()]
    return _map_strings(out, "", mapping, problems), problems


def _map_parents(out: dict[str, Any], mapping: Mapping, problems: list[LocalValue]) -> None:
    if "WarmStartConfig" not in out:
        return
    if mapping.drop_warm_start:
        del out["WarmStartConfig"]
        return
    for i, parent in enumerate(out["WarmStartConfig"].get("ParentHyperParameterTuningJobs",
                                                          [])):
        name = parent.get("HyperParameterTuningJobName", "")
        if name in mapping.parents:
            parent["HyperParameterTuningJobName"] = mapping.parents[name]
        else:
            problems.append(LocalValue(
                f"WarmStartConfig.ParentHyperParameterTuningJobs[{i}]", name,
                "is a tuning job of this smlocal server", f"map it to the remote tuning job "
                f"with --parent {name}=REMOTE-NAME, or drop warm start with --no-warm-start"))


def channel_copies(local: dict[str, Any], mapped: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(S3DataType, source URI, target URI) of every S3 input channel whose URI the mapping
    moved: what `--copy-data` copies."""
    out = []
    for (_, src_def), (_, dst_def) in zip(definitions(local), definitions(mapped), strict=True):
        for src, dst in zip(src_def.get("InputDataConfig", []),
                            dst_def.get("InputDataConfig", []), strict=True):
            s3_src = (src.get("DataSource") or {}).get("S3DataSource")
            s3_dst = (dst.get("DataSource") or {}).get("S3DataSource")
            if s3_src and s3_dst:
                out.append((s3_src.get("S3DataType", "S3Prefix"), s3_src["S3Uri"],
                            s3_dst["S3Uri"]))
    return out
