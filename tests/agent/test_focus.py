"""Focus mode's rules with an injected clock: warned once, closed after the grace period,
sites matched on browser titles only, and the desktop shell never touched; then kept,
signed, across a restart of the agent.

On a real desktop: tests/e2e/test_focus_mode_on_a_desktop.py."""

from __future__ import annotations

import time
from pathlib import Path

from agent.actions.focus import (
    Close,
    FocusRules,
    FocusWatch,
    FocusWindow,
    Warn,
    site_words,
)
from agent.desktop import HeadlessDesktop
from agent.focus_mode import FOCUS_FILE
from agent.runtime import Agent
from agent.screen import SyntheticScreen
from protocol.actions import EndFocus, StartFocus
from protocol.messages import Result

from ..classroom import classroom

NOW = 1_800_000_000


def rules(**kw: object) -> FocusRules:
    action = StartFocus(**{"apps": ("writer", "firefox"), "sites": ("youtube.com",), **kw})  # type: ignore[arg-type]
    return FocusRules.from_command(action, "Ms Smith", NOW)


GAME = FocusWindow(4242, "minecraft", "Minecraft 1.21")
ESSAY = FocusWindow(100, "writer", "Essay - Writer")
VIDEO = FocusWindow(200, "firefox", "Cats - YouTube — Mozilla Firefox")


def test_a_program_off_the_list_is_warned_about_once_then_closed_after_the_grace() -> None:
    watch = FocusWatch()
    watch.start(rules(grace_seconds=30))
    [warn] = watch.review([ESSAY, GAME], NOW)
    assert warn == Warn(GAME, "minecraft is not one of this lesson's programs")
    assert watch.review([ESSAY, GAME], NOW + 29) == []  # warned already, grace not over
    [close] = watch.review([ESSAY, GAME], NOW + 30)
    assert close == Close(GAME, warn.reason)
    # Started again after it was closed: a new attempt, warned about anew.
    again = FocusWindow(4300, "minecraft", "Minecraft 1.21")
    assert watch.review([again], NOW + 31) == [Warn(again, warn.reason)]


def test_a_site_matches_only_a_browser_title_and_leaving_it_in_time_ends_the_attempt() -> None:
    watch = FocusWatch()
    watch.start(rules(grace_seconds=30))
    notes = FocusWindow(100, "writer", "youtube notes - Writer")  # a document, not the site
    [warn] = watch.review([VIDEO, notes], NOW)
    assert warn == Warn(VIDEO, "youtube.com is blocked during this lesson")
    maths = FocusWindow(200, "firefox", "Fractions - Khan Academy — Mozilla Firefox")
    assert watch.review([maths], NOW + 10) == []  # switched the tab away in time
    assert watch.review([VIDEO], NOW + 40) == [Warn(VIDEO, warn.reason)]  # back: new attempt
    assert site_words("youtube.com") == ("youtube.com", "youtube")
    assert site_words("x.com") == ("x.com",)  # "x" would match nearly every title


def test_no_list_of_programs_blocks_only_sites_and_the_shell_is_never_touched() -> None:
    watch = FocusWatch()
    watch.start(rules(apps=()))
    shell = FocusWindow(5, "xfce4-panel", "Panel")
    assert watch.review([GAME, shell, VIDEO], NOW) == [
        Warn(VIDEO, "youtube.com is blocked during this lesson")
    ]
    strict = FocusWatch()
    strict.start(rules())
    assert [s.window for s in strict.review([GAME, shell], NOW)] == [GAME]


def test_focus_mode_ends_by_itself_and_when_told() -> None:
    watch = FocusWatch()
    watch.start(rules(minutes=45))
    assert watch.active(NOW + 45 * 60 - 1)
    assert watch.review([GAME], NOW + 45 * 60) == [] and not watch.active(NOW + 45 * 60)
    watch.start(rules())
    watch.stop()
    assert watch.review([GAME], NOW) == []


# --- kept across a restart, over a real hub --------------------------------------------


async def test_focus_mode_survives_a_restarted_agent_but_not_an_edit_or_its_end(
    tmp_path: Path,
) -> None:
    async with classroom(tmp_path) as room:
        agent = await room.start_agent("Ada")
        folder = agent.folder
        assert folder is not None
        teacher = await room.console(room.staff("Ms Smith"))
        focus = StartFocus(apps=("writer",), minutes=45)
        sent = await teacher.submit(focus, [agent.state.device_id])
        assert (await teacher.take(Result, lambda r: r.command_id == sent.body.id)).ok

        def restarted(now: float | None = None) -> Agent:
            # The student stops the agent; its service starts it again.
            clock = time.time if now is None else (lambda: now)
            screen = SyntheticScreen("Ada", seed=0)
            return Agent(
                agent.state, screen=screen, desktop=HeadlessDesktop(), folder=folder, clock=clock
            )

        summary = restarted().focus.summary()
        assert summary is not None and summary.endswith("(Ms Smith): writer; blocked: no sites")
        assert restarted(sent.body.issued_at + 45 * 60).focus.summary() is None  # over by then

        kept = folder / FOCUS_FILE
        original = kept.read_bytes()
        kept.write_bytes(original.replace(b'"writer"', b'"minecraft"'))  # the student's edit
        assert restarted().focus.summary() is None
        kept.write_bytes(original)

        ended = await teacher.submit(EndFocus(), [agent.state.device_id])
        assert (await teacher.take(Result, lambda r: r.command_id == ended.body.id)).ok
        assert not kept.exists() and restarted().focus.summary() is None
