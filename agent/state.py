"""What an enrolled agent keeps on disk: its key, its pins, its name and group."""

from __future__ import annotations

from pathlib import Path

import msgspec

from link.files import write_private
from protocol.codec import decode_as
from protocol.handshake import HubPins
from protocol.keys import PrivateKey, PublicKey
from protocol.tokens import HubUrl
from protocol.types import DeviceId, DeviceName, Fingerprint, GroupName, RawKey

STATE_FILE = "device.json"
REPLAY_FILE = "replay.json"
#: Present while the screen is locked, so a restarted agent locks again at once.
LOCK_FILE = "lock.json"


def default_folder() -> Path:
    """Where this user's agent keeps its key: the OS's own place for per-user settings.

    ~/.config/homeroom-agent on Linux (honouring XDG_CONFIG_HOME), ~/Library/Application
    Support/homeroom-agent on macOS, %APPDATA%\\homeroom-agent on Windows. A system-wide
    install passes --state with a folder the student cannot write (docs/operations.md).
    """
    import platformdirs  # only here: an agent started with --state never needs it

    return Path(platformdirs.user_config_dir("homeroom-agent", appauthor=False, roaming=True))


class AgentState(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """An enrolled device. The private key never leaves this file (mode 0600)."""

    hub_url: HubUrl
    hub: Fingerprint
    org: Fingerprint
    org_key: RawKey
    device_id: DeviceId
    name: DeviceName
    group: GroupName
    private_key: RawKey

    @property
    def key(self) -> PrivateKey:
        return PrivateKey.from_bytes(self.private_key)

    @property
    def pins(self) -> HubPins:
        return HubPins(hub=self.hub, org=self.org)

    @property
    def org_public(self) -> PublicKey:
        return PublicKey(self.org_key)


def save_state(folder: Path, state: AgentState) -> None:
    write_private(folder / STATE_FILE, msgspec.json.format(msgspec.json.encode(state)))


def load_state(folder: Path) -> AgentState:
    path = folder / STATE_FILE
    if not path.exists():
        raise FileNotFoundError(
            f"This device is not enrolled ({path} is missing). "
            "Run: homeroom-agent enroll TOKEN (ask IT for a token)."
        )
    state: AgentState = decode_as(path.read_bytes(), AgentState, str(path))
    if state.key.public.fingerprint != state.device_id:
        raise ValueError(f"{path} is inconsistent (key and device id differ); enrol again.")
    return state
