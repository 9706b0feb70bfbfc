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
from console.demo import certified_staff, set_up_school
from hub.store import Store
from link.files import write_private
from protocol.certificates import Role
from protocol.keys import PrivateKey


@dataclass(frozen=True)
class School:
    hub_folder: Path
    states_path: Path
    device_ids: list[str]
    #: One teacher per class, with the devices of that class (groups of `class_size`).
    classes: list[tuple[Path, list[str]]]


def class_of(number: int, class_size: int) -> str:
    return f"class-{number // class_size:04d}"


def build_school(folder: Path, url: str, devices: int, class_size: int) -> School:
    """Devices in classes of `class_size`, and a teacher credential per class."""
    org, keyring = set_up_school(folder, hub_url=url, names=["127.0.0.1", "localhost"])
    now = int(time.time())
    states: list[AgentState] = []
    with Store.open(keyring.store_path) as store:
        for number in range(devices):
            key = PrivateKey.generate()
            record = store.add_device(
                key.public.fingerprint,
                key.public.raw,
                f"Device {number:05d}",
                class_of(number, class_size),
                now,
            )
            states.append(
                AgentState(
                    hub_url=url,
                    hub=keyring.hub_key.public.fingerprint,
                    org=keyring.org_public.fingerprint,
                    org_key=keyring.org_public.raw,
                    device_id=record.device_id,
                    name=record.name,
                    group=record.group,
                    private_key=key.to_bytes(),
                )
            )
        classes: list[tuple[Path, list[str]]] = []
        for first in range(0, devices, class_size):
            group = class_of(first, class_size)
            teacher = certified_staff(
                org,
                keyring,
                store,
                name=f"Teacher {group}",
                role=Role.TEACHER,
                groups=(group,),
                now=now - 60,
            )
            path = folder / f"{group}.credential"
            write_private(path, teacher.encode())
            classes.append((path, [s.device_id for s in states[first : first + class_size]]))
    states_path = folder / "devices.json"
    write_private(states_path, msgspec.json.encode(states))
    return School(folder / "hub", states_path, [s.device_id for s in states], classes)
