"""What the class-session rule and the privacy report cost: `python -m bench.session_costs`.

The hub reads every class for each teacher command (to find whether a target's class is
in the teacher's session), and the privacy report walks the whole audit log. This fills
a store with a school (CLASSES classes of 30 devices) and ROWS audit rows, then times
both. Figures, not assertions.
"""

from __future__ import annotations

import secrets
import sys
import tempfile
import time
from pathlib import Path

from hub.class_sessions import ClassSessions
from hub.privacy_report import privacy_report
from hub.session_rules import outside_sessions
from hub.store import Store
from protocol.certificates import CertificateBody, Role

CLASS_SIZE = 30


def main(classes: int = 200, rows: int = 100_000) -> None:
    with tempfile.TemporaryDirectory() as folder, Store.open(Path(folder) / "hub.db") as store:
        devices = [secrets.token_hex(32) for _ in range(classes * CLASS_SIZE)]
        for number, device_id in enumerate(devices):
            store.add_device(device_id, secrets.token_bytes(32), f"device {number}", "7B", 0)
        for c in range(classes):
            store.create_class(f"class {c}", "7B", 0)
            for device_id in devices[c * CLASS_SIZE : (c + 1) * CLASS_SIZE]:
                store.add_to_class(f"class {c}", device_id)
        started = time.perf_counter()
        for i in range(rows):
            command = f"command {secrets.token_hex(16)}"
            store.append_audit("Ms Smith (teacher 00ff)", "watch", [devices[i % len(devices)]],
                               "delivered 1", command, 1_800_000_000 + i)  # fmt: skip
        print(f"{rows} audit rows written in {time.perf_counter() - started:.1f} s")

        started = time.perf_counter()
        entries = privacy_report(store, devices[0])
        took = (time.perf_counter() - started) * 1000
        print(f"privacy report over {rows} rows: {len(entries)} entries in {took:.0f} ms")

        teacher = CertificateBody(
            serial="ab" * 16,
            subject_key=b"\0" * 32,
            name="Ms Smith",
            role=Role.TEACHER,
            groups=("7B",),
            issued_at=0,
            expires_at=2**40,
            issuer="0" * 64,
        )
        sessions = ClassSessions(time.time)
        sessions.start("class 1", teacher)
        targets = devices[CLASS_SIZE : 2 * CLASS_SIZE]
        rounds = 100
        started = time.perf_counter()
        for _ in range(rounds):
            on = {s.class_name: s for s in sessions.active()}
            barred = outside_sessions(teacher, targets, store.classes(), on)
        took = (time.perf_counter() - started) * 1000 / rounds
        print(
            f"class-session check of a {CLASS_SIZE}-device command, {classes} classes: "
            f"{took:.2f} ms (store read included; {len(barred)} refused)"
        )


if __name__ == "__main__":
    main(*(int(arg) for arg in sys.argv[1:3]))
