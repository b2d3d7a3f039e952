"""`smlocal images list|build`: the local stand-ins that run AWS images (built-in algorithms and
framework images), whether each is built on this machine, and building them; `smlocal tune`
calls `build_on_first_use` to build those its request needs before submitting.

Unlike the other client commands these act on this machine's Docker engine and on the
repository's build scripts (`scripts/build-images.sh`, `containers/<name>/`), not on an
endpoint: a stand-in must be built where the server runs its containers. Which AWS
repositories each stand-in runs comes from `orchestrator.images`, the table the server resolves
with (a pure module; tests/unit/client/test_imports.py allows it here only).
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from orchestrator.client.endpoint import EXIT_BAD_INPUT, EXIT_FAILED, EXIT_OK, error

ROOT = Path(__file__).resolve().parents[2]
BUILD_SCRIPT = ROOT / "scripts" / "build-images.sh"


@dataclass(frozen=True)
class StandIn:
    name: str  # containers/<name>, image smlocal/<name>:latest
    image: str
    runs: str  # what it stands in for


def stand_ins() -> list[StandIn]:
    """Every stand-in image and the AWS repositories it runs, from the server's own table."""
    from orchestrator.builtin_algorithms import ALGORITHMS
    from orchestrator.images import FRAMEWORK_STAND_INS

    runs: dict[str, list[str]] = {}
    for algorithm in ALGORITHMS.values():
        if algorithm.stand_in:
            runs.setdefault(algorithm.stand_in, []).append(
                f"built-in {algorithm.title} ({', '.join(algorithm_repositories(algorithm))})")
    for repository, framework in FRAMEWORK_STAND_INS.items():
        mode = " with sagemaker_program" if framework.script_mode_only else ""
        runs.setdefault(framework.image, []).append(f"{repository}{mode}")
    return [StandIn(image.split("/", 1)[1].split(":", 1)[0], image, "; ".join(what))
            for image, what in runs.items()]


def algorithm_repositories(algorithm: Any) -> list[str]:
    from orchestrator.aws_image_registries import REPOSITORIES

    return sorted(repo for repo, families in REPOSITORIES.items()
                  if any(f == algorithm.name for f in families))


