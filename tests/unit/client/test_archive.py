"""`smlocal train --download` unpacks artifacts only when no member escapes the folder."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import pytest

from orchestrator.client.archive import UnsafeArchive, unpack


def archive(path: Path, *members: tuple[str, str | None, bytes]) -> Path:
    """members: (name, link target or None, content)."""
    with tarfile.open(path, "w:gz") as tar:
        for name, link, data in members:
            info = tarfile.TarInfo(name)
            if link is not None:
                info.type, info.linkname = tarfile.SYMTYPE, link
                tar.addfile(info)
            else:
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
    return path


def test_an_ordinary_archive_is_unpacked(tmp_path: Path) -> None:
    tgz = archive(tmp_path / "m.tar.gz", ("model.pkl", None, b"x"), ("sub/a.txt", None, b"a"),
                  ("sub/link", "a.txt", b""))
    assert unpack(tgz, tmp_path / "out") == ["model.pkl", "sub/a.txt"]
    assert (tmp_path / "out" / "sub" / "link").read_text() == "a"


@pytest.mark.parametrize(("name", "link"), [
    ("../escape.txt", None), ("/etc/evil", None), ("a/../../escape", None),
    ("link", "/etc/passwd"), ("sub/link", "../../outside"),
])
def test_escaping_members_refuse_the_whole_archive(tmp_path: Path, name: str,
                                                   link: str | None) -> None:
    tgz = archive(tmp_path / "m.tar.gz", ("fine.txt", None, b"ok"), (name, link, b"evil"))
    with pytest.raises(UnsafeArchive, match="outside the folder"):
        unpack(tgz, tmp_path / "out" / "dest")
    assert not (tmp_path / "out" / "dest" / "fine.txt").exists()  # nothing written
    assert not (tmp_path / "out" / "escape.txt").exists()
