"""The action vocabulary of the whole product: typed arguments and the roles allowed."""

from __future__ import annotations

from typing import Annotated, ClassVar
from urllib.parse import urlsplit

from msgspec import Meta

from .certificates import Role
from .codec import WireStruct
from .limits import MAX_MESSAGE_TEXT, MAX_POLICY_WINDOWS, MAX_PROCESS_NAME, MAX_URL
from .types import LongText, ShortText

_CLASSROOM = frozenset({Role.TEACHER, Role.IT, Role.ADMIN})
_IT = frozenset({Role.IT, Role.ADMIN})
# Guardians get no action until home-hours policy and per-child scoping exist (both
# are enforced on the agent): until then a guardian could watch any device of a group.
_VIEW = frozenset({Role.TEACHER, Role.IT, Role.ADMIN})

#: An application by its allow-list name (the agent maps it to a program); never a path.
AppName = Annotated[str, Meta(pattern=r"^[a-z0-9][a-z0-9._-]{0,63}$")]
Url = Annotated[str, Meta(min_length=8, max_length=MAX_URL)]
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
    ALLOWED = _CLASSROOM
    app: AppName


class CloseApp(Action, tag="close_app", frozen=True):
    ALLOWED = _CLASSROOM
    app: AppName


class TakeScreenshot(Action, tag="screenshot", frozen=True):
    ALLOWED = _CLASSROOM
    max_width: Annotated[int, Meta(ge=64, le=7680)] = 1920


class ListProcesses(Action, tag="list_processes", frozen=True):
    ALLOWED = _IT


class KillProcess(Action, tag="kill_process", frozen=True):
    ALLOWED = _IT
    pid: Annotated[int, Meta(ge=1, le=2**31)]
    # The name guards against the pid having been reused by another program.
    process_name: Annotated[str, Meta(min_length=1, max_length=MAX_PROCESS_NAME)]


class GetSystemInfo(Action, tag="system_info", frozen=True):
    ALLOWED = _IT


class RunDiagnostics(Action, tag="diagnostics", frozen=True):
    ALLOWED = _IT


class LogOff(Action, tag="logoff", frozen=True):
    ALLOWED = _IT
    message: ShortText = ""


class Reboot(Action, tag="reboot", frozen=True):
    ALLOWED = _IT
    message: ShortText = ""


class ShutDown(Action, tag="shutdown", frozen=True):
    ALLOWED = _IT
    message: ShortText = ""


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


class Watch(Action, tag="watch", frozen=True):
    """Start sending thumbnails at this size and rate, until the lease runs out."""

    ALLOWED = _VIEW
    width: Annotated[int, Meta(ge=64, le=3840)] = 320
    fps: Annotated[float, Meta(ge=0.05, le=30.0)] = 1.0
    lease_seconds: Annotated[int, Meta(ge=5, le=3600)] = 60


class Unwatch(Action, tag="unwatch", frozen=True):
    ALLOWED = _VIEW


AnyAction = (
    LockScreen
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
    | SetPolicy
    | Watch
    | Unwatch
)

ACTION_TYPES: tuple[type[Action], ...] = AnyAction.__args__
#: name on the wire -> action type, for command lines and docs.
ACTIONS: dict[str, type[Action]] = {str(t.__struct_config__.tag): t for t in ACTION_TYPES}
