"""ClassroomApp with a RecordingLink: what the teacher sees, and what the link is asked."""

from __future__ import annotations

from collections.abc import Sequence

from textual.command import CommandList
from textual.widgets import Input, Static
from textual.widgets._footer import FooterKey

from console.app import GRID_THUMBNAIL_FPS, GRID_THUMBNAIL_WIDTH, ClassroomApp
from console.dialogs.confirm_dialog import ConfirmDialog
from console.dialogs.message_dialog import MessageDialog
from console.messages import DeviceChanged
from console.roster import ActionOutcome, OutcomeKind
from console.widgets.student_tile import PICTURE_FAILED
from tests.console.harness import (
    BLUE,
    RED,
    Console,
    banded_picture,
    device,
    picture_area,
    rendered_lines,
    rendered_text,
    running_console,
    tile_text,
)
from tests.console.recording_link import RecordingLink

BOLD_NAME = "[bold red]x[/]"
CLICK_NAME = "[@click=app.quit]y[/]"
CLASS = [device("d1", "Ada"), device("d2", "Ben"), device("d3", "Cleo")]


async def open_dialog(console: Console, key: str) -> MessageDialog:
    await console.pilot.press(key)
    await console.wait_until(lambda: isinstance(console.app.screen, MessageDialog), "dialog opens")
    screen = console.app.screen
    assert isinstance(screen, MessageDialog)
    return screen


async def type_text(console: Console, text: str) -> None:
    await console.pilot.press(*("space" if char == " " else char for char in text))


async def dialog_closed(console: Console) -> None:
    await console.wait_until(
        lambda: not isinstance(console.app.screen, MessageDialog), "the dialog closes"
    )


