"""What applies on this device now, for the student to read: who is watching the screen,
whether it is locked, focus mode, and the school's policy window.

The agent shows these lines on the student's screen (agent/ui_panel.py, opened from a tab at
the screen's edge) and rewrites `what-applies.json` in its folder whenever they change, and
`homeroom-agent what-applies` prints it (the student's own copy: editing it changes
nothing but what they read). The policy window is a hook the policy code fills
(`Agent.policy_window`); until then the panel says no window is set.
"""

from __future__ import annotations

import time
from pathlib import Path

import msgspec

from link.files import write_private
from protocol.limits import fit

WHAT_APPLIES_FILE = "what-applies.json"


class WhatApplies(msgspec.Struct, frozen=True, kw_only=True):
    """The panel's facts; `at` is when they were last true (the agent's clock)."""

    at: int
    watched_by: tuple[str, ...] = ()
    locked: bool = False
    focus: str | None = None
    #: The policy window in force and what it allows, in words (the policy code's hook).
    window: str | None = None

    def same_as(self, other: WhatApplies | None) -> bool:
        """Equal but for the time: only a change is worth writing down."""
        return other is not None and msgspec.structs.replace(other, at=self.at) == self

    def lines(self) -> list[str]:
        """The panel, one fact a line, every word made printable."""
        watchers = ", ".join(self.watched_by)
        facts = [
            f"Since {time.strftime('%H:%M:%S', time.localtime(self.at))}:",
            f"Watching your screen now: {watchers}"
            if watchers
            else "Nobody is watching your screen.",
            "Your screen is locked by your school."
            if self.locked
            else "Your screen is not locked.",
            f"Focus mode: {self.focus}" if self.focus else "No focus mode.",
            f"Policy window: {self.window}" if self.window else "Policy window: none set.",
        ]
        return [fit(line, max(len(line), 1), printable=True) for line in facts]


def save(folder: Path, applies: WhatApplies) -> None:
    write_private(folder / WHAT_APPLIES_FILE, msgspec.json.encode(applies))


def load(folder: Path) -> WhatApplies | None:
    """What the agent last wrote, or None if it never did (or the file is not its)."""
    try:
        return msgspec.json.decode((folder / WHAT_APPLIES_FILE).read_bytes(), type=WhatApplies)
    except (OSError, msgspec.DecodeError):
        return None
