"""Test-only launcher: the real app (real SageMaker service and EmbeddedS3) on the scripted fake
backend (tests/fake_backed.py) in its own process, so tests can `kill -9` it. Prints the URL on
stdout once serving; S3 state lives under <state_dir>/s3.

    python tests/integration/smlocal_test_server.py <state_dir> [port]
"""

from __future__ import annotations

import signal
import sys
import threading
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from tests.fake_backed import start_app  # noqa: E402


def main() -> None:
    state_dir = Path(sys.argv[1])
    port = int(sys.argv[2]) if len(sys.argv) > 2 else 0
    app = start_app(state_dir, port=port)
    print(app.url, flush=True)
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    done.wait()
    app.stop()


if __name__ == "__main__":
    main()
