"""A closer look at one student: larger and more frequent pictures, actions on that one alone."""

from __future__ import annotations

from console.app import GRID_THUMBNAIL_FPS
from console.roster import ActionOutcome
from console.screens.closer_look import CLOSER_LOOK_FPS, CLOSER_LOOK_WIDTH, CloserLook
from tests.console.harness import banded_picture, device, running_console

CLASS = [device("d-ada", "Ada"), device("d-ben", "Ben", user="ben.k"), device("d-cat", "Cat")]


async def test_enter_opens_a_closer_look_that_asks_for_more_and_escape_returns() -> None:
    async with running_console(*CLASS) as console:
        [grid] = await console.calls_to("watch")  # the class, once the layout settled
        assert grid.device_ids == ("d-ada", "d-ben", "d-cat")
        await console.pilot.press("right", "enter")
        await console.wait_until(lambda: console.app.closer_look is not None, "a closer look")
        closer = console.app.closer_look
        assert isinstance(closer, CloserLook) and closer.device_id == "d-ben"
        watches = await console.calls_to("watch", 2)
        assert watches[-1].device_ids == ("d-ben",)
        assert (watches[-1].width, watches[-1].fps) == (CLOSER_LOOK_WIDTH, CLOSER_LOOK_FPS)
        assert "ben.k" in str(closer.query_one("#details").render())

        await console.pilot.press("escape")
        await console.wait_until(lambda: console.app.closer_look is None, "back at the grid")
        watches = await console.calls_to("watch", 3)
        assert watches[-1].device_ids == ("d-ben",)
        grid_width = console.app.grid_thumbnail_width
        assert (watches[-1].width, watches[-1].fps) == (grid_width, GRID_THUMBNAIL_FPS)


async def test_the_class_asked_again_during_a_closer_look_leaves_that_student_close() -> None:
    async with running_console(*CLASS) as console:
        await console.pilot.press("right", "enter")
        await console.wait_until(lambda: console.app.closer_look is not None, "a closer look")
        await console.calls_to("watch", 2)  # the grid's and the closer look's, in any order
        before = len(console.link.calls_to("watch"))
        console.app.device_changed(device("d-dan", "Dan"))  # a newcomer: the class is asked again
        watches = await console.calls_to("watch", before + 1)
        assert watches[-1].device_ids == ("d-ada", "d-cat", "d-dan")
        assert watches[-1].width == console.app.grid_thumbnail_width


async def test_actions_in_a_closer_look_apply_to_that_student_only() -> None:
    async with running_console(*CLASS) as console:
        await console.pilot.press("a")  # everyone selected in the grid...
        await console.pilot.press("end", "enter")
        await console.wait_until(lambda: console.app.closer_look is not None, "a closer look")
        await console.pilot.press("u")  # ...but here it is Cat alone
        [unlock] = await console.calls_to("unlock")
        assert unlock.device_ids == ("d-cat",)
        await console.pilot.press("l", *"See me", "enter")
        [lock] = await console.calls_to("lock")
        assert lock.device_ids == ("d-cat",)


async def test_pictures_states_and_outcomes_reach_the_closer_look() -> None:
    async with running_console(*CLASS) as console:
        await console.pilot.press("enter")
        await console.wait_until(lambda: console.app.closer_look is not None, "a closer look")
        closer = console.app.closer_look
        assert closer is not None
        console.app.picture_received("d-ada", banded_picture((64, 40)))
        await console.wait_until(lambda: closer.tile._last_picture is not None, "a picture")
        console.app.device_changed(device("d-ada", "Ada", locked=True))
        await console.wait_until(lambda: closer.tile.has_class("-locked"), "shown locked")
        console.app.outcome_received(ActionOutcome("d-ada", ok=True, code="ok", detail=""))
        await console.wait_until(lambda: closer.tile.outcome is not None, "the outcome")
