"""Container logs → timestamped `LogLine`s, stdout and stderr kept apart.

The Docker logs endpoint (non-TTY containers) sends multiplexed frames: an 8-byte header
(stream type, 3 zero bytes, big-endian payload length) and one log message per frame
(https://docs.docker.com/engine/api/v1.41/#operation/ContainerAttach "Stream format").
With `timestamps=1` every message starts with an RFC 3339 nano timestamp and a space. The
json-file driver splits lines longer than 16 KiB into several messages, each with its own
timestamp and only the last ending in `\\n`, so lines are reassembled per stream here.
"""

from __future__ import annotations

import calendar
import struct
from collections.abc import Callable

from orchestrator.runner.base import LogLine

MAX_LINE_BYTES = 256 * 1024  # CloudWatch Logs' event size limit; longer lines are split
_HEADER = struct.Struct(">BxxxL")
_STREAMS = {1: "stdout", 2: "stderr"}


def parse_docker_timestamp(text: str) -> float:
    """`2024-05-01T10:11:12.123456789Z` (or `+00:00`) → epoch seconds."""
    date_part, _, rest = text.partition(".")
    if not rest:  # no fraction
        date_part, rest = text.rstrip("Z"), "0Z"
    seconds = calendar.timegm(
        (
            int(date_part[0:4]),
            int(date_part[5:7]),
            int(date_part[8:10]),
            int(date_part[11:13]),
            int(date_part[14:16]),
            int(date_part[17:19]),
            0,
            0,
            0,
        )
    )
    digits = rest.rstrip("Z").split("+")[0].split("-")[0]
    return seconds + (int(digits) / 10 ** len(digits) if digits else 0.0)


class LineAssembler:
    """Joins a host's message chunks into lines; one buffer per stream."""

    def __init__(self, host: str, not_after: float | None = None) -> None:
        self.host = host
        self._not_after = not_after  # drop lines stamped at or before this (log offsets)
        self._buffers: dict[str, tuple[float, bytearray]] = {}

    def feed(self, stream: str, timestamp: float, data: bytes) -> list[LogLine]:
        lines: list[LogLine] = []
        started, buffer = self._buffers.get(stream, (timestamp, bytearray()))
        if not buffer:
            started = timestamp
        start = 0
        while True:
            newline = data.find(b"\n", start)
            if newline < 0:
                break
            buffer += data[start:newline]
            lines.append(self._line(stream, started, buffer))
            buffer, started, start = bytearray(), timestamp, newline + 1
        buffer += data[start:]
        while len(buffer) >= MAX_LINE_BYTES:
            lines.append(self._line(stream, started, buffer[:MAX_LINE_BYTES]))
            buffer, started = buffer[MAX_LINE_BYTES:], timestamp
        self._buffers[stream] = (started, buffer)
        return [line for line in lines if self._keep(line)]

    def flush(self) -> list[LogLine]:
        lines = [self._line(s, t, b) for s, (t, b) in self._buffers.items() if b]
        self._buffers.clear()
        return [line for line in lines if self._keep(line)]

    def _keep(self, line: LogLine) -> bool:
        return self._not_after is None or line.timestamp > self._not_after

    def _line(self, stream: str, timestamp: float, raw: bytes | bytearray) -> LogLine:
        if raw.endswith(b"\r"):
            raw = raw[:-1]
        return LogLine(timestamp, stream, self.host, bytes(raw).decode("utf-8", "replace"))


def iter_frames(read: Callable[[int], bytes]):
    """(stream name, payload) for each multiplexed frame until EOF."""
    while True:
        header = read(_HEADER.size)
        if len(header) < _HEADER.size:
            return
        kind, length = _HEADER.unpack(header)
        payload = read(length) if length else b""
        if kind in _STREAMS:
            yield _STREAMS[kind], payload


def split_timestamp(payload: bytes, fallback: float) -> tuple[float, bytes]:
    space = payload.find(b" ", 0, 40)
    if space < 20:
        return fallback, payload
    try:
        return parse_docker_timestamp(payload[:space].decode("ascii")), payload[space + 1 :]
    except (ValueError, UnicodeDecodeError, IndexError):
        return fallback, payload