async def test_tiles_appear_for_pushed_devices_and_are_watched() -> None:
    async with running_console() as console:
        assert console.app.query_one("#empty-class").display

        await console.show_devices(*CLASS)

        assert [console.tile(view.device_id).device for view in CLASS] == CLASS
        assert not console.app.query_one("#empty-class").display
        # One watch once the layout settles (more only if it settles slower than the
        # console waits, on a loaded machine); the last asks for the tiles' final size.
        await console.wait_until(
            lambda: (
                (calls := console.link.calls_to("watch"))
                and calls[-1].width == console.app.grid_thumbnail_width
            ),
            "a watch for the tiles' size",
        )
        watch = console.link.calls_to("watch")[-1]
        assert watch.device_ids == ("d1", "d2", "d3")
        # As wide as a tile's picture can show (half-blocks: a pixel per cell), no wider.
        cells_wide, cells_high = console.grid.shape.picture_cells
        assert watch.width == console.app.grid_thumbnail_width
        assert watch.width == max(
            64, -(-min(cells_wide, round(cells_high * 2 * 16 / 9)) // 16) * 16
        )
        assert watch.width < GRID_THUMBNAIL_WIDTH and watch.fps == GRID_THUMBNAIL_FPS == 1.0


async def test_names_with_markup_are_shown_literally() -> None:
    async with running_console(device("d1", BOLD_NAME), device("d2", CLICK_NAME)) as console:
        assert BOLD_NAME in tile_text(console.tile("d1"))
        assert CLICK_NAME in tile_text(console.tile("d2"))

        dialog = await open_dialog(console, "m")  # the cursor is on the first tile
        # "[@" sorts before "[b": the cursor starts on the click-markup name.
        assert (
            rendered_text(dialog.query_one("#title", Static)).strip() == f"Message to {CLICK_NAME}"
        )

        await console.pilot.press("escape")
        await dialog_closed(console)
        await console.pilot.click(console.tile("d2"), offset=(5, 0))
        await console.pilot.pause()
        assert console.app.is_running


async def test_hub_status_is_shown_literally_and_styled_by_health() -> None:
    async with running_console() as console:
        status = console.app.query_one("#hub-status", Static)

        console.link.app.hub_status("Reconnecting to [b]hub[/b] in 3 s", False)
        await console.wait_until(lambda: "[b]hub[/b]" in rendered_text(status), "status shows")
        assert status.has_class("-error")

        console.link.app.hub_status("Connected", True)
        await console.wait_until(lambda: status.has_class("-ok"), "status turns ok")
        assert "Connected" in rendered_text(status)


async def test_l_asks_for_a_note_then_locks_the_selected_devices() -> None:
    async with running_console(*CLASS) as console:
        await console.pilot.press("space", "right", "right", "space")  # Ada and Cleo

        dialog = await open_dialog(console, "l")
        assert dialog.query_one(Input).max_length == 500  # the protocol's limit on a note
        await type_text(console, "Eyes on me")
        await console.pilot.press("enter")
        # Two screens at once: the teacher confirms first.
        await console.wait_until(
            lambda: isinstance(console.app.screen, ConfirmDialog), "the teacher is asked"
        )
        assert console.link.calls_to("lock") == []
        await console.pilot.press("enter")

        [lock] = await console.calls_to("lock")
        assert (lock.device_ids, lock.text) == (("d1", "d3"), "Eyes on me")
        await dialog_closed(console)
        assert all(
            console.tile(device_id).outcome.kind is OutcomeKind.SENT  # type: ignore[union-attr]
            for device_id in ("d1", "d3")
        )


async def test_a_lock_note_is_optional_and_escape_cancels() -> None:
    async with running_console(*CLASS) as console:
        await open_dialog(console, "l")
        await console.pilot.press("escape")
        await dialog_closed(console)

        await open_dialog(console, "l")
        await console.pilot.press("enter")
        [lock] = await console.calls_to("lock")
        assert (lock.device_ids, lock.text) == (("d1",), "")


async def test_u_unlocks_the_selected_devices() -> None:
    async with running_console(*CLASS) as console:
        await console.pilot.press("a", "u")

        [unlock] = await console.calls_to("unlock")
        assert unlock.device_ids == ("d1", "d2", "d3")


async def test_m_sends_a_message_and_refuses_an_empty_one() -> None:
    async with running_console(*CLASS) as console:
        await console.pilot.press("right")
        dialog = await open_dialog(console, "m")
        assert dialog.query_one(Input).max_length == 2000  # the protocol's limit on a message

        await console.pilot.press("enter")
        await console.pilot.pause()
        assert console.app.screen is dialog
        assert dialog.query_one("#hint").display

        await type_text(console, "Tidy up please")
        await console.pilot.press("enter")
        [message] = await console.calls_to("send_message")
        assert (message.device_ids, message.text) == (("d2",), "Tidy up please")
        assert not console.link.calls_to("lock")


async def test_the_note_field_has_focus_even_when_the_terminal_had_lost_it() -> None:
    # A browser tab (textual-serve) tells the console when it loses focus; Textual then
    # skips its screen auto-focus, and the next key restores focus only on the old screen,
    # so a dialog opened meanwhile would drop what the teacher types.
    async with running_console(*CLASS) as console:
        await console.pilot.press("right")
        console.app.app_focus = False
        console.app.action_message()
        await console.wait_until(lambda: isinstance(console.app.screen, MessageDialog), "opens")
        dialog = console.app.screen
        await console.pilot.pause()
        assert isinstance(dialog.focused, Input)
        await type_text(console, "Hi")
        await console.pilot.pause()
        assert dialog.query_one(Input).value == "Hi"


async def test_the_command_palette_offers_the_classroom_actions() -> None:
    async with running_console(*CLASS) as console:
        await console.pilot.press("ctrl+p")
        await console.wait_until(
            lambda: console.app.screen.query(Input), "the command palette opens"
        )
        await type_text(console, "Unlock screens")
        commands = console.app.screen.query_one(CommandList)
        await console.wait_until(
            lambda: (
                commands.option_count > 0
                and "Unlock screens" in str(commands.get_option_at_index(0).prompt)
            ),
            "the palette offers Unlock screens first",
        )
        await console.pilot.press("enter")

        [unlock] = await console.calls_to("unlock")
        assert unlock.device_ids == ("d1",)


async def test_every_binding_is_described_in_the_footer() -> None:
    async with running_console(*CLASS) as console:
        await console.pilot.pause()
        shown = {key.description for key in console.app.query(FooterKey)}

        assert {"Lock", "Unlock", "Message", "Select all", "Quit"} <= shown
        assert {"Select", "All/none", "Closer look"} <= shown


async def test_with_no_devices_the_actions_do_nothing() -> None:
    async with running_console() as console:
        await console.pilot.press("l", "m", "u")
        await console.pilot.pause()

        assert not isinstance(console.app.screen, MessageDialog)
        assert not console.link.calls
        disabled = {k.description for k in console.app.query(FooterKey) if k.has_class("-disabled")}
        assert {"Lock", "Unlock", "Message"} <= disabled


async def test_a_locked_device_shows_locked() -> None:
    async with running_console(*CLASS) as console:
        console.link.app.device_changed(device("d2", "Ben", locked=True))

        tile = console.tile("d2")
        await console.wait_until(lambda: tile.has_class("-locked"), "Ben's tile shows locked")
        assert "🔒" in tile_text(tile)
        assert not console.tile("d1").has_class("-locked")


async def test_outcomes_show_on_their_tiles() -> None:
    async with running_console(*CLASS) as console:
        console.link.app.outcome_received(ActionOutcome("d1", True, "ok", "locked"))
        console.link.app.outcome_received(ActionOutcome("d3", False, "denied", "after hours"))
        console.link.app.outcome_received(ActionOutcome("gone", False, "denied", ""))

        await console.wait_until(
            lambda: "✗ denied" in tile_text(console.tile("d3")), "Cleo's failure shows"
        )
        assert "✓ locked" in tile_text(console.tile("d1"))
        assert "✓" not in tile_text(console.tile("d2")) and "✗" not in tile_text(console.tile("d2"))


async def test_a_jpeg_from_a_device_is_drawn_in_its_tile() -> None:
    async with running_console(*CLASS) as console:
        tile = console.tile("d2")
        area = picture_area(tile)

        console.link.app.picture_received("d2", banded_picture((320, 200), "JPEG", RED, BLUE))
        await console.wait_until(lambda: "▀" in rendered_text(area), "the picture is drawn")

        cells = [
            segment.style
            for strip in rendered_lines(area)
            for segment in strip
            if segment.text.strip() == "▀" * len(segment.text) and segment.style
        ]
        upper = cells[0].color
        lower = cells[-1].bgcolor
        assert upper is not None and upper.get_truecolor().red > 200  # red on top
        assert lower is not None and lower.get_truecolor().blue > 200  # blue below
        assert "▀" not in rendered_text(picture_area(console.tile("d1")))


async def test_undecodable_picture_bytes_show_a_placeholder_and_the_app_carries_on() -> None:
    async with running_console(*CLASS) as console:
        area = picture_area(console.tile("d1"))

        console.link.app.picture_received("d1", b"\xff\xd8\xff\xe0 not really a jpeg")
        await console.wait_until(lambda: PICTURE_FAILED in rendered_text(area), "placeholder")
        assert console.app.is_running

        console.link.app.picture_received("d1", banded_picture((32, 20), "PNG"))
        await console.wait_until(lambda: "▀" in rendered_text(area), "a good picture recovers")


async def test_a_flood_of_updates_for_one_device_collapses() -> None:
    async with running_console(*CLASS) as console:
        before = len(console.handled(DeviceChanged))
        for second in range(200):
            console.link.app.device_changed(device("d1", "Ada", last_seen=float(second)))
        console.link.app.device_changed(device("d1", "Ada", locked=True))

        await console.wait_until(lambda: console.tile("d1").device.locked, "the last update wins")
        # All 201 were queued before the app ran again: only the newest was handled.
        assert len(console.handled(DeviceChanged)) - before == 1


class FailingLink(RecordingLink):
    """A link whose hub refuses locks."""

    async def lock(self, device_ids: Sequence[str], message: str) -> None:
        raise ConnectionError("the hub is unreachable")


async def test_a_failing_command_is_reported_and_later_commands_still_go() -> None:
    async with running_console(*CLASS, link=FailingLink()) as console:
        await open_dialog(console, "l")
        await console.pilot.press("enter")
        await console.wait_until(
            lambda: any(
                "Could not lock screens: the hub is unreachable" in toast_text
                for toast_text in console.toasts()
            ),
            "the teacher is told",
        )

        await console.pilot.press("u")
        [unlock] = await console.calls_to("unlock")
        assert unlock.device_ids == ("d1",)
        assert console.app.is_running


class CrashingLink(RecordingLink):
    """A link that fails for good after connecting."""

    async def run(self, app: ClassroomApp) -> None:
        self.running.set()
        raise OSError("certificate verify failed")


async def test_a_link_that_stops_is_shown_in_the_hub_status() -> None:
    async with running_console(link=CrashingLink()) as console:
        status = console.app.query_one("#hub-status", Static)

        await console.wait_until(
            lambda: "certificate verify failed" in rendered_text(status), "the failure shows"
        )
        assert status.has_class("-error")
        assert console.app.is_running


async def test_after_a_reconnect_the_class_is_watched_again() -> None:
    async with running_console(*CLASS) as console:
        await console.calls_to("watch")

        console.link.app.hub_status("Reconnecting…", False)
        await console.pilot.pause()
        console.link.app.hub_status("Connected", True)

        watches = await console.calls_to("watch", 2)
        assert watches[-1].device_ids == ("d1", "d2", "d3")
