"""Report protocol throughput on one core: messages coded, command envelopes verified."""

from __future__ import annotations

import os
import platform
import sys
import time
from collections.abc import Callable
from functools import partial

from protocol.actions import LockScreen
from protocol.certificates import Role, issue_certificate
from protocol.commands import Recipient, ReplayCache, sign_command, verify_command
from protocol.frames import (
    Frame,
    ImageFormat,
    Patch,
    TileFrame,
    check_frame,
    decode_frame,
    encode_frame,
)
from protocol.keys import PrivateKey
from protocol.messages import DeviceState, Roster, Status, Submit, decode_message, encode_message


def rate(work: Callable[[], object], seconds: float = 1.0) -> float:
    """Calls per second of `work`, over about `seconds` of wall time."""
    count, start = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - start) < seconds:
        for _ in range(100):
            work()
        count += 100
    return count / elapsed


def main() -> None:
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})  # one core, as asked
    now = int(time.time())
    org, staff = PrivateKey.generate(), PrivateKey.generate()
    certificate = issue_certificate(
        org,
        staff.public,
        name="Ms Smith",
        role=Role.TEACHER,
        groups=("7B",),
        now=now,
        lifetime=3600,
    )
    device = "d" * 64
    commands = [
        sign_command(staff, certificate, targets=[device], action=LockScreen(), now=now)
        for _ in range(20_000)
    ]
    status = Status(locked=True, watched_by=("Ms Smith",), user="ada")
    submit = Submit(command=commands[0])
    roster = Roster(
        devices=tuple(
            DeviceState(
                device_id=f"{i:064x}", name=f"Student {i}", group="7B", online=True, stream=i
            )
            for i in range(30)
        )
    )
    frame = encode_frame(Frame(1, 1, 1, ImageFormat.JPEG, 320, 200, b"\xff" * 12_000))
    rows: list[tuple[str, float]] = []
    for name, message in (
        ("Status", status),
        ("Submit (signed command)", submit),
        ("Roster of 30 devices", roster),
    ):
        data = encode_message(message)
        rows.append((f"encode {name} ({len(data)} B)", rate(partial(encode_message, message))))
        rows.append((f"decode {name} ({len(data)} B)", rate(partial(decode_message, data))))
    # Building checks a value as its peer's decoder would (protocol.codec.WireStruct).
    rows.append(
        (
            "build Status (checked)",
            rate(lambda: Status(locked=True, watched_by=("Ms Smith",), user="ada")),
        )
    )
    rows.append(("decode frame header (12 KB JPEG)", rate(lambda: decode_frame(frame))))
    patches = tuple(Patch(32 * i, 16 * (i % 5), 32, 16, b"\x00" * 200) for i in range(10))
    tiles = encode_frame(TileFrame(1, 2, 1, ImageFormat.WEBP, 320, 180, patches))
    rows.append(("check tile frame, 10 patches (hub relay)", rate(lambda: check_frame(tiles))))
    cache = ReplayCache(capacity=1_000_000)
    me = Recipient(device_id=device, group="7B")
    pending = iter(commands)

    def verify() -> None:
        verify_command(next(pending), org_key=org.public, now=now, replay=cache, recipient=me)

    start = time.perf_counter()
    for _ in range(len(commands)):
        verify()
    rows.append(
        (
            "verify command envelope (2 signatures + replay)",
            len(commands) / (time.perf_counter() - start),
        )
    )
    print(
        f"Homeroom protocol benchmark: Python {platform.python_version()}, "
        f"{platform.machine()}, one core"
    )
    print("| operation | per second |\n|---|---:|")
    for name, value in rows:
        print(f"| {name} | {value:,.0f} |")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
