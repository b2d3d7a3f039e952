"""Confined file access (issue 16): names that leave their folder are refused, and no walk,
read or write follows a link, opens a FIFO or reads a device."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from orchestrator.runner import confined, layout
from orchestrator.runner.confined import UnsafeName


@pytest.mark.parametrize(
    "name",
    ["a.csv", "sub/dir/b.csv", "..a", "a..", "...", ".hidden", "a\\b.csv", "é/ü.txt", "x" * 255],
)
def test_ordinary_names_are_accepted(name: str) -> None:
    assert confined.confined_parts(name) == tuple(name.split("/"))


@pytest.mark.parametrize(
    ("name", "why"),
    [
        ("", "empty"),
        ("..", "'..'"),
        ("../x", "'..'"),
        ("a/../../x", "'..'"),
        ("a/./b", "'.'"),
        ("/etc/passwd", "absolute"),
        ("a//b", "empty path segment"),
        ("a/", "empty path segment"),
        ("a\x00b", "NUL"),
        ("..\\..\\x", "backslashes"),
        ("a/..\\x", "backslashes"),
        ("x" * 256, "longer than 255"),
        ("é" * 128, "longer than 255"),  # 256 bytes in UTF-8
    ],
)
def test_names_that_could_leave_the_folder_are_refused(name: str, why: str) -> None:
    with pytest.raises(UnsafeName, match=why):
        confined.confined_parts(name)


def test_a_name_that_is_both_a_file_and_a_folder_is_a_conflict() -> None:
    confined.check_no_conflicts(["a/b", "a/c", "ab"])
    with pytest.raises(UnsafeName, match="'a' would be both a file and the folder of 'a/b'"):
        confined.check_no_conflicts(["a/b", "a"])


def outside(tmp_path: Path) -> Path:
    secret = tmp_path / "outside" / "secret.txt"
    secret.parent.mkdir()
    secret.write_text("SECRET")
    return secret


def test_create_file_makes_folders_and_refuses_planted_links(tmp_path: Path) -> None:
    root, secret = tmp_path / "root", outside(tmp_path)
    with confined.create_file(root, ("a", "b", "c.txt")) as handle:
        handle.write(b"data")
    assert (root / "a/b/c.txt").read_bytes() == b"data"

    (root / "link.txt").symlink_to(secret)
    (root / "dirlink").symlink_to(secret.parent)
    os.mkfifo(root / "fifo")
    for parts in [("link.txt",), ("dirlink", "new.txt"), ("fifo",)]:
        with pytest.raises(OSError):
            confined.create_file(root, parts).close()  # no hang on the FIFO either
    assert secret.read_text() == "SECRET"
    assert sorted(p.name for p in secret.parent.iterdir()) == ["secret.txt"]


def hostile_tree(tmp_path: Path) -> tuple[Path, Path]:
    """A folder as a container may leave it: a real file, links out, a FIFO."""
    root, secret = tmp_path / "root", outside(tmp_path)
    (root / "sub").mkdir(parents=True)
    (root / "sub/real.txt").write_text("real")
    (root / "leak.txt").symlink_to(secret)
    (root / "dirlink").symlink_to(secret.parent)
    os.mkfifo(root / "fifo")
    return root, secret


def test_iter_tree_reports_links_without_following_and_skips_special_files(
    tmp_path: Path,
) -> None:
    root, secret = hostile_tree(tmp_path)
    nodes = {n.rel: n for n in confined.iter_tree(root)}
    assert sorted(nodes) == ["dirlink", "leak.txt", "sub", "sub/real.txt"]
    assert nodes["leak.txt"].kind == "link" and nodes["leak.txt"].target == str(secret)
    assert nodes["dirlink"].kind == "link"  # not walked into
    assert nodes["sub/real.txt"].kind == "file" and nodes["sub/real.txt"].size == 4


def test_a_root_that_is_a_link_yields_nothing(tmp_path: Path) -> None:
    secret = outside(tmp_path)
    (tmp_path / "data").symlink_to(secret.parent)
    assert list(confined.iter_tree(tmp_path / "data")) == []
    assert not confined.has_files(tmp_path / "data")
    assert confined.open_file(tmp_path / "data", "secret.txt") is None


def test_open_file_opens_only_regular_files_reached_without_links(tmp_path: Path) -> None:
    root, secret = hostile_tree(tmp_path)
    with confined.open_file(root, "sub/real.txt") as handle:
        assert handle.read() == b"real"
    for rel in ["leak.txt", "dirlink/secret.txt", "fifo", "missing", "sub"]:
        assert confined.open_file(root, rel) is None, rel


def test_a_file_swapped_for_a_link_after_the_walk_is_not_read(tmp_path: Path) -> None:
    """The race the descriptor walk exists for: listed as a regular file, a link by the time
    it is opened."""
    root, secret = tmp_path / "root", outside(tmp_path)
    root.mkdir()
    (root / "ckpt.bin").write_text("mine")
    listed = [n.rel for n in confined.iter_tree(root) if n.kind == "file"]
    (root / "ckpt.bin").unlink()
    (root / "ckpt.bin").symlink_to(secret)
    assert [confined.open_file(root, rel) for rel in listed] == [None]


def test_a_folder_swapped_for_a_link_mid_walk_is_not_entered(tmp_path: Path) -> None:
    root, secret = tmp_path / "root", outside(tmp_path)
    (root / "a").mkdir(parents=True)
    (root / "a/x.txt").write_text("x")
    (root / "b").mkdir()
    (root / "b/y.txt").write_text("y")
    seen = []
    for node in confined.iter_tree(root):
        seen.append(node.rel)
        if node.rel == "a/x.txt":  # swap b for a link to the secret's folder
            (root / "b/y.txt").unlink()
            (root / "b").rmdir()
            (root / "b").symlink_to(secret.parent)
    assert "b/secret.txt" not in seen and "b" in seen


def test_link_or_copy_links_the_opened_file(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    (src / "a.csv").write_text("1,2")
    with confined.open_file(src, "a.csv") as handle:
        confined.link_or_copy(handle, tmp_path / "dst", ("x", "a.csv"))
    assert (tmp_path / "dst/x/a.csv").read_text() == "1,2"
    assert (tmp_path / "dst/x/a.csv").stat().st_ino == (src / "a.csv").stat().st_ino


def test_failure_file_that_is_a_link_or_fifo_is_not_read(tmp_path: Path) -> None:
    secret = outside(tmp_path)
    dirs = layout.HostDirs(tmp_path / "algo-1")
    dirs.output.mkdir(parents=True)
    dirs.failure_file.symlink_to(secret)
    assert layout.read_failure(dirs) is None
    dirs.failure_file.unlink()
    os.mkfifo(dirs.failure_file)
    assert layout.read_failure(dirs) is None  # and does not block
    dirs.failure_file.unlink()
    dirs.failure_file.write_text("bad input")
    assert layout.read_failure(dirs) == "bad input"


def test_remove_file_removes_a_link_never_its_target(tmp_path: Path) -> None:
    secret = outside(tmp_path)
    root = tmp_path / "root"
    (root / "d").mkdir(parents=True)
    (root / "d/f.txt").write_text("x")
    (root / "d/link").symlink_to(secret)
    (root / "via").symlink_to(secret.parent)  # a folder link on the way is not followed
    confined.remove_file(root, "d/link")
    confined.remove_file(root, f"via/{secret.name}")
    confined.remove_file(root, "d/f.txt")
    confined.remove_file(root, "d/missing.txt")  # missing is fine
    assert secret.exists() and not (root / "d/link").is_symlink()
    assert not (root / "d/f.txt").exists() and (root / "d").is_dir()


def test_swarm_files_sent_back_mirror_the_node(tmp_path: Path) -> None:
    """A checkpoint the container deleted on its node is deleted on the host too; read-only
    mounts are never touched."""
    import io
    import tarfile

    from orchestrator.runner.swarm_transfer import unpack

    rw, ro = tmp_path / "ckpt", tmp_path / "input"
    for folder in (rw / "keep", ro):
        folder.mkdir(parents=True)
    (rw / "old.txt").write_text("old")
    (rw / "keep/k.txt").write_text("k")
    (ro / "data.csv").write_text("1")
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, data in (("m0/keep/k.txt", b"k"), ("m0/new.txt", b"new"), ("m1/x", b"no")):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    unpack(buf.getvalue(), [(str(rw), "/opt/ml/checkpoints", False),
                             (str(ro), "/opt/ml/input/data/train", True)])
    assert sorted(n.rel for n in confined.iter_tree(rw) if n.kind == "file") == [
        "keep/k.txt", "new.txt"]
    assert sorted(p.name for p in ro.iterdir()) == ["data.csv"]
