"""Docker log frames → LogLines: stream types, timestamps, partial and long lines."""

from __future__ import annotations

import calendar
import io
import struct

from orchestrator.runner.base import LogLine
from orchestrator.runner.logstream import (
    MAX_LINE_BYTES,
    LineAssembler,
    iter_frames,
    parse_docker_timestamp,
    split_timestamp,
)


def frame(kind: int, payload: bytes) -> bytes:
    return struct.pack(">BxxxL", kind, len(payload)) + payload


def test_timestamps_keep_nanosecond_fractions_as_float() -> None:
    base = calendar.timegm((2024, 5, 1, 10, 11, 12, 0, 0, 0))
    assert parse_docker_timestamp("2024-05-01T10:11:12.123456789Z") == base + 0.123456789
    assert parse_docker_timestamp("2024-05-01T10:11:12Z") == base
    assert parse_docker_timestamp("2024-05-01T10:11:12.5+00:00") == base + 0.5


def test_frames_are_split_by_stream() -> None:
    data = frame(1, b"out\n") + frame(2, b"err\n") + frame(3, b"ignored") + frame(1, b"")
    assert list(iter_frames(io.BytesIO(data).read)) == [
        ("stdout", b"out\n"),
        ("stderr", b"err\n"),
        ("stdout", b""),
    ]


def test_truncated_frame_stream_ends_cleanly() -> None:
    assert list(iter_frames(io.BytesIO(b"\x01\x00\x00").read)) == []


def test_split_timestamp_and_fallback() -> None:
    ts, text = split_timestamp(b"2024-05-01T10:11:12.000000001Z hello world\n", 5.0)
    assert text == b"hello world\n" and ts > 1.7e9
    assert split_timestamp(b"no timestamp here", 5.0) == (5.0, b"no timestamp here")


def test_lines_are_assembled_from_partial_messages_per_stream() -> None:
    asm = LineAssembler("algo-1")
    assert asm.feed("stdout", 1.0, b"hel") == []
    assert asm.feed("stderr", 1.5, b"E1\n") == [LogLine(1.5, "stderr", "algo-1", "E1")]
    assert asm.feed("stdout", 2.0, b"lo\nwor") == [LogLine(1.0, "stdout", "algo-1", "hello")]
    assert asm.feed("stdout", 3.0, b"ld\r\n") == [LogLine(2.0, "stdout", "algo-1", "world")]
    assert asm.feed("stdout", 4.0, b"tail") == []
    assert asm.flush() == [LogLine(4.0, "stdout", "algo-1", "tail")]
    assert asm.flush() == []


def test_invalid_utf8_is_replaced_not_raised() -> None:
    (line,) = LineAssembler("algo-1").feed("stdout", 1.0, b"\xff\xfe ok\n")
    assert line.text.endswith(" ok") and "\ufffd" in line.text


def test_endless_line_is_cut_at_the_limit() -> None:
    asm = LineAssembler("algo-2")
    lines = asm.feed("stdout", 1.0, b"x" * (MAX_LINE_BYTES * 2 + 10))
    assert [len(line.text) for line in lines] == [MAX_LINE_BYTES, MAX_LINE_BYTES]
    assert [len(line.text) for line in asm.flush()] == [10]


def test_lines_at_or_before_the_offset_are_dropped() -> None:
    asm = LineAssembler("algo-1", not_after=2.0)
    assert asm.feed("stdout", 1.0, b"a\n") == []
    assert asm.feed("stdout", 2.0, b"b\n") == []
    assert [line.text for line in asm.feed("stdout", 2.5, b"c\n")] == ["c"]
