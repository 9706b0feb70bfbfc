"""The fleet as IT sees it: each device's life cycle (asset tag, student, state) and facts."""

from enum import StrEnum
from typing import Annotated

from msgspec import Meta

from .codec import WireStruct
from .types import DeviceId, DeviceName, GroupName, Timestamp

#: An asset tag is printed on a label and typed by IT: short, printable, one line.
MAX_ASSET_TAG = 40
AssetTag = Annotated[str, Meta(max_length=MAX_ASSET_TAG, pattern=r"^[A-Za-z0-9._/-]*$")]
#: The student a device is assigned to, as IT writes it (a name or a school id); may be empty.
StudentName = Annotated[str, Meta(max_length=80, pattern=r"^[^\x00-\x1f\x7f-\x9f]*$")]
#: A fact's value as the fleet table shows it (the whole fact is in the device view).
FleetFact = Annotated[str, Meta(max_length=200)]
MAX_HISTORY = 1000


class LifeState(StrEnum):
    """Where a device is in its life: the states IT moves it between."""

    IN_SERVICE = "in_service"
    IN_REPAIR = "in_repair"
    #: A replacement lent to a student while their own device (`loan_for`) is away.
    ON_LOAN = "on_loan"
    LOST = "lost"
    RETIRED = "retired"

    @property
    def words(self) -> str:
        return self.value.replace("_", " ")


class FleetEntry(WireStruct, frozen=True, kw_only=True):
    """One device as IT's fleet table shows it: record, presence and the last facts it sent.

    OS and agent version come from the device's inventory report (sent on every
    connection); model, serial, battery and disk from the newest system information or
    diagnostics result the hub kept, dated `facts_at` (0 when never asked).
    """

    device_id: DeviceId
    name: DeviceName
    group: GroupName
    asset_tag: AssetTag = ""
    student: StudentName = ""
    state: LifeState = LifeState.IN_SERVICE
    loan_for: DeviceId | None = None
    online: bool = False
    last_seen: Timestamp = 0
    agent_version: FleetFact = ""
    os: FleetFact = ""
    model: FleetFact = ""
    serial: FleetFact = ""
    battery: FleetFact = ""
    disk_free: FleetFact = ""
    facts_at: Timestamp = 0


class LifeChange(WireStruct, frozen=True, kw_only=True):
    """One dated change to a device's record: who set which field from what to what."""

    at: Timestamp
    actor: Annotated[str, Meta(max_length=256)]
    device_id: DeviceId
    field: Annotated[str, Meta(max_length=32)]
    old: Annotated[str, Meta(max_length=200)]
    new: Annotated[str, Meta(max_length=200)]
