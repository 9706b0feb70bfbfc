"""The group policy this device enforces itself, on its own clock, online or not.

The hub sends the admin-signed policy of the device's group at each sign-in and when it
changes. The device verifies it through the certificate chain to its pinned organisation
key, keeps the highest sequence it has seen (in its state folder, re-verified at every
start, so a hand-edited file is refused), and then, whatever the hub does:

- refuses a command the window open now does not allow (`check`), naming the window;
- captures nothing while the window forbids capture (`capture_allowed`);
- locks the screen when a window that says `lock_device` opens and unlocks it when that
  window closes (`NightLock`), with no hub needed: the agent calls `enforce` on a timer.

Without a policy the device obeys roles and groups only, as before policies existed.
The device does not know which network counts as the school's, so network-fenced windows
see it as away from school; the hub, which sees its address, applies the fence.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection
from dataclasses import dataclass
from datetime import tzinfo
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import msgspec

from link.files import write_private
from protocol.codec import decode_as
from protocol.commands import CommandBody
from protocol.errors import ErrorCode, PeerError
from protocol.keys import PublicKey
from protocol.policy import (
    Policy,
    Refused,
    SignedPolicy,
    Window,
    capture_allowed,
    decide,
    newer_than,
    verify_policy,
    window_at,
    without_policy,
)

log = logging.getLogger(__name__)

POLICY_FILE = "policy.json"


def zone_of(name: str) -> tzinfo:
    return ZoneInfo(name)


class PolicyKeeper:
    """The newest verified policy of this device's group, or none yet."""

    def __init__(
        self,
        folder: Path | None,
        org_key: PublicKey,
        group: str,
        *,
        clock: Callable[[], float],
        revoked: Callable[[], Collection[str]] = frozenset,
        zones: Callable[[str], tzinfo] = zone_of,
    ) -> None:
        self.folder = folder
        self.org_key = org_key
        self.group = group
        self.clock = clock
        self.revoked = revoked
        self.zones = zones
        self.held: SignedPolicy | None = None
        self.policy: Policy | None = None
        #: Why the saved policy was refused at start, to report to the school once online.
        self.problem: str | None = None
        self._load()

    @property
    def sequence(self) -> int:
        return 0 if self.held is None else self.held.body.sequence

    def receive(self, offered: SignedPolicy) -> bool:
        """Take `offered` if it verifies and is newer; True when it replaced ours.

        Raises PeerError for a policy not signed by an admin of this group through the
        organisation, one altered, or one older than the one held (which stays in force).
        """
        policy = self._verified(offered)
        if not newer_than(offered, self.held):
            return False
        self.held, self.policy = offered, policy
        if self.folder is not None:
            try:
                write_private(self.folder / POLICY_FILE, msgspec.json.encode(offered))
            except OSError as error:  # e.g. disk full: enforce it from memory meanwhile
                log.error("could not save policy %d: %s", self.sequence, error)
        return True

    def check(self, body: CommandBody) -> None:
        """Raise PeerError(POLICY_FORBIDDEN) naming the window if the policy refuses `body`."""
        if self.policy is None:
            refused = without_policy(self.group, body.issuer.body.role)
            if refused is not None:
                raise PeerError(ErrorCode.POLICY_FORBIDDEN, refused.reason)
            return
        decision = decide(self.policy, body.issuer.body.role, body.action.name, self.clock())
        if isinstance(decision, Refused):
            raise PeerError(ErrorCode.POLICY_FORBIDDEN, decision.reason)

    def capture_allowed(self) -> bool:
        return self.policy is None or capture_allowed(self.policy, self.clock())

    def window(self) -> Window | None:
        """The window open now (None outside every window, or without a policy)."""
        return None if self.policy is None else window_at(self.policy, self.clock())

    def _verified(self, offered: SignedPolicy) -> Policy:
        body = verify_policy(
            offered,
            org_key=self.org_key,
            group=self.group,
            now=int(self.clock()),
            revoked=self.revoked(),
        )
        try:
            zone = self.zones(body.rules.time_zone)
        except (ZoneInfoNotFoundError, ValueError):
            raise PeerError(
                ErrorCode.ACTION_FAILED,
                f"time zone {body.rules.time_zone!r} is unknown on this device (install tzdata)",
            ) from None
        return Policy.of(body, zone)

    def _load(self) -> None:
        if self.folder is None or not (self.folder / POLICY_FILE).exists():
            return
        path = self.folder / POLICY_FILE
        try:
            saved: SignedPolicy = decode_as(path.read_bytes(), SignedPolicy, str(path))
            policy = self._verified(saved)
        except (PeerError, OSError) as error:
            # Edited by hand, or damaged: refused. The hub sends the group's policy at the
            # next sign-in; until then the device obeys roles and groups, and says so.
            self.problem = f"saved policy refused ({error}); waiting for the hub's"
            log.error("%s: %s", path, self.problem)
            return
        self.held, self.policy = saved, policy


@dataclass(frozen=True, slots=True)
class LockChange:
    """Lock the screen (with this message, as this window) or lift the window's lock."""

    lock: bool
    message: str = ""
    by: str = ""


class NightLock:
    """Locks the screen while a `lock_device` window is open; lifts only the lock it made
    when the window closes, so a staff lock given meanwhile (or before) stays."""

    def __init__(self) -> None:
        self.window: str | None = None
        #: The screen is locked because of the window (not by staff, not before it opened).
        self.holds_lock = False

    def enforce(self, keeper: PolicyKeeper, locked: bool) -> LockChange | None:
        """What to do now that a lock window opened or closed; None when nothing changed."""
        open_window = keeper.window()
        window = open_window if open_window is not None and open_window.lock_device else None
        name = None if window is None else window.name
        if name == self.window:
            return None  # only a window opening or closing changes anything
        self.window = name
        if window is not None:
            if locked:
                return None  # already locked (by staff): theirs to lift, not the window's
            self.holds_lock = True
            message = window.lock_message or f"The {window.name} window: this device is locked."
            return LockChange(lock=True, message=message, by=f"the {window.name} window")
        if self.holds_lock:
            self.holds_lock = False
            return LockChange(lock=False)
        return None

    def staff_locked(self) -> None:
        """A staff lock replaced the window's: the window's end does not lift it."""
        self.holds_lock = False
