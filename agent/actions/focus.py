"""Focus mode: during a lesson, only the teacher's programs and none of the blocked sites.

Theory of operation: every few seconds the agent lists the windows on screen (which
program shows each, and its title) and hands them to `FocusWatch.review` with the time.
Review is plain state and arithmetic, so tests drive it with any clock:

- a program with a window that is not on the allow-list, or a browser whose title names
  a blocked site, is an *attempt*: the student is warned once (`Warn`) and the teacher
  told; the attempt is remembered by the program's pid and what it broke;
- if the same attempt is still on screen `grace_seconds` later, the program is closed
  (`Close`), and the teacher told again; a student who switched the tab away in time
  only gets the warning, and coming back later is a new attempt.

What this can catch: programs that show a window (the X11 window's _NET_WM_PID on Linux,
the platform's window list elsewhere) and sites whose name is in the browser window's
title. What it cannot: programs with no window (a script in a terminal is the terminal,
which the list may allow), a browser not in `BROWSERS`, a site whose page title does
not name it, a tab in the background, a private window that hides its title, anything
while the agent is stopped (the hub flags that to the teacher), and on Wayland, where no
window list is readable, nothing at all. URLs are not read on any platform yet. The
device's desktop shell is never closed (`DESKTOP_SHELL`), nor anything the process
guard refuses (the agent, system processes, other users' programs).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from protocol.actions import StartFocus

#: Programs that draw the desktop itself: closing them would leave the student no desktop.
DESKTOP_SHELL = frozenset(
    {
        "gnome-shell",
        "plasmashell",
        "kwin_x11",
        "xfce4-panel",
        "xfdesktop",
        "xfwm4",
        "lxpanel",
        "lxqt-panel",
        "pcmanfm",
        "pcmanfm-qt",
        "nautilus",
        "nemo-desktop",
        "cinnamon",
        "mate-panel",
        "caja",
        "explorer.exe",
        "ShellExperienceHost.exe",
        "StartMenuExperienceHost.exe",
        "SearchHost.exe",
        "Finder",
        "Dock",
        "SystemUIServer",
        "ControlCenter",
    }
)
#: Programs whose window titles are web pages: only theirs are matched against sites.
BROWSERS = frozenset(
    {
        "firefox",
        "firefox-esr",
        "firefox.exe",
        "chrome",
        "chrome.exe",
        "chromium",
        "chromium-browser",
        "google-chrome",
        "msedge",
        "msedge.exe",
        "brave",
        "brave.exe",
        "opera",
        "opera.exe",
        "vivaldi-bin",
        "vivaldi.exe",
        "epiphany",
        "Safari",
        "Google Chrome",
        "Microsoft Edge",
        "Firefox",
    }
)


@dataclass(frozen=True, slots=True)
class FocusRules:
    """One lesson's focus mode, from a verified focus command."""

    teacher: str
    apps: frozenset[str]
    sites: tuple[str, ...]
    grace_seconds: float
    ends_at: float

    @classmethod
    def from_command(cls, action: StartFocus, teacher: str, issued_at: int) -> FocusRules:
        # Counted from the command's issue, so a queued command arriving late ends on time.
        return cls(
            teacher=teacher,
            apps=frozenset(action.apps),
            sites=action.sites,
            grace_seconds=action.grace_seconds,
            ends_at=issued_at + action.minutes * 60,
        )

    def broken_by(self, window: FocusWindow) -> str | None:
        """What `window` breaks, in words for the student and teacher, or None."""
        if window.program in DESKTOP_SHELL:
            return None
        if self.apps and window.program not in self.apps:
            return f"{window.program} is not one of this lesson's programs"
        if window.program in BROWSERS:
            title = window.title.casefold()
            for site in self.sites:
                if any(word in title for word in site_words(site)):
                    return f"{site} is blocked during this lesson"
        return None


def site_words(site: str) -> tuple[str, ...]:
    """What a site's name looks like in a page title: "youtube.com" also as "youtube"."""
    first = site.split(".", 1)[0]
    return (site, first) if first != site and len(first) >= 4 else (site,)


@dataclass(frozen=True, slots=True)
class FocusWindow:
    """A window on screen: the pid and process name that show it, and its title."""

    pid: int
    program: str
    title: str


@dataclass(frozen=True, slots=True)
class Warn:
    """Tell the student (and the teacher) that `window` breaks the lesson's rules."""

    window: FocusWindow
    reason: str


@dataclass(frozen=True, slots=True)
class Close:
    """The grace period is over and `window`'s program still breaks the rules: close it."""

    window: FocusWindow
    reason: str


Step = Warn | Close


@dataclass
class FocusWatch:
    """Focus mode's state on the device: the rules in force, and the attempts seen."""

    rules: FocusRules | None = None
    #: (pid, reason) -> when the student was warned about it.
    _warned: dict[tuple[int, str], float] = field(default_factory=dict)

    def start(self, rules: FocusRules) -> None:
        self.rules = rules
        self._warned.clear()

    def stop(self) -> None:
        self.rules = None
        self._warned.clear()

    def active(self, now: float) -> bool:
        """Focus mode is on (it ends by itself at its end time)."""
        if self.rules is not None and now >= self.rules.ends_at:
            self.stop()
        return self.rules is not None

    def review(self, windows: list[FocusWindow], now: float) -> list[Step]:
        """What to do about the windows on screen now; each attempt is warned about once."""
        if not self.active(now):
            return []
        rules = self.rules
        assert rules is not None
        steps: list[Step] = []
        on_screen: set[tuple[int, str]] = set()
        for window in windows:
            reason = rules.broken_by(window)
            if reason is None:
                continue
            key = (window.pid, reason)
            if key in on_screen:
                continue  # a second window of the same program: one attempt
            on_screen.add(key)
            warned_at = self._warned.get(key)
            if warned_at is None:
                self._warned[key] = now
                steps.append(Warn(window, reason))
            elif now >= warned_at + rules.grace_seconds:
                steps.append(Close(window, reason))
        # Gone from the screen (closed, or the tab switched away): a return is a new attempt.
        for key in [k for k in self._warned if k not in on_screen]:
            del self._warned[key]
        for step in steps:
            if isinstance(step, Close):
                del self._warned[(step.window.pid, step.reason)]
        return steps
