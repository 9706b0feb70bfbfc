"""Several classes in the console: switching class, starting and ending a class session.

Against a real embedded hub with simulated students running real agent code (the demo's
two classes: Maths 7B holds Ada and Bilal, Science 7B holds Chloé and Dmitri).
"""

from __future__ import annotations

from pathlib import Path

import msgspec
from textual.app import App
from textual.widgets import OptionList

from console.app import ClassroomApp
from console.demo import demo_classroom
from console.dialogs.class_picker import ClassPicker
from console.hub_link import HubConnection
from console.widgets.student_tile import StudentTile

from .harness import rendered_text, wait_until


def toasts(app: App[None]) -> list[str]:
    return [" ".join(rendered_text(toast).split()) for toast in app.screen.query("Toast")]


async def test_a_teacher_switches_class_then_starts_and_ends_its_session(tmp_path: Path) -> None:
    async with demo_classroom(4, folder=tmp_path) as room:
        ids = {agent.state.name: agent.state.device_id for agent in room.agents}
        app = ClassroomApp(HubConnection(room.teacher, url=room.url))
        async with app.run_test(size=(140, 45), notifications=True) as pilot:

            def names() -> list[str]:
                return sorted(tile.device.name for tile in app.query(StudentTile))

            def class_status() -> str:
                return rendered_text(app.query_one("#class-status"))

            await wait_until(pilot, lambda: len(names()) == 4, "every student shows", 30)
            assert "Every device" in class_status()

            await pilot.press("c")
            await wait_until(pilot, lambda: isinstance(app.screen, ClassPicker), "the class list")
            await wait_until(
                pilot,
                lambda: app.screen.query_one(OptionList).option_count == 3,
                "every device and the two classes listed",
            )
            await pilot.press("down", "down", "enter")  # every device, Maths 7B, Science 7B
            await wait_until(pilot, lambda: names() == ["Chloé", "Dmitri"], "Science 7B shows")
            assert "Science 7B (2 devices), no class session" in class_status()
            # Students out of view are no longer watched, so their devices stop capturing.
            await wait_until(
                pilot,
                lambda: not room.hub.presence[ids["Ada"]].watched_by,
                "Ada's device is no longer watched",
                30,
            )

            # Another teacher's lesson is on: the hub refuses, and the console says whose.
            colleague = msgspec.structs.replace(
                room.teacher.certificate.body, serial="c" * 32, name="Mr Jones"
            )
            room.hub.class_sessions.start("Science 7B", colleague)
            await pilot.press("t")
            await wait_until(
                pilot,
                lambda: any("Mr Jones's session" in text for text in toasts(app)),
                "the refusal is shown",
            )
            room.hub.class_sessions.end("Science 7B", colleague)

            await pilot.press("t")
            await wait_until(
                pilot,
                lambda: room.hub.class_sessions.current("Science 7B") is not None,
                "the hub has the class session",
            )
            await wait_until(
                pilot,
                lambda: "session by Demo Teacher until" in class_status(),
                "the console shows the session",
            )
            assert app.query_one("#class-status").has_class("-session")

            await pilot.press("t")
            await wait_until(
                pilot,
                lambda: room.hub.class_sessions.current("Science 7B") is None,
                "the session ended",
            )
            await wait_until(
                pilot, lambda: "no class session" in class_status(), "the console shows it ended"
            )

            await pilot.press("c")
            await wait_until(pilot, lambda: isinstance(app.screen, ClassPicker), "the class list")
            await pilot.press("home", "enter")
            await wait_until(pilot, lambda: len(names()) == 4, "every device shows again")


async def test_a_class_name_with_markup_is_shown_literally_in_the_list_and_status() -> None:
    from console.classes import ClassView

    from .harness import device, running_console

    hostile = "[bold red]pwned[/] \x1b[2J"
    async with running_console(device("d1", "Ada"), device("d2", "Bilal")) as console:
        console.link.app.classes_changed([ClassView(hostile, "7B", ("d2",))])
        await console.pilot.press("c")
        await console.wait_until(
            lambda: (
                isinstance(console.app.screen, ClassPicker)
                and console.app.screen.query_one(OptionList).option_count == 2
            ),
            "the class list",
        )
        picker_text = rendered_text(console.app.screen.query_one(OptionList))
        assert "[bold red]pwned[/]" in picker_text and "\x1b" not in picker_text
        await console.pilot.press("down", "enter")
        await console.wait_until(lambda: console.grid.device_ids == ("d2",), "only Bilal")
        status = rendered_text(console.app.query_one("#class-status"))
        assert "Class [bold red]pwned[/]" in status and "\x1b" not in status
        # Ada left the view: the console stops watching her device.
        assert ("d1",) in [call.device_ids for call in await console.calls_to("unwatch")]


async def test_classes_that_arrive_while_the_picker_is_open_are_listed_at_once() -> None:
    """A teacher who presses c right after starting sees the classes as the hub sends them,
    without closing and opening the list again; the highlight stays where it was."""
    from console.classes import ClassView

    from .harness import device, running_console

    async with running_console(device("d1", "Ada"), device("d2", "Bilal")) as console:
        await console.pilot.press("c")
        await console.wait_until(
            lambda: isinstance(console.app.screen, ClassPicker), "the class list opens"
        )
        choices = console.app.screen.query_one(OptionList)
        assert choices.option_count == 1  # nothing from the hub yet: every device only
        console.link.app.classes_changed([ClassView("Maths 7B", "7B", ("d1",))])
        await console.wait_until(lambda: choices.option_count == 2, "Maths 7B listed")
        await console.pilot.press("down")
        assert choices.highlighted == 1
        classes = [ClassView("Art 7B", "7B", ("d2",)), ClassView("Maths 7B", "7B", ("d1",))]
        console.link.app.classes_changed(classes)
        await console.wait_until(lambda: choices.option_count == 3, "Art 7B listed too")
        assert choices.highlighted == 2  # still on Maths 7B, now second
        await console.pilot.press("enter")
        await console.wait_until(lambda: console.grid.device_ids == ("d1",), "only Ada")


async def test_classes_that_arrive_before_the_picker_is_drawn_are_listed() -> None:
    from console.classes import ClassView

    from .harness import device, running_console

    async with running_console(device("d1", "Ada")) as console:
        picker = ClassPicker([], None)
        picker.show_teacher_classes([ClassView("Maths 7B", "7B", ("d1",))])  # not composed yet
        await console.app.push_screen(picker)
        await console.wait_until(
            lambda: picker.is_mounted and picker.query_one(OptionList).option_count == 2,
            "every device and Maths 7B listed",
        )
