"""A hub's data folder with thousands of devices already enrolled, and their states for drivers.

Enrolling 5,000 devices through the handshake would measure enrollment, once per device's
life; the benchmark measures what happens every day, so it writes the devices into the store
with the store's own `add_device` (as enrollment does) and gives each driver the states.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import msgspec

from agent.state import AgentState
from hub.admin import issue_staff
from hub.keyring import init_hub
from hub.store import Store
from link.files import write_private
from protocol.certificates import Role
from protocol.keys import PrivateKey

GROUP = "bench"


@dataclass(frozen=True)
class School:
    hub_folder: Path
    states_path: Path
    teacher_path: Path
    device_ids: list[str]


def build_school(folder: Path, url: str, devices: int) -> School:
    keyring = init_hub(folder / "hub", hub_url=url, names=["127.0.0.1", "localhost"])
    now = int(time.time())
    states: list[AgentState] = []
    with Store.open(keyring.store_path) as store:
        for number in range(devices):
            key = PrivateKey.generate()
            record = store.add_device(
                key.public.fingerprint, key.public.raw, f"Device {number:05d}", GROUP, now
            )
            states.append(
                AgentState(
                    hub_url=url,
                    hub=keyring.hub_key.public.fingerprint,
                    org=keyring.org_public.fingerprint,
                    org_key=keyring.org_public.raw,
                    device_id=record.device_id,
                    name=record.name,
                    group=GROUP,
                    private_key=key.to_bytes(),
                )
            )
        teacher = issue_staff(
            keyring, store, name="Bench Teacher", role=Role.TEACHER, groups=(GROUP,), now=now - 60
        )
    states_path = folder / "devices.json"
    write_private(states_path, msgspec.json.encode(states))
    teacher_path = folder / "teacher.credential"
    write_private(teacher_path, teacher.encode())
    return School(folder / "hub", states_path, teacher_path, [s.device_id for s in states])
