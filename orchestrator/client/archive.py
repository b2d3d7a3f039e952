"""Unpacking a training job's `model.tar.gz` / `output.tar.gz` on the user's machine, safely.

The archive holds whatever the training container left in /opt/ml/model, so its member names
are untrusted. Every member is checked before a byte is written; one that would land outside
the destination (absolute name, a `..` segment, a link pointing out, a device or FIFO) refuses
the whole archive. The server's own check (`orchestrator.runner.confined`) is out of a client's
reach by the import rule, and this one is smaller: it only has to judge tar members, and the
standard library's `data` extraction filter then applies the same rules again while writing.
"""

from __future__ import annotations

import os
import tarfile
from pathlib import Path, PurePosixPath


class UnsafeArchive(ValueError):
    """An archive member that would escape the destination folder; the message names it."""


def _escapes(name: str) -> bool:
    path = PurePosixPath(name)
    return (not name or "\x00" in name or path.is_absolute() or ".." in path.parts
            or "\\" in name and ".." in name.replace("\\", "/").split("/"))


def check_members(members: list[tarfile.TarInfo]) -> None:
    """UnsafeArchive when any member could write outside the folder it is unpacked into."""
    for m in members:
        if _escapes(m.name):
            raise UnsafeArchive(f"archive member {m.name!r} would be written outside the folder")
        if not (m.isfile() or m.isdir() or m.issym() or m.islnk()):
            raise UnsafeArchive(f"archive member {m.name!r} is a device or FIFO")
        if m.issym():
            target = PurePosixPath(m.name).parent / m.linkname
            if PurePosixPath(m.linkname).is_absolute() or _escapes(os.path.normpath(target)):
                raise UnsafeArchive(f"archive member {m.name!r} links outside the folder "
                                    f"({m.linkname!r})")
        if m.islnk() and _escapes(m.linkname):
            raise UnsafeArchive(f"archive member {m.name!r} links outside the folder "
                                f"({m.linkname!r})")


def unpack(archive: Path, dest: Path) -> list[str]:
    """Unpack `archive` (a .tar.gz) into `dest` after checking every member; returns the names
    of the regular files written. UnsafeArchive (nothing written) when a member escapes."""
    dest.mkdir(parents=True, exist_ok=True)
    with tarfile.open(archive, "r:*") as tar:
        members = tar.getmembers()
        check_members(members)
        tar.extractall(dest, members=members, filter="data")
    return sorted(m.name for m in members if m.isfile())
