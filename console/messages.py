"""App-wide messages: hub events queued onto the console's message loop."""

from __future__ import annotations

from dataclasses import dataclass

from textual.message import Message

from console.classes import ClassView
from console.picture import PictureData
from console.roster import ActionOutcome, DeviceView, LockAlert

# Textual drops a queued message when the one after it `can_replace` it, so a burst of
# updates for one device (or one status line) collapses into a single repaint.


@dataclass
class RosterChanged(Message):
    """The hub sent the full list of devices in the class."""

    devices: tuple[DeviceView, ...]

    def can_replace(self, message: Message) -> bool:
        # A full roster says everything the one before it said.
        return isinstance(message, RosterChanged)


@dataclass
class DeviceChanged(Message):
    """One device's state changed (or it joined the class)."""

    device: DeviceView

    def can_replace(self, message: Message) -> bool:
        return (
            isinstance(message, DeviceChanged) and message.device.device_id == self.device.device_id
        )


@dataclass
class PictureReceived(Message):
    """A thumbnail (JPEG, WebP or PNG bytes not yet decoded, or a reassembled picture)."""

    device_id: str
    data: PictureData

    def can_replace(self, message: Message) -> bool:
        # Only the newest picture of a screen is worth decoding.
        return isinstance(message, PictureReceived) and message.device_id == self.device_id


@dataclass
class OutcomeReceived(Message):
    """A device reported the result of a command."""

    outcome: ActionOutcome


@dataclass
class AlertReceived(Message):
    """A device reported that its lock was tampered with or could not be shown."""

    alert: LockAlert


@dataclass
class HubStatusChanged(Message):
    """The connection to the hub changed: connected, reconnecting, or failed."""

    text: str
    ok: bool

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, HubStatusChanged)


@dataclass
class ClassesChanged(Message):
    """The hub sent the teacher's classes, each with its class session if one is on."""

    classes: tuple[ClassView, ...]

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, ClassesChanged)


@dataclass
class RequestRefused(Message):
    """The hub refused a request of the teacher's (not a device command); `text` says why."""

    text: str
