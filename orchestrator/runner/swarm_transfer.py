"""Files between this machine and a swarm node (used by `swarm_engine`): the scripts the
one-shot staging helpers run on the node, the HTTP endpoint they fetch from and send back to
(one random token per transfer), and the tars both ways. Unpacking goes only through
`runner.confined` (regular files and folders; names checked; links and special files dropped)."""

from __future__ import annotations

import io
import logging
import os
import secrets
import tarfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import BinaryIO

from orchestrator.runner import confined

log = logging.getLogger(__name__)

# The helper runs in `helper_image` (any image with python3): GET or PUT one tar.
STAGE_IN = r"""
import os, sys, tarfile, urllib.request
url, root = sys.argv[1], sys.argv[2]
os.makedirs(root, exist_ok=True)
with urllib.request.urlopen(url, timeout=600) as response:
    with tarfile.open(fileobj=response, mode="r|") as tar:
        for member in tar:
            parts = member.name.split("/")
            if member.name.startswith("/") or ".." in parts:
                continue
            if member.isdir() or member.isfile():
                tar.extract(member, root, set_attrs=False)
for top in os.listdir(root):
    for base, dirs, _files in os.walk(os.path.join(root, top)):
        for d in [base] + [os.path.join(base, d) for d in dirs]:
            os.chmod(d, 0o777)
print("staged", flush=True)
"""
# Delete the node folders (children of argv[1]) not named in argv[3:] and older than argv[2]
# seconds: a folder in the middle of its stage-in is young (`runner.swarm_sweep`).
SWEEP = r"""
import os, shutil, sys, time
root, age, keep = sys.argv[1], float(sys.argv[2]), set(sys.argv[3:])
for name in sorted(os.listdir(root)) if os.path.isdir(root) else []:
    path = os.path.join(root, name)
    if name in keep or os.path.islink(path) or not os.path.isdir(path):
        continue
    if time.time() - os.stat(path).st_mtime > age:
        shutil.rmtree(path, ignore_errors=True)
        print("swept", name, flush=True)
"""

STAGE_OUT = r"""
import io, os, shutil, sys, tarfile, urllib.request
url, root, names = sys.argv[1], sys.argv[2], sys.argv[3:]
buf = io.BytesIO()
with tarfile.open(fileobj=buf, mode="w") as tar:
    for name in names:
        top = os.path.join(root, name)
        for base, dirs, files in os.walk(top):
            dirs.sort()
            for f in sorted(files):
                path = os.path.join(base, f)
                if os.path.isfile(path) and not os.path.islink(path):
                    tar.add(path, os.path.relpath(path, root), recursive=False)
data = buf.getvalue()
if url != "-":
    request = urllib.request.Request(url, data=data, method="PUT")
    urllib.request.urlopen(request, timeout=600).read()
shutil.rmtree(root, ignore_errors=True)
print("sent", len(data), flush=True)
"""


class TransferServer:
    """HTTP on the manager's swarm address: GET /in/TOKEN is a tar of a container's mounts
    (`m<i>/...`), PUT /out/TOKEN unpacks one into its writable mounts. Tokens are random and
    single-purpose; nothing else is served."""

    def __init__(self, address: str) -> None:
        self._offers: dict[str, tuple[str, list]] = {}
        self._lock = threading.Lock()
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:  # quiet
                pass

            def do_GET(self) -> None:  # noqa: N802
                mounts = owner._take("in", self.path)
                if mounts is None:
                    self.send_error(404)
                    return
                body = pack(mounts)
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_PUT(self) -> None:  # noqa: N802
                mounts = owner._take("out", self.path)
                if mounts is None:
                    self.send_error(404)
                    return
                length = int(self.headers.get("Content-Length") or 0)
                data = self.rfile.read(length)
                try:
                    unpack(data, mounts)
                except (tarfile.TarError, OSError) as exc:
                    log.warning("files sent back by a swarm node were refused: %s", exc)
                    self.send_error(400)
                    return
                self.send_response(204)
                self.end_headers()

        self._server = ThreadingHTTPServer((address, 0), Handler)
        self._server.daemon_threads = True
        self.address, self.port = address, self._server.server_address[1]
        threading.Thread(target=self._server.serve_forever, daemon=True,
                         name="smlocal-swarm-transfer").start()

    def url(self, token: str) -> str:
        kind = self._offers[token][0]
        return f"http://{self.address}:{self.port}/{kind}/{token}"

    def offer(self, mounts: list) -> str:
        return self._add("in", mounts)

    def expect(self, mounts: list) -> str:
        return self._add("out", mounts)

    def _add(self, kind: str, mounts: list) -> str:
        token = secrets.token_hex(16)
        with self._lock:
            self._offers[token] = (kind, mounts)
        return token

    def _take(self, kind: str, path: str) -> list | None:
        _, want, token = (path.split("/") + ["", ""])[:3]
        with self._lock:
            entry = self._offers.get(token)
        if entry is None or entry[0] != kind or want != kind:
            return None
        return entry[1]

    def forget(self, token: str) -> None:
        with self._lock:
            self._offers.pop(token, None)

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


