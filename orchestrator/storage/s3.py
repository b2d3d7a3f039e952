"""Embedded S3: moto's S3 server app, made durable under a directory.

moto keeps S3 in memory. `EmbeddedS3` writes through: every request that mutated a bucket or an
object is followed, before its response leaves, by writing the touched bucket/object to disk
atomically (temp file, fsync, rename; the object's JSON metadata file is the commit point), so
whatever a client saw acknowledged survives a clean stop or `kill -9`. On start the directory
is loaded back into moto; object bodies stay on disk and are read on demand.

This module is the WSGI entry; the parts are:
- `s3_moto`: how moto's S3 backend is bent (mutations reported to the request that made them,
  multipart uploads completed by reference, instance tracking off);
- `s3_persist`: the write-through and the reload into moto (and what is not durable);
- `s3_disk`: the on-disk layout and atomic file operations;
- `s3_buffers`: key bodies served from durable files or multipart parts, without a copy.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape as xml_escape

from moto.moto_server.werkzeug_app import create_backend_app

from orchestrator.storage.s3_moto import install_backend, recorded_mutations
from orchestrator.storage.s3_persist import DurableStore

log = logging.getLogger("smlocal.s3")

_MUTATING = frozenset({"PUT", "POST", "DELETE"})


class EmbeddedS3:
    """moto's S3 as a WSGI app (`wsgi_app`), durable under `data_dir`.

    One instance per process: moto's S3 state is process-global, and creating an instance
    starts that state afresh from `data_dir`.
    """

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = Path(data_dir)
        self._store = DurableStore(self.data_dir)
        install_backend()
        self._moto_app = create_backend_app("s3")
        # moto turns Flask's debug mode on; its debug helpers put every request in a reference
        # cycle, which kept each request body alive until a full garbage collection.
        self._moto_app.debug = False
        self._moto_app.config["PROPAGATE_EXCEPTIONS"] = True  # errors reach the API's guard
        self._store.load()

    @property
    def wsgi_app(self) -> Callable:
        return self._app

    def close(self) -> None:
        """Drop the in-memory state (the disk keeps everything)."""
        install_backend()
        self._store.clear()

    def _app(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        method = environ.get("REQUEST_METHOD", "")
        if method in _MUTATING and not _read_body_once(environ):
            # The client went away mid-body: nothing of it may become an object.
            message = ("You did not provide the number of bytes specified by the "
                       "Content-Length HTTP header.")
            return _s3_error(start_response, method, 400, "IncompleteBody", message)
        captured: list = []

        def hold(status: str, headers: list, exc_info: Any = None) -> Callable:
            captured[:] = [status, headers]
            return _no_write

        with recorded_mutations() as pending:
            try:
                body = self._moto_app(environ, hold)
            except Exception as exc:  # moto's parsers raise on malformed or unsupported input
                path = environ.get("PATH_INFO")
                log.warning("S3 %s %s not processed", method, path, exc_info=True)
                body, captured = None, [f"{type(exc).__name__}: {exc}"]
        try:
            self._store.write_through(pending)  # before the client can see an acknowledgement
        except OSError as exc:  # moto's state went back to what is durable (write_through)
            log.error("S3 state could not be written to %s: %s", self.data_dir, exc)
            message = f"The change could not be written to disk and was not made: {exc.strerror}."
            return _s3_error(start_response, method, 500, "InternalError", message)
        if body is None:
            message = f"smlocal's S3 could not process this request ({captured[0]})."
            return _s3_error(start_response, method, 400, "InvalidRequest", message)
        start_response(*captured)
        return body


def _read_body_once(environ: dict) -> bool:
    """Read the request body into one bytes object that werkzeug and moto then share; False
    when the client sent less than its Content-Length (it disconnected mid-body).

    moto needs the whole body of a PUT (it is `request.data`); werkzeug's own read would join
    64 KiB chunks into a second copy, and the server's input stream returns a short body at
    the end of the stream without an error, which moto would store as a truncated object."""
    length = environ.get("CONTENT_LENGTH") or ""
    if not length.isdigit() or "chunked" in environ.get("HTTP_TRANSFER_ENCODING", "").lower():
        return True
    size = int(length)
    data = environ["wsgi.input"].read(size) if size else b""  # blocks until size or the end
    if len(data) < size:
        return False
    environ["wsgi.input"] = io.BytesIO(data)  # BytesIO shares `data`; read() returns it as is
    environ["wsgi.input_terminated"] = True
    return True


def _s3_error(
    start_response: Callable, method: str, status: int, code: str, message: str
) -> list[bytes]:
    body = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f"<Error><Code>{code}</Code><Message>{xml_escape(message[:500])}</Message></Error>"
    ).encode()
    reason = "Bad Request" if status == 400 else "Internal Server Error"
    headers = [("Content-Type", "application/xml"), ("Content-Length", str(len(body)))]
    start_response(f"{status} {reason}", headers)
    return [b""] if method == "HEAD" else [body]


def _no_write(data: bytes) -> None:
    raise RuntimeError("moto's app must return its body, not write it")
