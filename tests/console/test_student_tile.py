"""StudentTile on its own: text from devices shown literally, states, and picture decoding."""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
from rich.text import Text
from textual.app import App, ComposeResult
from textual.pilot import Pilot

from console.picture import HalfBlockPicture, render_picture
from console.roster import ActionOutcome, DeviceView
from console.widgets import student_tile
from console.widgets.student_tile import NO_PICTURE_OFFLINE, WAITING_FOR_PICTURE, StudentTile
from tests.console.harness import (
    banded_picture,
    picture_area,
    rendered_text,
    tile_text,
    wait_until,
)
from tests.support import scaled

QUIT_LINK = "[@click=app.quit]y[/]"


class TileHost(App[None]):
    """One tile filling a small screen."""

    CSS = "StudentTile { border: round white; height: 1fr; }"

    def __init__(self, device: DeviceView) -> None:
        super().__init__()
        self.device = device

    def compose(self) -> ComposeResult:
        yield StudentTile(self.device)


@asynccontextmanager
async def hosted(
    device: DeviceView, size: tuple[int, int] = (40, 14)
) -> AsyncIterator[tuple[Pilot[None], StudentTile]]:
    app = TileHost(device)
    async with app.run_test(size=size) as pilot:
        await pilot.pause()
        yield pilot, app.query_one(StudentTile)


def ada(**state: object) -> DeviceView:
    values: dict[str, object] = {"group": "7B", "online": True, **state}
    return DeviceView("d1", "Ada", **values)  # type: ignore[arg-type]


async def test_names_users_and_results_from_devices_are_never_markup() -> None:
    device = DeviceView("d1", "[bold red]x[/]", "7B", online=True, user="[i]kid[/i]")
    async with hosted(device) as (pilot, tile):
        tile.show_outcome(ActionOutcome("d1", False, QUIT_LINK, "[b]no[/b]"))
        await pilot.pause()

        text = tile_text(tile)
        assert "[bold red]x[/]" in text
        assert "[i]kid[/i]" in text
        assert f"✗ {QUIT_LINK}" in text
        assert "[b]no[/b]" in str(tile.tooltip)


async def test_clicking_a_click_markup_name_does_not_run_the_action() -> None:
    device = DeviceView("d1", QUIT_LINK, "7B", online=True)
    async with hosted(device) as (pilot, tile):
        tile.show_outcome(ActionOutcome("d1", False, QUIT_LINK, ""))
        await pilot.pause()
        status = tile.query_one("#status")
        link_at = rendered_text(status).index(QUIT_LINK)

        # Parsed as markup, either click would quit the app.
        await pilot.click(tile, offset=(5, 0))
        await pilot.click(status, offset=(link_at + 2, 0))
        await pilot.pause()

        assert pilot.app.is_running
        assert QUIT_LINK in rendered_text(tile)


async def test_terminal_escapes_in_a_name_are_not_sent_to_the_terminal() -> None:
    device = DeviceView("d1", "Eve\x1b[2J\x1b]0;pwned\x07", "7B", online=True)
    async with hosted(device) as (_pilot, tile):
        text = rendered_text(tile)
        assert "\x1b" not in text and "\x07" not in text
        assert "Eve" in text


async def test_states_show_as_classes_and_on_the_status_line() -> None:
    async with hosted(ada()) as (pilot, tile):
        assert "● online" in tile_text(tile)
        assert WAITING_FOR_PICTURE in tile_text(tile)

        tile.update_device(ada(online=False, locked=True, watched=True, user="ada.l"))
        await pilot.pause()

        assert tile.has_class("-offline", "-locked", "-watched")
        text = tile_text(tile)
        assert "○ offline" in text and "🔒" in text and "👀" in text and "ada.l" in text
        assert NO_PICTURE_OFFLINE in rendered_text(picture_area(tile))

        tile.update_device(ada())
        tile.selected = True
        tile.has_cursor = True
        await pilot.pause()

        assert not tile.has_class("-offline") and not tile.has_class("-locked")
        assert tile.has_class("-selected", "-focused")


