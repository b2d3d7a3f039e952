"""`smlocal serve` in a child process: a real server that tests and benchmarks can measure
(RSS), kill or restart, and whose crash cannot take the caller down.

Runs the actual command (`python -m orchestrator.client.cli serve`), on a free port unless one
is given, and returns once it prints the URL it serves.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


class ServerProcess:
    """`url`, `rss()`, `alive()`, `log()` and `stop()` (SIGTERM, then SIGKILL after 30 s)."""

    def __init__(self, state_dir: Path, port: int = 0, host: str | None = None,
                 **env: str) -> None:
        environment = dict(os.environ, SMLOCAL_STOP_GRACE_SECONDS="2", PYTHONPATH=str(ROOT),
                           **env)
        self.log_path = state_dir.parent / f"{state_dir.name}-server.log"
        self._log = open(self.log_path, "ab")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "orchestrator.client.cli", "serve", "--port", str(port),
             "--state-dir", str(state_dir), *(["--host", host] if host else [])],
            env=environment, stdout=subprocess.PIPE, stderr=self._log, text=True, cwd=ROOT)
        line = self.proc.stdout.readline().strip()
        match = re.search(r"(http://\S+)", line)
        if not match:
            self.stop()
            raise RuntimeError(f"smlocal serve did not start: {line!r}\n{self.log()}")
        self.url = match.group(1)

    def rss(self) -> int:
        """Resident set size in bytes (VmRSS of /proc/<pid>/status)."""
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
        raise RuntimeError("no VmRSS")

    def alive(self) -> bool:
        return self.proc.poll() is None

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        self._log.close()
