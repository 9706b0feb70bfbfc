"""Screenshots in parts: cut, put back together, and refused when parts are lost or changed."""

from __future__ import annotations

import os

import msgspec
import pytest

from protocol.errors import ErrorCode, PeerError, UsageError
from protocol.messages import (
    MAX_SCREENSHOT_BYTES,
    SCREENSHOT_PART_BYTES,
    ScreenshotPart,
    decode_message,
    encode_message,
)
from protocol.screenshots import ScreenshotAssembly, cut

COMMAND, DEVICE = "c" * 32, "d" * 64


def pieces(image: bytes):  # type: ignore[no-untyped-def]
    return cut(image, command_id=COMMAND, device_id=DEVICE, width=10, height=10, format="png")


def test_a_screenshot_is_cut_into_parts_that_fit_a_message_and_join_again() -> None:
    image = os.urandom(2 * SCREENSHOT_PART_BYTES + 5)
    parts, info = pieces(image)
    assert [len(p.data) for p in parts] == [SCREENSHOT_PART_BYTES, SCREENSHOT_PART_BYTES, 5]
    assembly = ScreenshotAssembly(COMMAND, DEVICE)
    for part in reversed(parts):  # order of arrival does not matter
        assembly.add(decode_message(encode_message(part)))  # type: ignore[arg-type]
    assert assembly.finish(info) == image


def test_a_lost_or_changed_part_is_refused() -> None:
    parts, info = pieces(os.urandom(SCREENSHOT_PART_BYTES + 1))
    lost = ScreenshotAssembly(COMMAND, DEVICE)
    lost.add(parts[0])
    with pytest.raises(PeerError, match="1 of 2 parts"):
        lost.finish(info)
    changed = ScreenshotAssembly(COMMAND, DEVICE)
    changed.add(parts[0])
    changed.add(msgspec.structs.replace(parts[1], data=b"\x00"))
    with pytest.raises(PeerError, match="digest"):
        changed.finish(info)
    twice = ScreenshotAssembly(COMMAND, DEVICE)
    twice.add(parts[0])
    with pytest.raises(PeerError) as caught:
        twice.add(parts[0])
    assert caught.value.code is ErrorCode.MALFORMED


def test_a_screenshot_over_the_limit_is_refused_both_ways() -> None:
    with pytest.raises(UsageError):
        pieces(b"")
    assembly = ScreenshotAssembly(COMMAND, DEVICE)
    big = b"x" * SCREENSHOT_PART_BYTES
    for index in range(MAX_SCREENSHOT_BYTES // SCREENSHOT_PART_BYTES):
        assembly.add(ScreenshotPart(command_id=COMMAND, device_id=DEVICE, index=index, data=big))
    with pytest.raises(PeerError) as caught:
        assembly.add(ScreenshotPart(command_id=COMMAND, device_id=DEVICE, index=0, data=b"x"))
    assert caught.value.code in (ErrorCode.TOO_LARGE, ErrorCode.MALFORMED)