def _inspect(image: str) -> dict[str, Any] | None:
    """`docker image inspect` of `image`; None when it is not there. RuntimeError when no
    Docker engine answers."""
    try:
        run = subprocess.run(["docker", "image", "inspect", "--format",
                              "{{.Size}} {{.Created}}", image],
                             capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise RuntimeError(f"cannot run docker: {exc}") from exc
    if run.returncode != 0:
        if "No such image" in run.stderr or "No such object" in run.stderr:
            return None
        raise RuntimeError(run.stderr.strip() or "docker image inspect failed")
    size, created = run.stdout.split(maxsplit=1)
    return {"size": int(size), "created": created.strip()[:19].replace("T", " ")}


def cmd_images_list(args: Any) -> int:
    try:
        rows = [(s, _inspect(s.image)) for s in stand_ins()]
    except RuntimeError as exc:
        return error(str(exc), EXIT_FAILED)
    width = max(len(s.image) for s, _ in rows)
    print(f"{'IMAGE':<{width}}  {'BUILT':<19}  {'SIZE':>7}  RUNS (every region and version)")
    for s, info in rows:
        built = info["created"] if info else "no"
        size = f"{info['size'] / 1e9:.2f} GB" if info else "-"
        print(f"{s.image:<{width}}  {built:<19}  {size:>7}  {s.runs}")
    missing = [s.name for s, info in rows if info is None]
    if missing:
        print(f"\nbuild the missing ones with: smlocal images build {' '.join(missing)}")
    return EXIT_OK


def cmd_images_build(args: Any) -> int:
    known = {s.name: s for s in stand_ins()}
    unknown = [n for n in args.names if n not in known]
    if unknown:
        return error(f"unknown stand-in {', '.join(unknown)}; choose from "
                     f"{', '.join(known)}", EXIT_BAD_INPUT)
    if not BUILD_SCRIPT.is_file():
        return error(f"{BUILD_SCRIPT} not found: building the stand-ins needs smlocal's source "
                     "tree (a clone, installed with pip install -e)", EXIT_FAILED)
    try:
        wanted = args.names or [n for n, s in known.items()
                                if args.force or _inspect(s.image) is None]
    except RuntimeError as exc:
        return error(str(exc), EXIT_FAILED)
    if not wanted:
        print("every stand-in is built (smlocal images build --force NAME to rebuild)")
        return EXIT_OK
    env = dict(os.environ, SMLOCAL_BUILD_PROGRESS="1")
    if args.no_cache:
        env["SMLOCAL_BUILD_NO_CACHE"] = "1"
    print(f"building {', '.join(wanted)} (Docker's output follows; later builds reuse its "
          "cache and the downloaded wheels)", flush=True)
    code = subprocess.run(["bash", str(BUILD_SCRIPT), *wanted], env=env,
                          stdout=sys.stdout, stderr=sys.stderr).returncode
    return EXIT_OK if code == 0 else EXIT_FAILED


def needed_stand_ins(body: dict[str, Any]) -> list[StandIn]:
    """The stand-ins a CreateHyperParameterTuningJob body's images run on (none for images
    the `SMLOCAL_IMAGE_MAP` map covers, the user's own images, or AWS images without one)."""
    from orchestrator.images import (
        MAP_ENV,
        ImageResolver,
        builtin_algorithm,
        framework_stand_in,
    )

    path = os.environ.get(MAP_ENV)
    resolver = ImageResolver.from_path(Path(path) if path else None)
    definitions = body.get("TrainingJobDefinitions") or [body.get("TrainingJobDefinition") or {}]
    by_image = {s.image: s for s in stand_ins()}
    needed: dict[str, StandIn] = {}
    for definition in definitions:
        if not isinstance(definition, dict):
            continue
        image = (definition.get("AlgorithmSpecification") or {}).get("TrainingImage")
        hps = definition.get("StaticHyperParameters")
        if not isinstance(image, str) or resolver.mapped(image):
            continue
        algorithm = builtin_algorithm(image, hps)
        framework = framework_stand_in(image, hps)
        local = (algorithm.stand_in if algorithm else None) or (framework.image if framework
                                                                 else None)
        if local in by_image:
            needed[local] = by_image[local]
    return list(needed.values())


def build_on_first_use(body: dict[str, Any], endpoint: str, embedded: bool) -> int:
    """Before `smlocal tune` submits to a server on this machine: build the stand-ins the
    request needs that are not built yet, with Docker's progress (their first use). Does
    nothing for a remote server (it runs containers on its own engine), when Docker does not
    answer here, or with SMLOCAL_BUILD_ON_FIRST_USE=0. EXIT_FAILED when a build fails."""
    from urllib.parse import urlparse

    local = embedded or urlparse(endpoint).hostname in ("127.0.0.1", "localhost", "::1")
    if not local or os.environ.get("SMLOCAL_BUILD_ON_FIRST_USE") == "0":
        return EXIT_OK
    try:
        missing = [s for s in needed_stand_ins(body) if _inspect(s.image) is None]
    except (RuntimeError, ValueError):
        return EXIT_OK  # no engine here, or an unreadable map: the server says what is wrong
    if not missing or not BUILD_SCRIPT.is_file():
        return EXIT_OK
    for s in missing:
        print(f"{s.image} (runs {s.runs}) is not built: building it now, its first use; later "
              "runs reuse it", flush=True)
    env = dict(os.environ, SMLOCAL_BUILD_PROGRESS="1")
    code = subprocess.run(["bash", str(BUILD_SCRIPT), *[s.name for s in missing]], env=env,
                          stdout=sys.stdout, stderr=sys.stderr).returncode
    if code != 0:
        return error(f"building {', '.join(s.image for s in missing)} failed (see above); "
                     f"retry with: smlocal images build {' '.join(s.name for s in missing)}",
                     EXIT_FAILED)
    return EXIT_OK


def register(sub: Any) -> None:
    """Add `smlocal images list|build` to `smlocal`'s sub-parsers."""
    p = sub.add_parser("images", help="the local stand-ins for AWS images: list, build")
    images = p.add_subparsers(dest="images_command", required=True)
    s = images.add_parser("list", help="each stand-in, whether it is built, what it runs")
    s.set_defaults(func=cmd_images_list)
    s = images.add_parser("build", help="build stand-ins (default: those not built yet), "
                          "showing Docker's progress")
    s.add_argument("names", nargs="*", metavar="NAME",
                   help="e.g. pytorch-framework (see smlocal images list)")
    s.add_argument("--force", action="store_true",
                   help="rebuild every stand-in even when built (Docker's cache makes it quick)")
    s.add_argument("--no-cache", action="store_true", help="rebuild without Docker's cache")
    s.set_defaults(func=cmd_images_build)
