"""Test-only launcher: the real endpoint (EmbeddedS3 + the fake SageMaker service) in its own
process, so tests can `kill -9` it. Prints the URL on stdout once serving.

    python tests/integration/smlocal_fake_server.py <data_dir> [port]
"""

from __future__ import annotations

import signal
import sys
import threading
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from orchestrator.api.server import ApiServer, make_app  # noqa: E402
from orchestrator.storage.s3 import EmbeddedS3  # noqa: E402
from tests.unit.api.fake_service import FakeService  # noqa: E402


def main() -> None:
    data_dir = Path(sys.argv[1])
    port = int(sys.argv[2]) if len(sys.argv) > 2 else 0
    s3 = EmbeddedS3(data_dir)
    server = ApiServer(make_app(FakeService(), s3), port=port).start()
    print(server.url, flush=True)
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    done.wait()
    server.stop()
    s3.close()


if __name__ == "__main__":
    main()
