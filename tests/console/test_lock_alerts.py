"""A device's lock alerts reach the teacher's console through a real hub: a mark on the
student's tile and a notification naming the student and the time, the device's words shown
literally. The lock tampered with on a real desktop: tests/e2e/test_lock_alerts_on_a_desktop.py."""

from __future__ import annotations

from pathlib import Path

from agent.desktop import UnavailableDesktop
from console.app import ClassroomApp
from console.hub_link import HubConnection
from console.widgets.student_tile import StudentTile
from protocol.certificates import Role
from protocol.messages import DeviceAlert

from ..classroom import classroom
from .harness import rendered_text
from .test_live_hub import until

#: What a device says is its own to choose: markup, emoji codes, a fake second line.
HOSTILE_REASON = "[bold red]No display[/] :warning: [link=http://x]click[/link]"


def toasts(app: ClassroomApp) -> list[str]:
    """The notifications on screen, each as one line of text (without the toast's edge)."""
    return [
        " ".join(rendered_text(toast).replace("▌", " ").split())
        for toast in app.screen.query("Toast")
    ]


async def test_a_lock_that_cannot_be_shown_marks_the_tile_and_tells_the_teacher(
    tmp_path: Path,
) -> None:
    async with classroom(tmp_path) as room:
        ada = await room.start_agent("Ada's laptop", desktop=UnavailableDesktop(HOSTILE_REASON))
        await room.start_agent("Bilal's laptop")
        # Another class's teacher is not told about Ada.
        other_class = await room.console(room.staff("Mr Jones", Role.TEACHER, ("8C",)))
        app = ClassroomApp(HubConnection(room.staff(), url=room.url))
        async with app.run_test(size=(140, 45), notifications=True) as pilot:

            def tiles() -> dict[str, StudentTile]:
                return {tile.device.name: tile for tile in app.query(StudentTile)}

            await until(pilot, lambda: len(tiles()) == 2)
            # Nothing selected: the lock goes to the tile under the cursor, Ada's (first by name).
            await pilot.press("l", *"Eyes on me", "enter")
            await until(pilot, lambda: tiles()["Ada's laptop"].alert is not None)
            tile = tiles()["Ada's laptop"]
            alert = tile.alert
            assert alert is not None and alert.device_id == ada.state.device_id
            assert alert.kind == "lock_not_shown" and alert.detail == HOSTILE_REASON
            assert tile.has_class("-alert") and not tiles()["Bilal's laptop"].has_class("-alert")
            await pilot.pause()
            assert f"⚠ not shown {alert.time[:5]}" in rendered_text(tile.query_one("#status"))
            expected = f"Ada's laptop: lock not shown at {alert.time}: {HOSTILE_REASON}"
            await until(pilot, lambda: any(expected in toast for toast in toasts(app)))
            assert HOSTILE_REASON in str(tile.tooltip)

            # Unlocked: the alert was about that lock, and goes with it.
            await pilot.press("u")
            await until(pilot, lambda: not tiles()["Ada's laptop"].has_class("-locked"))
            assert tiles()["Ada's laptop"].alert is None
            assert not tiles()["Ada's laptop"].has_class("-alert")
        assert not [e for e in other_class.inbox.events if isinstance(e, DeviceAlert)]
