"""File access confined to one folder: no name or link may lead outside it (issue 16).

The server runs as root and works on folders that a training container also writes to, and on
names that come from S3 keys anyone with access to a bucket may choose. So:

- **Names → paths** (`confined_parts`): an S3 key (relative to its channel prefix or checkpoint
  URI), a manifest entry or an archive member becomes path segments only when every segment is
  an ordinary name: no NUL, no absolute path, no empty, `.` or `..` segment, no backslash
  piece `..` (a separator on Windows), no segment over NAME_MAX bytes. Anything else is refused
  before a byte is written.
- **Writing** (`create_file`): each folder is created and then opened relative to its parent's
  descriptor with O_NOFOLLOW, and the file with O_NOFOLLOW|O_NONBLOCK, so a symlink or FIFO
  planted on the way (by an earlier container, or swapped in mid-way) makes the open fail
  instead of being followed.
- **Reading** (`iter_tree`, `open_file`): trees are walked through directory descriptors with
  O_NOFOLLOW; only regular files are opened (fstat after open, so a file swapped for a link,
  FIFO or device between listing and opening is refused, not read). Symlinks are reported as
  links (their target text only) and never followed; FIFOs, sockets and devices are skipped.

Linux semantics (openat(2), O_NOFOLLOW only guards the last component, hence the
descriptor-by-descriptor walk; see also CVE-2018-15664 for the docker cp variant of this race).
"""

from __future__ import annotations

import contextlib
import logging
import os
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Literal

log = logging.getLogger(__name__)

NAME_MAX = 255  # bytes in one path segment (Linux)
MAX_DEPTH = 128  # folders nested deeper are not walked (each level holds a descriptor)

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_READ_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
_WRITE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC


class UnsafeName(ValueError):
    """A name that would not stay inside its folder; the message says why."""


def confined_parts(name: str) -> tuple[str, ...]:
    """The segments of relative `name`, or UnsafeName when it could leave its folder."""
    if not name:
        raise UnsafeName("the name is empty")
    if "\x00" in name:
        raise UnsafeName("the name contains a NUL character")
    if name.startswith("/"):
        raise UnsafeName("the name is an absolute path")
    parts = tuple(name.split("/"))
    for part in parts:
        if part == "":
            raise UnsafeName("the name has an empty path segment ('//' or a trailing '/')")
        if part in (".", ".."):
            raise UnsafeName(f"the name has a '{part}' path segment")
        if "\\" in part and ".." in part.split("\\"):
            raise UnsafeName("the name has a '..' segment written with backslashes")
        if len(part.encode("utf-8", "surrogateescape")) > NAME_MAX:
            raise UnsafeName(f"a path segment is longer than {NAME_MAX} bytes")
    return parts


def check_no_conflicts(names: list[str]) -> None:
    """UnsafeName when one name is a folder of another (S3 allows objects `a` and `a/b`)."""
    files = set(names)
    for name in names:
        parts = name.split("/")
        for depth in range(1, len(parts)):
            folder = "/".join(parts[:depth])
            if folder in files:
                raise UnsafeName(f"'{folder}' would be both a file and the folder of '{name}'")


# ---- writing ---------------------------------------------------------------------------------


def create_file(root: Path, parts: tuple[str, ...]) -> BinaryIO:
    """A new (or truncated) regular file `root/parts...` open for writing; folders on the way
    are created. OSError when anything on the way is not a real folder."""
    fd = _open_dir_chain(root, parts[:-1], create=True)
    try:
        file_fd = os.open(parts[-1], _WRITE_FLAGS, 0o666, dir_fd=fd)
    finally:
        os.close(fd)
    return _regular(file_fd, "wb")


def link_or_copy(source: BinaryIO, root: Path, parts: tuple[str, ...]) -> None:
    """`root/parts...` as a hard link to the open regular file `source`, else a copy of it."""
    fd = _open_dir_chain(root, parts[:-1], create=True)
    try:
        # linkat through /proc/self/fd links the inode we opened, not whatever the name
        # points to now.
        os.link(f"/proc/self/fd/{source.fileno()}", parts[-1], dst_dir_fd=fd)
        return
    except OSError:
        pass
    finally:
        os.close(fd)
    source.seek(0)
    with create_file(root, parts) as out:
        while chunk := source.read(1024 * 1024):
            out.write(chunk)