def pack(mounts: list) -> bytes:
    """A tar of every mount's host folder under `m<i>/` (read through `confined`)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for i, (src, _dst, _ro) in enumerate(mounts):
            folder = tarfile.TarInfo(f"m{i}")
            folder.type, folder.mode = tarfile.DIRTYPE, 0o777
            tar.addfile(folder)
            _add_tree(tar, Path(src), f"m{i}", folders=True)
    return buf.getvalue()


def pack_node_folder(root: Path, names: list[str]) -> bytes:
    """What STAGE_OUT sends, read on this machine: a tar of the regular files below
    `root/<name>` for each name (`m<i>`), read through `confined` (a link a container left
    there is never followed)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name in names:
            _add_tree(tar, root / name, name, folders=False)
    return buf.getvalue()


def _add_tree(tar: tarfile.TarFile, root: Path, prefix: str, *, folders: bool) -> None:
    """The regular files below `root` (and with `folders` its folders, mode 0o777) into `tar`
    under `prefix/`, read through `confined`."""
    for node in confined.iter_tree(root):
        info = tarfile.TarInfo(f"{prefix}/{node.rel}")
        info.mtime = node.mtime_ns // 10**9
        if node.kind == "dir" and folders:
            info.type, info.mode = tarfile.DIRTYPE, 0o777
            tar.addfile(info)
        elif node.kind == "file":
            handle = confined.open_file(root, node.rel)
            if handle is None:
                continue
            with handle:
                data = handle.read()
            info.size, info.mode = len(data), node.mode & 0o777
            tar.addfile(info, io.BytesIO(data))


def unpack(data: bytes, mounts: list) -> None:
    """Regular files of a node's tar into the writable mounts' host folders (`confined`); a
    file the container deleted on the node (sent in, not sent back) is deleted here too, so
    checkpoints sync as on one machine."""
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:") as tar:
        _mirror(tar, mounts, lambda member: writable_place(member, mounts), None)


def mirror_folder(fileobj: BinaryIO, mounts: list, index: int) -> int:
    """A tar of one container folder as Docker's archive endpoint returns it (`docker cp`:
    members under the folder's own name) mirrored into writable mount `index`'s host folder:
    new and changed files written with the node's mtime, files gone on the node deleted, the
    other mounts untouched. A file whose size and mtime already match is not written again,
    so the periodic checkpoint sync does not send it again. Returns the files written."""
    only = [(src, dst, ro or i != index) for i, (src, dst, ro) in enumerate(mounts)]
    root = Path(mounts[index][0])
    present = {(index, node.rel): (node.size, node.mtime_ns)
               for node in confined.iter_tree(root) if node.kind == "file"}

    def place(member: tarfile.TarInfo) -> tuple[int, str] | None:
        _top, _, rel = member.name.partition("/")
        return (index, rel) if member.isfile() and rel else None

    with tarfile.open(fileobj=fileobj, mode="r:") as tar:
        return _mirror(tar, only, place, present)


def _mirror(tar: tarfile.TarFile, mounts: list, place, present: dict | None) -> int:
    """Write the files `place` maps to (mount index, path), then delete every other file of
    the writable mounts. `present`: (index, path) → (size, mtime_ns) of files already there;
    those with the member's size and mtime are kept as they are, and written files then get
    the member's mtime (`present` None: every file is written, as new)."""
    sent: set[tuple[int, str]] = set()
    written = 0
    for member in tar:
        where = place(member)
        if where is None:
            continue
        index, rel = where
        try:
            parts = confined.confined_parts(rel)
        except confined.UnsafeName as exc:
            log.warning("dropping %r sent back by a swarm node: %s", member.name, exc)
            continue
        source = tar.extractfile(member)
        if source is None:
            continue
        sent.add(where)
        mtime_ns = int(member.mtime * 10**9)
        if present is not None and present.get(where) == (member.size, mtime_ns):
            continue
        with confined.create_file(Path(mounts[index][0]), parts) as out:
            while chunk := source.read(1024 * 1024):
                out.write(chunk)
            if present is not None:
                out.flush()
                os.utime(out.fileno(), ns=(mtime_ns, mtime_ns))
        written += 1
    for index, (src, _dst, read_only) in enumerate(mounts):
        if read_only:
            continue
        for node in list(confined.iter_tree(Path(src))):
            if node.kind != "dir" and (index, node.rel) not in sent:
                confined.remove_file(Path(src), node.rel)
    return written


def writable_place(member: tarfile.TarInfo, mounts: list) -> tuple[int, str] | None:
    """(mount index, path in it) of a regular file sent back for a writable mount, else None."""
    if not member.isfile():
        return None
    top, _, rel = member.name.partition("/")
    if not top.startswith("m") or not top[1:].isdigit() or not rel:
        return None
    index = int(top[1:])
    if index >= len(mounts) or mounts[index][2]:
        return None
    return index, rel
