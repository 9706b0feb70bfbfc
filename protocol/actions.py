"""The action vocabulary of the whole product: typed arguments and the roles allowed."""

from typing import Annotated, ClassVar
from urllib.parse import urlsplit

from msgspec import Meta

from .certificates import Role
from .codec import WireStruct
from .limits import (
    MAX_CLASS_SESSION_MINUTES,
    MAX_MESSAGE_TEXT,
    MAX_POLICY_WINDOWS,
    MAX_PROCESS_NAME,
    MAX_URL,
)
from .types import GroupName, LongText, RawKey, ShortText, Timestamp

_CLASSROOM = frozenset({Role.TEACHER, Role.IT, Role.ADMIN})
_IT = frozenset({Role.IT, Role.ADMIN})
# Guardians never watch: they pause their own children's devices (PauseDevice) and read
# a summary of their use (ShowSummary) only.
_VIEW = frozenset({Role.TEACHER, Role.IT, Role.ADMIN})

#: An application by its allow-list name (the agent maps it to a program); never a path.
AppName = Annotated[str, Meta(pattern=r"^[a-z0-9][a-z0-9._-]{0,63}$")]
Url = Annotated[str, Meta(min_length=8, max_length=MAX_URL)]
#: A process id on the device (1 is init or launchd, never a target, but a valid id).
Pid = Annotated[int, Meta(ge=1, le=2**31)]
_NO_CONTROLS = r"^[^\x00-\x1f\x7f-\x9f]*$"
#: A program's name as the device's process list shows it.
ProcessName = Annotated[str, Meta(min_length=1, max_length=MAX_PROCESS_NAME, pattern=_NO_CONTROLS)]
#: One word of a command line. NUL cannot reach exec; control characters have no business here.
ArgvWord = Annotated[str, Meta(min_length=1, max_length=4096, pattern=_NO_CONTROLS)]
#: The countdown the student sees before a log-off, restart or shutdown.
Countdown = Annotated[int, Meta(ge=0, le=3600)]
Clock = Annotated[str, Meta(pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]$")]


class Action(WireStruct, frozen=True, forbid_unknown_fields=True, tag_field="name", kw_only=True):
    """Base of every action; `ALLOWED` names the staff roles that may sign it."""

    ALLOWED: ClassVar[frozenset[Role]] = frozenset()

    @property
    def name(self) -> str:
        return str(type(self).__struct_config__.tag)


class LockScreen(Action, tag="lock", frozen=True):
    ALLOWED = _CLASSROOM
    message: ShortText = ""


class PauseDevice(Action, tag="pause", frozen=True):
    """Lock the screen for `minutes`, then unlock it: a parent's "time off the device".

    Guardians may send it (to their own children's devices, in a policy window that
    grants it); the device lifts the pause by itself at its end, offline too.
    """

    ALLOWED = frozenset({Role.GUARDIAN, Role.TEACHER, Role.IT, Role.ADMIN})
    minutes: Annotated[int, Meta(ge=1, le=24 * 60)] = 30
    message: ShortText = ""


class ShowSummary(Action, tag="summary", frozen=True):
    """Time on the device and per application, from `since` (default: the device's midnight).

    Application names and times only, never window titles or pictures (protocol/usage.py);
    for a parent, in a policy window that grants it, like any action.
    """

    ALLOWED = frozenset({Role.GUARDIAN, Role.TEACHER, Role.IT, Role.ADMIN})
    since: Timestamp | None = None


class UnlockScreen(Action, tag="unlock", frozen=True):
    ALLOWED = _CLASSROOM


class SendMessage(Action, tag="message", frozen=True):
    ALLOWED = _CLASSROOM
    text: Annotated[str, Meta(min_length=1, max_length=MAX_MESSAGE_TEXT)]


class OpenUrl(Action, tag="open_url", frozen=True):
    ALLOWED = _CLASSROOM
    url: Url

    def check_rules(self) -> None:
        # Only web pages: no file:, javascript: or custom schemes that launch programs.
        parts = urlsplit(self.url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError("open_url takes an http:// or https:// address")


class LaunchApp(Action, tag="launch_app", frozen=True):
    """Start a program from the group's signed allow-list (see SetAppList), by its name."""

    ALLOWED = _CLASSROOM
    app: AppName


class CloseApp(Action, tag="close_app", frozen=True):
    """Close a program of the student's: by allow-list or process name, or by pid.

    The agent asks it to end, then ends it after a grace period; never itself or the system.
    """

    ALLOWED = _CLASSROOM
    app: ProcessName | None = None
    pid: Pid | None = None

    def check_rules(self) -> None:
        if (self.app is None) == (self.pid is None):
            raise ValueError("close_app takes either app=NAME or pid=NUMBER")


class TakeScreenshot(Action, tag="screenshot", frozen=True):
    """A picture of the whole screen for the sender; full resolution unless capped."""

    ALLOWED = _CLASSROOM
    max_width: Annotated[int, Meta(ge=64, le=16_384)] | None = None
    #: The console's X25519 key for this screenshot: the agent seals it to that key, inside
    #: the signed command, so the hub relays bytes it cannot read (protocol/sealing.py).
    seal_to: RawKey | None = None


class ListProcesses(Action, tag="list_processes", frozen=True):
    ALLOWED = _IT


class KillProcess(Action, tag="kill_process", frozen=True):
    """End a process of the student's by pid, or every one with this name (no pid)."""

    ALLOWED = _IT
    # With a pid, the name guards against the pid having been reused by another program.
    process_name: ProcessName
    pid: Pid | None = None


class GetSystemInfo(Action, tag="system_info", frozen=True):
    ALLOWED = _IT


class RunDiagnostics(Action, tag="diagnostics", frozen=True):
    ALLOWED = _IT


class LogOff(Action, tag="logoff", frozen=True):
    """Sign the student out after a countdown on their screen (cancel_power stops it)."""

    ALLOWED = _IT
    message: ShortText = ""
    seconds: Countdown = 60


class Reboot(Action, tag="reboot", frozen=True):
    """Restart the device after a countdown on the student's screen."""

    ALLOWED = _IT
    message: ShortText = ""
    seconds: Countdown = 60


class ShutDown(Action, tag="shutdown", frozen=True):
    """Turn the device off after a countdown on the student's screen."""

    ALLOWED = _IT
    message: ShortText = ""
    seconds: Countdown = 60


class CancelPower(Action, tag="cancel_power", frozen=True):
    """Stop a log-off, restart or shutdown whose countdown is still running."""

    ALLOWED = _IT


class AppEntry(WireStruct, frozen=True):
    """One allowed program: the name staff use, and the exact command line (no shell)."""

    name: AppName
    argv: Annotated[tuple[ArgvWord, ...], Meta(min_length=1, max_length=64)]


class SetAppList(Action, tag="set_apps", frozen=True):
    """An admin's allow-list of programs for one group; the newest signed list wins.

    The agent keeps the signed command itself and re-verifies it when it starts, so a
    student who edits the saved copy only loses the list, never widens it.
    """

    ALLOWED = frozenset({Role.ADMIN})
    group: GroupName
    apps: Annotated[tuple[AppEntry, ...], Meta(max_length=256)] = ()

    def check_rules(self) -> None:
        names = [app.name for app in self.apps]
        if len(set(names)) != len(names):
            raise ValueError("each app name appears once in an app list")


class TimeWindow(WireStruct, frozen=True):
    """Days (0 = Monday) and a local time range during which something is allowed."""

    days: Annotated[tuple[Annotated[int, Meta(ge=0, le=6)], ...], Meta(max_length=7)]
    start: Clock
    end: Clock


class SetPolicy(Action, tag="set_policy", frozen=True):
    ALLOWED = frozenset({Role.ADMIN})
    school_hours: Annotated[tuple[TimeWindow, ...], Meta(max_length=MAX_POLICY_WINDOWS)] = ()
    home_hours: Annotated[tuple[TimeWindow, ...], Meta(max_length=MAX_POLICY_WINDOWS)] = ()
    note: LongText = ""


#: A site on a focus block-list: a domain or a word, lower case, matched on window titles.
SiteName = Annotated[str, Meta(pattern=r"^[a-z0-9][a-z0-9.-]{0,252}$")]
MAX_FOCUS_ENTRIES = 64


class StartFocus(Action, tag="focus", frozen=True):
    """Focus mode for a lesson: only the listed programs, none of the listed sites.

    `apps` are process names as the device's process list shows them ("firefox",
    "soffice.bin"); any other program with a window is warned about, then closed after
    `grace_seconds` (no `apps`: every program may run, only `sites` are blocked).
    `sites` are matched on the browser's window title (agent/actions/focus.py says what
    that can and cannot catch). It ends by itself `minutes` after the command was
    issued, or at an end_focus; a newer focus command replaces it.
    """

    ALLOWED = _CLASSROOM
    apps: Annotated[tuple[ProcessName, ...], Meta(max_length=MAX_FOCUS_ENTRIES)] = ()
    sites: Annotated[tuple[SiteName, ...], Meta(max_length=MAX_FOCUS_ENTRIES)] = ()
    minutes: Annotated[int, Meta(ge=1, le=MAX_CLASS_SESSION_MINUTES)] = 60
    grace_seconds: Annotated[int, Meta(ge=5, le=600)] = 30


class EndFocus(Action, tag="end_focus", frozen=True):
    """End focus mode on the device now."""

    ALLOWED = _CLASSROOM


class Watch(Action, tag="watch", frozen=True):
    """Start sending thumbnails at this size and rate, until the lease runs out."""

    ALLOWED = _VIEW
    width: Annotated[int, Meta(ge=64, le=3840)] = 320
    fps: Annotated[float, Meta(ge=0.05, le=30.0)] = 1.0
    lease_seconds: Annotated[int, Meta(ge=5, le=3600)] = 60
    #: The console's X25519 key for this watch: frames are sealed for it (protocol/sealing.py).
    #: Signed with the rest, so a hub cannot put its own key in its place.
    seal_to: RawKey | None = None


class Unwatch(Action, tag="unwatch", frozen=True):
    ALLOWED = _VIEW


AnyAction = (
    LockScreen
    | PauseDevice
    | ShowSummary
    | UnlockScreen
    | SendMessage
    | OpenUrl
    | LaunchApp
    | CloseApp
    | TakeScreenshot
    | ListProcesses
    | KillProcess
    | GetSystemInfo
    | RunDiagnostics
    | LogOff
    | Reboot
    | ShutDown
    | CancelPower
    | SetAppList
    | SetPolicy
    | StartFocus
    | EndFocus
    | Watch
    | Unwatch
)

ACTION_TYPES: tuple[type[Action], ...] = AnyAction.__args__
#: name on the wire -> action type, for command lines and docs.
ACTIONS: dict[str, type[Action]] = {str(t.__struct_config__.tag): t for t in ACTION_TYPES}
