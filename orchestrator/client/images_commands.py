"""`smlocal images list|build`: the local stand-ins that run AWS images (built-in algorithms and
framework images), whether each is built on this machine, and building them.

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
