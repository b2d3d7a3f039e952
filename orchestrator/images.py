"""Which local Docker image runs a training job's `TrainingImage`.

Requests written for AWS name ECR images (`<account>.dkr.ecr.<region>.amazonaws.com[.cn]/
<repository>:<tag>`) that no local engine has. `ImageResolver.resolve` picks the local image, in
this order:

1. the explicit map (`SMLOCAL_IMAGE_MAP`, `Settings.image_map`): first matching pattern wins;
2. a name that is not an ECR URI runs unchanged (plain local images work as they always did);
3. an ECR URI present locally as it is (pulled or `docker tag`-ged) runs unchanged;
4. an image of an AWS registry (accounts and repositories from the SageMaker Python SDK, see
   `orchestrator.aws_image_registries`): a built-in algorithm with a local stand-in runs the
   stand-in (`xgboost`/`sagemaker-xgboost`, every version and region → `smlocal/xgboost:latest`);
   a framework image with a local stand-in runs the stand-in (`FRAMEWORK_STAND_INS`:
   `sagemaker-scikit-learn` → `smlocal/sklearn-framework:latest`; `sagemaker-xgboost` in script
   mode → `smlocal/xgboost-framework:latest`; `pytorch-training` → `smlocal/pytorch-framework:
   latest`; `tensorflow-training` → `smlocal/tensorflow-framework:latest`); any other AWS image (built-in without stand-in,
   other framework Deep Learning Containers, service images) cannot be resolved;
5. an image of any other account (the user's own ECR) runs the local `<repository>:<tag>`.

What cannot be resolved comes back as a `ClientError: …` text saying what to build or map; the
training job fails with it as its FailureReason, as SageMaker fails a job whose image it cannot
pull. The map is a JSON (or YAML) object from pattern to local image, optionally under an
`"images"` key. A pattern is a glob (`fnmatch`, case-sensitive) matched against the whole URI,
then, for ECR URIs, against `<repository>:<tag>` and `<repository>`; the target may use
`{repository}` and `{tag}`. Example:

    {"images": {
      "*.dkr.ecr.*.amazonaws.com/pytorch-training:*": "my/pytorch:{tag}",
      "image-classification": "my/ic:latest",
      "123456789012.dkr.ecr.eu-west-1.amazonaws.com/team/trainer:v3": "trainer:dev"}}

Pure: the caller gives `image_exists`; nothing here talks to Docker.
"""

from __future__ import annotations

import fnmatch
import json
import re
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from orchestrator.aws_image_registries import REGISTRY_ACCOUNTS, REPOSITORIES
from orchestrator.builtin_algorithms import ALGORITHMS, BuiltinAlgorithm, runnable_locally

MAP_ENV = "SMLOCAL_IMAGE_MAP"
# <account>.dkr.ecr[-fips].<region>.<AWS domain>/<repository>[:<tag>][@<digest>]
_ECR = re.compile(
    r"(?P<account>\d{12})\.dkr\.ecr(?:-fips)?\.(?P<region>[a-z0-9-]+)\."
    r"(?P<domain>amazonaws\.com(?:\.cn)?|c2s\.ic\.gov|sc2s\.sgov\.gov|[a-z0-9.-]+)"
    r"/(?P<repository>[a-z0-9][a-z0-9._/-]*?)(?::(?P<tag>[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}))?"
    r"(?:@(?P<digest>sha256:[0-9a-f]{64}))?"
)
# Hyperparameters the SageMaker SDK sets for script mode (framework estimators).
SCRIPT_MODE_KEYS = ("sagemaker_program", "sagemaker_submit_directory")


@dataclass(frozen=True)
class EcrImage:
    uri: str
    account: str
    region: str
    repository: str
    tag: str | None
    digest: str | None

    @property
    def local_name(self) -> str:
        """The same-named local image: `<repository>:<tag>` (tag `latest` when absent)."""
        if self.digest and not self.tag:
            return f"{self.repository}@{self.digest}"
        return f"{self.repository}:{self.tag or 'latest'}"

    @property
    def aws_owned(self) -> bool:
        """An AWS registry (built-in algorithms, Deep Learning Containers, service images)."""
        return self.account in REGISTRY_ACCOUNTS

    @property
    def families(self) -> tuple[str, ...]:
        """The SDK image families (image_uri_config names) using this repository."""
        return REPOSITORIES.get(self.repository, ()) if self.aws_owned else ()


def parse_ecr(image: str) -> EcrImage | None:
    """The parts of an Amazon ECR image URI; None for anything else (e.g. `smlocal/gbm:latest`)."""
    m = _ECR.fullmatch(image.strip())
    if m is None:
        return None
    return EcrImage(image, m["account"], m["region"], m["repository"], m["tag"], m["digest"])


def script_mode(hyperparameters: Mapping[str, str] | None) -> bool:
    """True for SDK framework jobs (script mode): they run the image as a framework."""
    return bool(hyperparameters) and any(k in hyperparameters for k in SCRIPT_MODE_KEYS)