async def test_outcomes_show_success_and_failure() -> None:
    async with hosted(ada()) as (pilot, tile):
        tile.show_outcome(ActionOutcome("d1", True, "ok", "locked"))
        await pilot.pause()
        assert "✓ locked" in tile_text(tile)

        tile.show_outcome(ActionOutcome("d1", False, "outside-hours", "not in school hours"))
        await pilot.pause()
        assert "✗ outside-hours" in tile_text(tile)
        assert "not in school hours" in str(tile.tooltip)


async def test_a_tile_refuses_another_devices_state() -> None:
    async with hosted(ada()) as (_pilot, tile):
        with pytest.raises(ValueError):
            tile.update_device(DeviceView("d2", "Ben", "7B", online=True))
        with pytest.raises(ValueError):
            tile.show_outcome(ActionOutcome("d2", True, "ok", ""))


async def test_one_decode_at_a_time_and_stale_pictures_are_dropped(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    started = threading.Event()
    release = threading.Event()
    decoded: list[bytes] = []
    in_flight = 0
    most_in_flight = 0
    lock = threading.Lock()

    def slow_render(data: bytes, cells_wide: int, cells_high: int, **_: str | None) -> Text:
        nonlocal in_flight, most_in_flight
        with lock:
            in_flight += 1
            most_in_flight = max(most_in_flight, in_flight)
        started.set()
        release.wait(scaled(5))  # a slow terminal: pictures pile up meanwhile
        with lock:
            in_flight -= 1
            decoded.append(data)
        return Text(data.decode())

    monkeypatch.setattr(student_tile, "render_picture", slow_render)
    async with hosted(ada()) as (pilot, tile):
        tile.receive_picture(b"frame-0")
        await wait_until(pilot, started.is_set, "the first decode starts")
        for frame in range(1, 10):
            tile.receive_picture(f"frame-{frame}".encode())
        release.set()

        await wait_until(pilot, lambda: "frame-9" in tile_text(tile), "the newest frame is shown")
        assert decoded == [b"frame-0", b"frame-9"]
        assert most_in_flight == 1


async def test_the_picture_is_redrawn_to_fit_when_the_tile_resizes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    sizes: list[tuple[int, int]] = []

    def recording_render(
        data: bytes, cells_wide: int, cells_high: int, colour_system: str | None = None
    ) -> HalfBlockPicture:
        sizes.append((cells_wide, cells_high))
        return render_picture(data, cells_wide, cells_high, colour_system=colour_system)

    monkeypatch.setattr(student_tile, "render_picture", recording_render)
    async with hosted(ada(), size=(40, 14)) as (pilot, tile):
        tile.receive_picture(banded_picture((320, 200)))
        await wait_until(pilot, lambda: len(sizes) == 1, "the picture is drawn")
        await wait_until(pilot, lambda: "▀" in tile_text(tile), "the picture is shown")

        await pilot.resize_terminal(60, 20)
        await wait_until(pilot, lambda: len(sizes) == 2, "the picture is drawn again")

        assert sizes[1][0] > sizes[0][0] and sizes[1][1] > sizes[0][1]
        assert sizes[1] == (
            picture_area(tile).content_size.width,
            picture_area(tile).content_size.height,
        )


async def test_a_picture_waits_while_the_tile_has_no_room_for_it() -> None:
    async with hosted(ada()) as (pilot, tile):
        area = picture_area(tile)
        area.styles.height = 0  # as in a terminal too small for any picture
        await wait_until(pilot, lambda: area.content_size.height == 0, "the area is squeezed")
        tile.receive_picture(banded_picture((320, 200)))
        await pilot.pause()
        assert pilot.app.is_running
        assert "▀" not in tile_text(tile)

        area.styles.height = "1fr"
        await wait_until(pilot, lambda: "▀" in tile_text(tile), "the picture is drawn")
