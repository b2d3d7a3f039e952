"""swarm_transfer.mirror_folder: a running swarm task's checkpoint folder, as Docker's archive
endpoint returns it, mirrored into its host folder (the periodic checkpoint sync on Swarm)."""

from __future__ import annotations

import io
import os
import tarfile
from pathlib import Path

from orchestrator.runner import confined
from orchestrator.runner.swarm_transfer import mirror_folder


def archive(files: dict[str, tuple[bytes, int]], top: str = "checkpoints") -> io.BytesIO:
    """What GET /containers/ID/archive?path=/opt/ml/checkpoints sends: the folder itself
    first, its members under its own name."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        folder = tarfile.TarInfo(top)
        folder.type = tarfile.DIRTYPE
        tar.addfile(folder)
        for name, (data, mtime) in files.items():
            info = tarfile.TarInfo(f"{top}/{name}")
            info.size, info.mtime = len(data), mtime
            tar.addfile(info, io.BytesIO(data))
        link = tarfile.TarInfo(f"{top}/link")
        link.type, link.linkname = tarfile.SYMTYPE, "/etc/passwd"
        tar.addfile(link)
    buf.seek(0)
    return buf


def files(root: Path) -> dict[str, bytes]:
    return {n.rel: (root / n.rel).read_bytes() for n in confined.iter_tree(root)
            if n.kind == "file"}


def test_new_changed_and_deleted_files_reach_the_host_folder_only(tmp_path: Path) -> None:
    model, ckpt, data = tmp_path / "model", tmp_path / "checkpoints", tmp_path / "train"
    for folder in (model, ckpt / "sub", data):
        folder.mkdir(parents=True)
    (model / "model.pt").write_bytes(b"m")
    (data / "x.csv").write_bytes(b"1")
    (ckpt / "old.txt").write_bytes(b"restored from S3, deleted by the training")
    (ckpt / "sub" / "a.txt").write_bytes(b"a0")
    mounts = [(str(model), "/opt/ml/model", False), (str(ckpt), "/opt/ml/checkpoints", False),
              (str(data), "/opt/ml/input/data/train", True)]

    written = mirror_folder(archive({"sub/a.txt": (b"a1", 1000), "new.txt": (b"n", 1000)}),
                            mounts, 1)
    assert written == 2
    assert files(ckpt) == {"new.txt": b"n", "sub/a.txt": b"a1"}  # no link, old.txt gone
    assert os.stat(ckpt / "new.txt").st_mtime_ns == 1000 * 10**9  # the node's mtime
    assert files(model) == {"model.pt": b"m"} and files(data) == {"x.csv": b"1"}

    # Unchanged files are not written again (the sync would send them again); changes are.
    before = os.stat(ckpt / "new.txt").st_ino, os.stat(ckpt / "new.txt").st_mtime_ns
    written = mirror_folder(archive({"sub/a.txt": (b"a2", 1001), "new.txt": (b"n", 1000)}),
                            mounts, 1)
    assert written == 1
    assert (os.stat(ckpt / "new.txt").st_ino, os.stat(ckpt / "new.txt").st_mtime_ns) == before
    assert files(ckpt) == {"new.txt": b"n", "sub/a.txt": b"a2"}

    assert mirror_folder(archive({}), mounts, 1) == 0  # all deleted on the node
    assert files(ckpt) == {} and files(model) == {"model.pt": b"m"}


def test_unsafe_names_are_dropped(tmp_path: Path) -> None:
    ckpt = tmp_path / "checkpoints"
    ckpt.mkdir()
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name in ("checkpoints/../escape.txt", "checkpoints/ok.txt"):
            info = tarfile.TarInfo(name)
            info.size = 2
            tar.addfile(info, io.BytesIO(b"hi"))
    buf.seek(0)
    assert mirror_folder(buf, [(str(ckpt), "/opt/ml/checkpoints", False)], 0) == 1
    assert files(ckpt) == {"ok.txt": b"hi"} and not (tmp_path / "escape.txt").exists()


def test_a_node_folder_read_here_comes_back_as_the_helper_would_send_it(tmp_path: Path) -> None:
    """pack_node_folder + unpack (stage-out on the manager's own node): the named writable
    folders' regular files reach their host folders, files deleted on the node are deleted,
    links the container left are never followed, other folders are not sent."""
    from orchestrator.runner.swarm_transfer import pack_node_folder, unpack

    node = tmp_path / "node"
    (node / "m0" / "sub").mkdir(parents=True)
    (node / "m1").mkdir()
    (node / "m0" / "model.bin").write_bytes(b"m")
    (node / "m0" / "sub" / "w.txt").write_bytes(b"w")
    (node / "m0" / "secret").symlink_to("/etc/passwd")
    (node / "m0" / "outside").symlink_to(tmp_path)
    (node / "m1" / "x.csv").write_bytes(b"input, read-only")
    model, data = tmp_path / "model", tmp_path / "train"
    model.mkdir()
    data.mkdir()
    (model / "stale.txt").write_bytes(b"sent in, deleted by the job")
    mounts = [(str(model), "/opt/ml/model", False), (str(data), "/opt/ml/input/data/train", True)]

    unpack(pack_node_folder(node, ["m0"]), mounts)

    assert files(model) == {"model.bin": b"m", "sub/w.txt": b"w"}
    assert not (model / "secret").exists() and not (model / "outside").exists()
    assert files(data) == {}
