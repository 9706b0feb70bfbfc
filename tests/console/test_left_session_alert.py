"""The teacher's class grid, through a real hub: a student whose agent stops during the
lesson gets a mark on their tile and a notice with the time, at once."""

from __future__ import annotations

from pathlib import Path

from console.app import ClassroomApp
from console.hub_link import HubConnection
from console.widgets.student_tile import StudentTile
from protocol.messages import Answer

from ..classroom import classroom
from ..hub.test_session_alerts import stop_agent
from .harness import rendered_text
from .test_live_hub import until
from .test_lock_alerts import toasts


async def test_a_student_who_drops_off_the_lesson_is_marked_on_the_grid(tmp_path: Path) -> None:
    async with classroom(tmp_path) as room:
        ada = await room.start_agent("Ada's laptop")
        await room.start_agent("Bilal's laptop")
        room.store.create_class("Maths 7B", "7B", 0)
        room.store.add_to_class("Maths 7B", ada.state.device_id)
        smith = room.staff("Ms Smith")
        script = await room.console(smith)  # the same teacher, from a script
        started = await script.session.class_session("Maths 7B", "start")
        await script.take(Answer, lambda a: a.id == started)
        app = ClassroomApp(HubConnection(smith, url=room.url))
        async with app.run_test(size=(140, 45), notifications=True) as pilot:

            def tiles() -> dict[str, StudentTile]:
                return {tile.device.name: tile for tile in app.query(StudentTile)}

            await until(pilot, lambda: len(tiles()) == 2)
            await stop_agent(room, ada.state.device_id)
            await until(pilot, lambda: tiles()["Ada's laptop"].alert is not None)
            tile = tiles()["Ada's laptop"]
            alert = tile.alert
            assert alert is not None and alert.kind == "left_session"
            await pilot.pause()
            assert f"⚠ dropped off {alert.time[:5]}" in rendered_text(tile.query_one("#status"))
            expected = (
                f"Ada's laptop: dropped off during the lesson at {alert.time}: "
                "went offline during Maths 7B"
            )
            await until(pilot, lambda: any(expected in toast for toast in toasts(app)))
            assert tiles()["Bilal's laptop"].alert is None
