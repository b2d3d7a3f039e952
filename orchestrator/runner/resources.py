"""InstanceType → container CPU, memory and GPU limits, capped at what the Docker host has.

Sizes are AWS's published ml.* instance sizes (vCPU, GiB, GPUs), e.g.
https://aws.amazon.com/sagemaker/pricing/ "Instance details". Types missing from the table are
derived from the name: `large` = 2 vCPU, `xlarge` = 4, `Nxlarge` = 4·N, memory per vCPU by
family letter (c: 2 GiB, m: 4 GiB, r: 8 GiB, …), so a new generation still gets sane limits.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

GIB = 1024**3


@dataclass(frozen=True)
class InstanceSize:
    vcpus: int
    memory_gib: float
    gpus: int = 0


def _family(prefix: str, sizes: dict[str, tuple[int, float, int]]) -> dict[str, InstanceSize]:
    return {f"ml.{prefix}.{s}": InstanceSize(*v) for s, v in sizes.items()}


_M = {
    "large": (2, 8, 0),
    "xlarge": (4, 16, 0),
    "2xlarge": (8, 32, 0),
    "4xlarge": (16, 64, 0),
    "8xlarge": (32, 128, 0),
    "12xlarge": (48, 192, 0),
    "16xlarge": (64, 256, 0),
    "24xlarge": (96, 384, 0),
}
_C = {
    "large": (2, 4, 0),
    "xlarge": (4, 8, 0),
    "2xlarge": (8, 16, 0),
    "4xlarge": (16, 32, 0),
    "9xlarge": (36, 72, 0),
    "18xlarge": (72, 144, 0),
}
_C6 = {
    "large": (2, 4, 0),
    "xlarge": (4, 8, 0),
    "2xlarge": (8, 16, 0),
    "4xlarge": (16, 32, 0),
    "8xlarge": (32, 64, 0),
    "12xlarge": (48, 96, 0),
    "16xlarge": (64, 128, 0),
    "24xlarge": (96, 192, 0),
    "32xlarge": (128, 256, 0),
}
_R = {
    "large": (2, 16, 0),
    "xlarge": (4, 32, 0),
    "2xlarge": (8, 64, 0),
    "4xlarge": (16, 128, 0),
    "8xlarge": (32, 256, 0),
    "12xlarge": (48, 384, 0),
    "16xlarge": (64, 512, 0),
    "24xlarge": (96, 768, 0),
}
# g5 and g6 share sizes; g4dn has all but the two largest.
_G = {
    "xlarge": (4, 16, 1),
    "2xlarge": (8, 32, 1),
    "4xlarge": (16, 64, 1),
    "8xlarge": (32, 128, 1),
    "12xlarge": (48, 192, 4),
    "16xlarge": (64, 256, 1),
    "24xlarge": (96, 384, 4),
    "48xlarge": (192, 768, 8),
}

INSTANCE_TYPES: dict[str, InstanceSize] = {
    **_family(
        "t3",
        {"medium": (2, 4, 0), "large": (2, 8, 0), "xlarge": (4, 16, 0), "2xlarge": (8, 32, 0)},
    ),
    **_family(
        "m4",
        {
            "xlarge": (4, 16, 0),
            "2xlarge": (8, 32, 0),
            "4xlarge": (16, 64, 0),
            "10xlarge": (40, 160, 0),
            "16xlarge": (64, 256, 0),
        },
    ),
    **_family("m5", _M),
    **_family("m5d", _M),
    **_family("m6i", {**_M, "32xlarge": (128, 512, 0)}),
    **_family("m7i", {**_M, "48xlarge": (192, 768, 0)}),
    **_family(
        "c4",
        {
            "xlarge": (4, 7.5, 0),
            "2xlarge": (8, 15, 0),
            "4xlarge": (16, 30, 0),
            "8xlarge": (36, 60, 0),
        },
    ),
    **_family("c5", _C),
    **_family(
        "c5n",
        {
            "xlarge": (4, 10.5, 0),
            "2xlarge": (8, 21, 0),
            "4xlarge": (16, 42, 0),
            "9xlarge": (36, 96, 0),
            "18xlarge": (72, 192, 0),
        },
    ),
    **_family("c6i", _C6),
    **_family("c7i", {**_C6, "48xlarge": (192, 384, 0)}),
    **_family("r5", _R),
    **_family("r6i", {**_R, "32xlarge": (128, 1024, 0)}),
    **_family("p2", {"xlarge": (4, 61, 1), "8xlarge": (32, 488, 8), "16xlarge": (64, 732, 16)}),
    **_family("p3", {"2xlarge": (8, 61, 1), "8xlarge": (32, 244, 4), "16xlarge": (64, 488, 8)}),
    **_family("p3dn", {"24xlarge": (96, 768, 8)}),
    **_family("p4d", {"24xlarge": (96, 1152, 8)}),
    **_family("p4de", {"24xlarge": (96, 1152, 8)}),
    **_family("p5", {"48xlarge": (192, 2048, 8)}),
    **_family("g4dn", {k: v for k, v in _G.items() if k not in ("24xlarge", "48xlarge")}),
    **_family("g5", _G),
    **_family("g6", _G),
}

_GIB_PER_VCPU = {"c": 2.0, "m": 4.0, "r": 8.0, "t": 4.0, "x": 16.0, "z": 8.0, "g": 4.0, "p": 8.0}
_GPU_FAMILIES = ("g", "p")
_NAME = re.compile(r"^ml\.([a-z]+)(\d*)([a-z-]*)\.(\d*)(x?large|medium|small|metal)$")


def instance_size(instance_type: str) -> InstanceSize:
    """Published size of an ml.* type; derived from its name when not in the table."""
    known = INSTANCE_TYPES.get(instance_type)
    if known is not None:
        return known
    match = _NAME.match(instance_type)
    if match is None:
        return InstanceSize(2, 8.0)  # ml.m5.large, the API default
    letters, _gen, _extra, mult, size = match.groups()
    vcpus = {"small": 1, "medium": 2, "large": 2, "metal": 96}.get(size, 4)
    if size == "xlarge" and mult:
        vcpus = 4 * int(mult)
    family = letters[0]
    gpus = (1 if vcpus <= 32 else 4 if vcpus <= 96 else 8) if family in _GPU_FAMILIES else 0
    return InstanceSize(vcpus, vcpus * _GIB_PER_VCPU.get(family, 4.0), gpus)


@dataclass(frozen=True)
class HostCapacity:
    cpus: int
    memory_bytes: int
    gpus: int = 0


@dataclass(frozen=True)
class ContainerLimits:
    nano_cpus: int
    memory_bytes: int
    gpus: int
    warnings: tuple[str, ...] = ()


def container_limits(
    instance_type: str,
    instance_count: int,
    host: HostCapacity,
    *,
    oversubscribe: bool = True,
    allow_cpu_for_gpu: bool = False,
) -> ContainerLimits:
    """Limits for one container (one instance) of a job.

    `oversubscribe`: every container may use up to all host CPUs (jobs share the CPUs, as
    processes do); otherwise a multi-instance job's containers split the host's CPUs.
    Memory is always capped at the host's total. Raises `GpuUnavailable` for GPU types on a
    host without GPUs unless `allow_cpu_for_gpu`.
    """
    size = instance_size(instance_type)
    warnings: list[str] = []
    cpu_cap = host.cpus if oversubscribe else max(host.cpus / max(instance_count, 1), 0.1)
    cpus = float(size.vcpus)
    if cpus > cpu_cap:
        warnings.append(
            f"{instance_type} has {size.vcpus} vCPUs; this Docker host allows {cpu_cap:g} "
            f"per container, so the container is limited to {cpu_cap:g} CPUs"
        )
        cpus = cpu_cap
    memory = int(size.memory_gib * GIB)
    if memory > host.memory_bytes:
        warnings.append(
            f"{instance_type} has {size.memory_gib:g} GiB of memory; this Docker host has "
            f"{host.memory_bytes / GIB:.1f} GiB, so the container is limited to that"
        )
        memory = host.memory_bytes
    gpus = 0
    if size.gpus:
        if host.gpus:
            gpus = min(size.gpus, host.gpus)
            if gpus < size.gpus:
                warnings.append(
                    f"{instance_type} has {size.gpus} GPUs; this Docker host has {host.gpus}"
                )
        elif allow_cpu_for_gpu:
            warnings.append(f"{instance_type} is a GPU type; running on CPU only")
        else:
            raise GpuUnavailable(
                f"InstanceType {instance_type} needs {size.gpus} GPU(s) but the Docker host has "
                "none (no NVIDIA devices). Use a CPU instance type such as ml.m5.xlarge, or set "
                "SMLOCAL_ALLOW_CPU_FOR_GPU=1 to run GPU jobs on CPU."
            )
    return ContainerLimits(int(cpus * 1e9), memory, gpus, tuple(warnings))


class GpuUnavailable(Exception):
    pass
