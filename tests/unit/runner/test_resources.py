"""InstanceType → container limits, capped at the Docker host."""

from __future__ import annotations

import pytest

from orchestrator.runner.resources import (
    GIB,
    INSTANCE_TYPES,
    GpuUnavailable,
    HostCapacity,
    InstanceSize,
    container_limits,
    instance_size,
)

BIG = HostCapacity(cpus=256, memory_bytes=4096 * GIB, gpus=16)
SMALL = HostCapacity(cpus=2, memory_bytes=24 * GIB, gpus=0)


def test_table_has_the_common_types() -> None:
    assert instance_size("ml.m5.large") == InstanceSize(2, 8, 0)
    assert instance_size("ml.c5.2xlarge") == InstanceSize(8, 16, 0)
    assert instance_size("ml.p3.16xlarge") == InstanceSize(64, 488, 8)
    assert instance_size("ml.g5.xlarge").gpus == 1


@pytest.mark.parametrize(
    ("name", "vcpus", "gib", "gpus"),
    [
        ("ml.m9.4xlarge", 16, 64, 0),
        ("ml.c9.large", 2, 4, 0),
        ("ml.r9.xlarge", 4, 32, 0),
        ("ml.g9.2xlarge", 8, 32, 1),
        ("ml.p9.48xlarge", 192, 1536, 8),
    ],
)
def test_unknown_types_are_derived_from_the_name(name, vcpus, gib, gpus) -> None:
    assert instance_size(name) == InstanceSize(vcpus, gib, gpus)


def test_every_table_entry_is_consistent_with_its_name() -> None:
    for name, size in INSTANCE_TYPES.items():
        assert size.vcpus >= 1 and size.memory_gib >= 1, name
        assert (size.gpus > 0) == (name.split(".")[1][0] in "gp"), name


def test_limits_are_the_instance_size_on_a_big_host() -> None:
    limits = container_limits("ml.c5.xlarge", 1, BIG)
    assert (limits.nano_cpus, limits.memory_bytes, limits.gpus) == (4 * 10**9, 8 * GIB, 0)
    assert limits.warnings == ()


def test_limits_are_capped_at_the_host_with_warnings() -> None:
    limits = container_limits("ml.m5.24xlarge", 1, SMALL)
    assert limits.nano_cpus == 2 * 10**9 and limits.memory_bytes == 24 * GIB
    assert len(limits.warnings) == 2 and "96 vCPUs" in limits.warnings[0]


def test_without_oversubscription_instances_share_the_host_cpus() -> None:
    limits = container_limits("ml.m5.xlarge", 4, SMALL, oversubscribe=False)
    assert limits.nano_cpus == int(0.5 * 10**9)
    assert container_limits("ml.m5.xlarge", 4, SMALL).nano_cpus == 2 * 10**9


def test_gpu_types_need_gpus_or_an_explicit_opt_in() -> None:
    with pytest.raises(GpuUnavailable, match="SMLOCAL_ALLOW_CPU_FOR_GPU=1"):
        container_limits("ml.g5.xlarge", 1, SMALL)
    on_cpu = container_limits("ml.g5.xlarge", 1, SMALL, allow_cpu_for_gpu=True)
    assert on_cpu.gpus == 0 and any("CPU only" in w for w in on_cpu.warnings)
    assert container_limits("ml.p3.8xlarge", 1, BIG).gpus == 4
    capped = container_limits("ml.p3.16xlarge", 1, HostCapacity(64, 1024 * GIB, 2))
    assert capped.gpus == 2 and capped.warnings
