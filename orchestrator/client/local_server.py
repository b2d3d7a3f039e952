"""The server side of the command line: `smlocal serve`, and the server that `tune`/`demo` run
in this process when none answers at the endpoint.

The only client module that touches the server (`orchestrator.app`); it imports it inside the
functions, so commands that talk to a running server never load the server's code.
"""

from __future__ import annotations

import gc
import signal
import sys
import threading
from pathlib import Path
from types import TracebackType
from typing import Any

from orchestrator.client.endpoint import EXIT_BAD_INPUT, EXIT_OK, EXIT_UNREACHABLE, answers, error


def serve(host: str, port: int, state_dir: str | None, backend: str | None = None,
          access_key_id: str | None = None, secret_access_key: str | None = None,
          credentials_file: str | None = None) -> int:
    """Serve SageMaker, S3, CloudWatch (Logs and metrics), STS and IAM until SIGTERM/Ctrl-C.

    With an access key configured (flags, environment or file: `orchestrator.credentials`)
    every request must be SigV4-signed with it; off loopback a key is required."""
    from orchestrator.app import SmlocalApp
    from orchestrator.config import Settings
    from orchestrator.credentials import HOW_TO_SET, CredentialsError, configured_key, is_loopback

    chosen: dict[str, Any] = {"state_dir": Path(state_dir)} if state_dir else {}
    if backend:
        chosen["backend"] = backend
    try:
        chosen["access_key"] = configured_key(access_key_id, secret_access_key,
                                              credentials_file)
    except CredentialsError as exc:
        return error(str(exc), EXIT_BAD_INPUT)
    if not is_loopback(host):
        if chosen["access_key"] is None:
            return error(f"refusing to listen on {host}: an endpoint that runs containers must "
                         "not be open to the network, so off loopback every request must be "
                         f"signed with an access key; {HOW_TO_SET}", EXIT_BAD_INPUT)
        print(f"smlocal: WARNING: listening on {host}, not loopback: anyone who reaches this "
              "address can try it; only requests signed (AWS SigV4) with access key "
              f"{chosen['access_key'].access_key_id} are served. Traffic is plain HTTP: put "
              "TLS in front of it on untrusted networks.", file=sys.stderr, flush=True)
    settings = Settings(**chosen)
    try:
        app = SmlocalApp(settings=settings, host=host, port=port).start()
    except ValueError as exc:  # an unknown backend name; the message lists the known ones
        return error(str(exc), EXIT_BAD_INPUT)
    except OSError as exc:
        return error(f"cannot listen on {host}:{port}: {exc}", EXIT_UNREACHABLE)
    auth = (f", requests signed with {settings.access_key.access_key_id}"
            if settings.access_key else "")
    print(f"smlocal serving on {app.url} (backend: {settings.backend}, state: "
          f"{settings.state_dir}{auth})", flush=True)
    # What the start made (~200,000 objects: service models, moto, the app) lives as long as
    # the server: out of the cyclic collector, a full collection no longer scans it. One took
    # 160-270 ms, holding the GIL, while a 500-job tuning job ran; 13 ms after (issue 15).
    gc.freeze()
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    signal.signal(signal.SIGINT, lambda *_: done.set())
    done.wait()
    app.stop()
    return EXIT_OK


class ServerOrEmbedded:
    """`with ServerOrEmbedded(endpoint) as server:` `server.url` is the server answering at
    `endpoint`, or one started in this process on the endpoint's port when none answers
    (`server.embedded` then says so: its jobs end with this process)."""

    def __init__(self, endpoint: str) -> None:
        self.url = endpoint
        self.embedded = False
        self._app: Any = None

    def __enter__(self) -> ServerOrEmbedded:
        if answers(self.url):
            return self
        from orchestrator.app import SmlocalApp

        port = int(self.url.rsplit(":", 1)[-1].split("/")[0])
        print(f"smlocal: no server at {self.url}; starting one in this process "
              "(jobs end when this command ends; use `smlocal serve` for a lasting one)",
              file=sys.stderr)
        self._app = SmlocalApp(port=port).start()
        self.embedded = True
        self.url = self._app.url
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if self._app is not None:
            self._app.stop()