def builtin_algorithm(image: str | None,
                      hyperparameters: Mapping[str, str] | None = None) -> BuiltinAlgorithm | None:
    """The built-in algorithm an AWS image URI runs, or None (custom, framework, script mode).

    `sagemaker-xgboost` is both the built-in XGBoost algorithm and the XGBoost framework
    image; with script-mode hyperparameters it runs the user's script, so it is a framework.
    """
    ecr = parse_ecr(image) if image else None
    if ecr is None or script_mode(hyperparameters):
        return None
    return next((ALGORITHMS[f] for f in ecr.families if f in ALGORITHMS), None)


@dataclass(frozen=True)
class FrameworkStandIn:
    """The local image that runs a SageMaker framework image (the training toolkit's script
    mode); `script_mode_only`: the repository is also a built-in algorithm's, which it is
    without script-mode hyperparameters."""

    title: str
    image: str
    script_mode_only: bool = False


_PYTORCH = FrameworkStandIn("PyTorch", "smlocal/pytorch-framework:latest")
_TENSORFLOW = FrameworkStandIn("TensorFlow", "smlocal/tensorflow-framework:latest")
# AWS framework repositories (every version and region; CPU and GPU tags) → their local
# stand-ins. Training repositories only: inference, Neuron, training-compiler and Hugging Face
# images need more than the framework, and the pre-script-mode `sagemaker-tensorflow` images
# (TensorFlow 1.x, another contract) are not covered.
FRAMEWORK_STAND_INS = {
    "sagemaker-scikit-learn": FrameworkStandIn("scikit-learn", "smlocal/sklearn-framework:latest"),
    "sagemaker-xgboost": FrameworkStandIn("XGBoost", "smlocal/xgboost-framework:latest",
                                          script_mode_only=True),
    "pytorch-training": _PYTORCH,
    "sagemaker-pytorch": _PYTORCH,
    "tensorflow-training": _TENSORFLOW,
    "sagemaker-tensorflow-scriptmode": _TENSORFLOW,
}


def stand_in_images() -> frozenset[str]:
    """Every local stand-in image (built-in algorithms' and frameworks'). All are CPU builds,
    so a job on one runs on CPU even when its instance type has GPUs."""
    builtin = {a.stand_in for a in ALGORITHMS.values() if a.stand_in}
    return frozenset(builtin | {f.image for f in FRAMEWORK_STAND_INS.values()})


def framework_stand_in(image: str | None, hyperparameters: Mapping[str, str] | None = None
                       ) -> FrameworkStandIn | None:
    """The framework stand-in for an AWS image URI, or None (built-in use, other images)."""
    ecr = parse_ecr(image) if image else None
    stand_in = FRAMEWORK_STAND_INS.get(ecr.repository) if ecr and ecr.aws_owned else None
    if stand_in is None or (stand_in.script_mode_only and not script_mode(hyperparameters)):
        return None
    return stand_in


# -- the explicit map ------------------------------------------------------------------------


@dataclass(frozen=True)
class ImageMap:
    """Ordered (pattern, local image) pairs; `source` names where they came from."""

    entries: tuple[tuple[str, str], ...] = ()
    source: str = MAP_ENV

    @classmethod
    def parse(cls, text: str, source: str) -> ImageMap:
        """From JSON, or YAML when the text is not JSON and PyYAML is installed; ValueError
        saying what is wrong."""
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            try:
                import yaml
            except ImportError:
                raise ValueError(f"{source}: not valid JSON ({exc}); YAML needs PyYAML "
                                 "(pip install pyyaml)") from exc
            try:
                data = yaml.safe_load(text)
            except yaml.YAMLError as yexc:
                raise ValueError(f"{source}: neither JSON nor YAML ({yexc})") from yexc
        if isinstance(data, dict) and isinstance(data.get("images"), dict):
            data = data["images"]
        if not isinstance(data, dict) or not all(
                isinstance(k, str) and isinstance(v, str) and k and v for k, v in data.items()):
            raise ValueError(f'{source}: expected an object of "pattern": "local image" '
                             'strings (optionally under "images")')
        return cls(tuple(data.items()), source)

    @classmethod
    def load(cls, path: Path) -> ImageMap:
        try:
            text = path.read_text()
        except OSError as exc:
            raise ValueError(f"{path}: cannot read the image map ({exc.strerror})") from exc
        return cls.parse(text, str(path))

    def lookup(self, image: str) -> str | None:
        """The local image the first matching pattern names, or None."""
        ecr = parse_ecr(image)
        if ecr is not None:
            candidates = [image, f"{ecr.repository}:{ecr.tag or 'latest'}", ecr.repository]
            repository, tag = ecr.repository, ecr.tag or "latest"
        else:
            tagged = ":" in image.rsplit("/", 1)[-1]
            repository, tag = image.rsplit(":", 1) if tagged else (image, "latest")
            candidates = [image]
        for pattern, target in self.entries:
            if any(fnmatch.fnmatchcase(c, pattern) for c in candidates):
                return target.replace("{repository}", repository).replace("{tag}", tag)
        return None


