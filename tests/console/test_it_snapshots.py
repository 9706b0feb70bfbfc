"""SVG snapshots of the fleet and audit screens at a fixed terminal size, with fixed data.

The data is what a hub answered (typed protocol values), fixed so the pictures do not
change with the clock; the live behaviour is tested against a real hub in test_it_desk.
"""

from __future__ import annotations

from typing import Any

from textual.app import App

from console.it_desk import ITDesk
from console.screens.audit import AuditScreen
from console.screens.fleet import FleetScreen
from protocol.fleet import FleetEntry, LifeChange, LifeState
from protocol.messages import AuditEntry

SIZE = (160, 30)
AT = 1_767_258_000  # 2026-01-01 09:00 UTC


def ident(n: int) -> str:
    return f"{n:064x}"


FLEET = (
    FleetEntry(
        device_id=ident(1), name="Ada's laptop", group="7B", asset_tag="HR-0001",
        student="Ada Lovelace", online=True, last_seen=AT, agent_version="0.1.0",
        os="Linux 6.1.0", model="ThinkPad 11e", serial="PF-1234", battery="81 %, on battery",
        disk_free="40.2 GB free of 64.0 GB", facts_at=AT,
    ),
    FleetEntry(
        device_id=ident(2), name="[bold red]pwned[/]", group="7B", asset_tag="HR-0002",
        student="Eve", state=LifeState.IN_REPAIR, last_seen=AT - 86_400, agent_version="0.1.0",
        os="Windows 11", model="\ufffd[31mModel X", serial="SN-42",
    ),
    FleetEntry(
        device_id=ident(3), name="Spare 1", group="7B", asset_tag="HR-0100",
        student="Eve", state=LifeState.ON_LOAN, loan_for=ident(2), online=True, last_seen=AT,
        agent_version="0.1.0", os="Linux 6.1.0", model="Chromebook", battery="100 %, plugged in",
    ),
)  # fmt: skip

AUDIT = (
    AuditEntry(
        seq=3, at=AT + 120, actor="[bold red]pwned[/]", action="result",
        targets=(ident(2),), result="ok", detail="command 1234: screenshot 1280x800",
    ),
    AuditEntry(
        seq=2, at=AT + 60, actor="Sam (it 0a1b2c3d)", action="screenshot",
        targets=(ident(2),), result="delivered 1", detail="command 1234",
    ),
    AuditEntry(
        seq=1, at=AT, actor="Sam (it 0a1b2c3d)", action="device_record",
        targets=(ident(2),), result="ok", detail="state: 'in_service' -> 'in_repair'",
    ),
)  # fmt: skip


class AnsweredDesk(ITDesk):
    """An ITDesk whose hub has already answered: the fixed fleet and audit above."""

    def __init__(self) -> None:
        super().__init__(lambda: None)

    async def fleet(self) -> tuple[FleetEntry, ...]:
        return FLEET

    async def audit(self, limit: int = 1000) -> tuple[AuditEntry, ...]:
        return AUDIT

    async def history(self, device_id: str) -> tuple[LifeChange, ...]:
        return ()


class OneScreen(App[None]):
    """Shows one IT screen, as the console does after `i` or `v`."""

    def __init__(self, screen: Any) -> None:
        super().__init__()
        self._first = screen

    def on_mount(self) -> None:
        self.push_screen(self._first)


def test_fleet_snapshot(snap_compare: Any) -> None:
    assert snap_compare(OneScreen(FleetScreen(AnsweredDesk())), terminal_size=SIZE)


def test_audit_snapshot(snap_compare: Any) -> None:
    assert snap_compare(OneScreen(AuditScreen(AnsweredDesk())), terminal_size=SIZE)
