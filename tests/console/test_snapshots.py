"""How the grid and the detail view look, at a fixed terminal size (SVG snapshots).

Update after an intended change with: .venv/bin/pytest tests/console/test_snapshots.py
--snapshot-update, and look at the SVGs before committing them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from textual.pilot import Pilot

from console.app import ClassroomApp
from console.roster import ActionOutcome
from tests.console.harness import BLUE, RED, banded_picture, device, wait_until
from tests.console.recording_link import RecordingLink

SIZE = (120, 40)
GREEN, GREY = (0, 160, 60), (200, 200, 200)
CLASS = [
    device("d1", "Ada", user="ada", app="firefox", title="Fractions — Firefox"),
    device("d2", "[bold red]pwned[/]", app="xterm", title="\x1b]0;owned\x07\x1b[2J[b]big[/b]"),
    device("d3", "Cleo", locked=True, watched=True, app="libreoffice", title="Essay.odt"),
    device("d4", "Dev", idle_seconds=420, app="scratch", title="Maze"),
    device("d5", "Eli", online=False),
    device("d6", "Fay", app="geogebra", title="Triangles"),
]
PICTURES = {
    "d1": (RED, BLUE),
    "d2": (GREEN, GREY),
    "d3": (GREY, GREY),
    "d4": (BLUE, RED),
    "d6": (GREEN, RED),
}


def classroom(before: Callable[[Pilot[Any], ClassroomApp, RecordingLink], Any] | None = None):  # type: ignore[no-untyped-def]
    """An app showing CLASS with pictures and outcomes, and a run_before that waits for them."""
    link = RecordingLink()
    app = ClassroomApp(link, clock=lambda: 1_700_000_000.0)

    async def run_before(pilot: Pilot[Any]) -> None:
        await link.running.wait()
        app.devices_changed(CLASS)
        await wait_until(pilot, lambda: len(app.class_grid.tiles) == len(CLASS), "tiles")
        await pilot.pause()
        for device_id, (top, bottom) in PICTURES.items():
            app.picture_received(device_id, banded_picture((320, 200), top=top, bottom=bottom))
        app.outcome_received(ActionOutcome("d3", True, "ok", "", "lock"))
        app.outcome_received(
            ActionOutcome("d6", False, "not_allowed", "not on the list", "launch app")
        )
        await wait_until(
            pilot,
            lambda: all(
                app.class_grid.tile(device_id)._last_picture is not None  # type: ignore[union-attr]
                for device_id in PICTURES
            ),
            "pictures drawn",
        )
        if before is not None:
            await before(pilot, app, link)
        await pilot.pause()

    return app, run_before


def test_the_class_grid(snap_compare: Any) -> None:
    app, run_before = classroom()
    assert snap_compare(app, terminal_size=SIZE, run_before=run_before)


def test_the_detail_view(snap_compare: Any) -> None:
    async def open_detail(pilot: Pilot[Any], app: ClassroomApp, link: RecordingLink) -> None:
        # "[" sorts before letters: the pwned device (hostile name and title) comes first.
        await pilot.press("enter")
        await wait_until(pilot, lambda: app.closer_look is not None, "the detail view")
        assert app.closer_look is not None and app.closer_look.device_id == "d2"
        app.picture_received("d2", banded_picture((960, 600), top=GREEN, bottom=GREY))
        closer = app.closer_look
        assert closer is not None
        await wait_until(pilot, lambda: closer.tile._last_picture is not None, "its picture")

    app, run_before = classroom(open_detail)
    assert snap_compare(app, terminal_size=SIZE, run_before=run_before)