class MapFile:
    """The map in a file, read again when the file changes (no restart needed)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._stamp: tuple[float, int] | None = None
        self._map = ImageMap(source=str(path))

    def current(self) -> ImageMap:
        try:
            st = self.path.stat()
        except OSError as exc:
            raise ValueError(f"{self.path}: cannot read the image map ({exc.strerror})") from exc
        with self._lock:
            stamp = (st.st_mtime, st.st_size)
            if stamp != self._stamp:
                self._map, self._stamp = ImageMap.load(self.path), stamp
            return self._map


# -- resolution ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Resolution:
    """`image` to run, or `failure` (a `ClientError: …` FailureReason). `note` says why a
    different image runs (shown in the job's log)."""

    image: str | None
    failure: str | None = None
    note: str | None = None


def _build_name(stand_in: str) -> str:
    """`smlocal/pytorch-framework:latest` → `pytorch-framework` (containers/<name>)."""
    return stand_in.split("/", 1)[-1].split(":", 1)[0]


_MAP_HINT = (f"map it to a local image in the file named by {MAP_ENV} "
             '(JSON: {"<uri, repository:tag or glob>": "<local image>"})')


@dataclass
class ImageResolver:
    """`resolve(image, hyperparameters)` → `Resolution` (see the module docstring)."""

    image_map: Callable[[], ImageMap] = field(default=lambda: ImageMap())
    image_exists: Callable[[str], bool] = field(default=lambda _image: True)

    @classmethod
    def from_path(cls, path: Path | None,
                  image_exists: Callable[[str], bool] = lambda _image: True) -> ImageResolver:
        if path is None:
            return cls(image_exists=image_exists)
        return cls(MapFile(path).current, image_exists)

    def mapped(self, image: str) -> str | None:
        """The explicit map's image for `image`; None when unmapped or the map is unreadable."""
        try:
            return self.image_map().lookup(image)
        except ValueError:
            return None

    def resolve(self, image: str, hyperparameters: Mapping[str, str] | None = None) -> Resolution:
        try:
            target = self.image_map().lookup(image)
        except ValueError as exc:
            return Resolution(None, f"ClientError: the image map is invalid: {exc}")
        if target is not None:
            return Resolution(target, note=f"TrainingImage {image} runs as the local image "
                                           f"{target} (image map)")
        ecr = parse_ecr(image)
        if ecr is None or self.image_exists(image):
            return Resolution(image)
        if ecr.aws_owned:
            return self._aws(ecr, hyperparameters)
        local = ecr.local_name
        if self.image_exists(local):
            return Resolution(local, note=f"TrainingImage {image} runs as the local image "
                                          f"{local}")
        return Resolution(None, (
            f"ClientError: TrainingImage {image} is in Amazon ECR, which smlocal does not pull "
            f"from; it runs the same-named local image {local} instead, and there is no such "
            f"image here. Build or tag it (docker tag <your image> {local}), or {_MAP_HINT}."))

    def _stand_in(self, ecr: EcrImage, kind: str, stand_in: str) -> Resolution:
        if self.image_exists(stand_in):
            gpu = "gpu" in (ecr.tag or "").lower().split("-")
            return Resolution(stand_in, note=(
                f"TrainingImage {ecr.uri} ({kind}) runs as its local stand-in {stand_in}"
                + ("; WARNING: a GPU image, the stand-in is a CPU build: training runs on CPU"
                   if gpu else "")))
        return Resolution(None, (
            f"ClientError: TrainingImage {ecr.uri} is the {kind}, which smlocal runs with the "
            f"local image {stand_in}; that image is not built. Build it with "
            f"`smlocal images build {_build_name(stand_in)}`, or {_MAP_HINT}."))

    def _aws(self, ecr: EcrImage, hyperparameters: Mapping[str, str] | None) -> Resolution:
        algorithm = builtin_algorithm(ecr.uri, hyperparameters)
        if algorithm is not None and algorithm.stand_in:
            return self._stand_in(ecr, f"built-in {algorithm.title} algorithm",
                                  algorithm.stand_in)
        framework = framework_stand_in(ecr.uri, hyperparameters)
        if framework is not None:
            return self._stand_in(ecr, f"{framework.title} framework image",
                                  framework.image)
        if algorithm is not None:
            return Resolution(None, (
                f"ClientError: TrainingImage {ecr.uri} is the built-in {algorithm.title} "
                "algorithm, which has no local stand-in in smlocal (a local limitation; "
                "built-in algorithms that run locally: "
                f"{', '.join(runnable_locally())}). To run it anyway, {_MAP_HINT}."))
        families = ", ".join(ecr.families) or "not in the SDK's image list"
        kind = f"an AWS-owned image ({families})"
        if script_mode(hyperparameters):
            kind += " used as a framework (script mode)"
        return Resolution(None, (
            f"ClientError: TrainingImage {ecr.uri} is {kind}, which smlocal cannot pull and "
            "has no local stand-in for. Build a local image (for a framework: the framework "
            "plus the SageMaker training toolkit, pip install sagemaker-training) and "
            f"{_MAP_HINT}, or docker tag it as {ecr.uri}."))