# ---- reading ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Node:
    """One entry of a tree, as lstat saw it. `target` is a link's text (never followed)."""

    rel: str
    kind: Literal["file", "dir", "link"]
    size: int
    mtime_ns: int
    mode: int
    target: str | None = None


def iter_tree(root: Path) -> Iterator[Node]:
    """Every folder, regular file and symlink below `root`, depth first in name order.

    `root` itself must be a real folder (a symlink there yields nothing); FIFOs, sockets and
    devices are skipped; entries that vanish while walking are skipped."""
    try:
        fd = os.open(root, _DIR_FLAGS)
    except OSError:
        return
    try:
        yield from _walk(fd, "", 0)
    finally:
        os.close(fd)


def open_file(root: Path, rel: str) -> BinaryIO | None:
    """Regular file `root/rel` open for reading, or None when it is missing or anything on the
    way (or the file itself) is not a real folder / regular file."""
    parts = tuple(rel.split("/"))
    try:
        fd = _open_dir_chain(root, parts[:-1], create=False)
    except OSError:
        return None
    try:
        file_fd = os.open(parts[-1], _READ_FLAGS, dir_fd=fd)
    except OSError:
        return None
    finally:
        os.close(fd)
    try:
        return _regular(file_fd, "rb")
    except OSError:
        return None


def remove_file(root: Path, rel: str) -> None:
    """Delete file (or link) `root/rel`, reached without following a link on the way; the
    link itself is removed, never its target. Missing is fine."""
    parts = tuple(rel.split("/"))
    try:
        fd = _open_dir_chain(root, parts[:-1], create=False)
    except OSError:
        return
    try:
        with contextlib.suppress(FileNotFoundError, IsADirectoryError, PermissionError):
            os.unlink(parts[-1], dir_fd=fd)
    finally:
        os.close(fd)


def has_files(root: Path) -> bool:
    """True when the tree holds at least one regular file."""
    return any(node.kind == "file" for node in iter_tree(root))


def _walk(dir_fd: int, prefix: str, depth: int) -> Iterator[Node]:
    try:
        names = sorted(os.listdir(dir_fd))
    except OSError:
        return
    for name in names:
        rel = f"{prefix}{name}"
        try:
            st = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
        except OSError:
            continue
        mode = st.st_mode
        if stat.S_ISREG(mode):
            yield Node(rel, "file", st.st_size, st.st_mtime_ns, mode)
        elif stat.S_ISLNK(mode):
            try:
                target = os.readlink(name, dir_fd=dir_fd)
            except OSError:
                continue
            yield Node(rel, "link", 0, st.st_mtime_ns, mode, target)
        elif stat.S_ISDIR(mode):
            yield Node(rel, "dir", 0, st.st_mtime_ns, mode)
            if depth + 1 >= MAX_DEPTH:
                log.warning("not walking below %s: more than %d folders deep", rel, MAX_DEPTH)
                continue
            try:
                child = os.open(name, _DIR_FLAGS, dir_fd=dir_fd)
            except OSError:  # replaced by a link or removed since the stat
                continue
            try:
                yield from _walk(child, rel + "/", depth + 1)
            finally:
                os.close(child)


def _open_dir_chain(root: Path, parts: tuple[str, ...], *, create: bool) -> int:
    """A descriptor of folder `root/parts...`, each step below `root` opened with O_NOFOLLOW.
    `root` is the server's own folder (created if missing); its last component must not be
    a link either."""
    if create:
        root.mkdir(parents=True, exist_ok=True)
    fd = os.open(root, _DIR_FLAGS)
    try:
        for part in parts:
            if create:
                with contextlib.suppress(FileExistsError):
                    os.mkdir(part, 0o777, dir_fd=fd)
            child = os.open(part, _DIR_FLAGS, dir_fd=fd)
            os.close(fd)
            fd = child
    except BaseException:
        os.close(fd)
        raise
    return fd


def _regular(fd: int, mode: str) -> BinaryIO:
    """`fd` as a file object when it is a regular file; closes it and raises OSError if not."""
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise OSError(f"not a regular file (mode {oct(os.fstat(fd).st_mode)})")
        os.set_blocking(fd, True)
    except BaseException:
        os.close(fd)
        raise
    return os.fdopen(fd, mode)
