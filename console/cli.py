"""`homeroom-console`: the class grid for staff, `do` for scripts, `--demo` to try it out."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import io
import json
import re
import shlex
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import msgspec

from link.help import TerminalHelp
from protocol.actions import ACTIONS, Action
from protocol.credentials import StaffCredential
from protocol.errors import PeerError
from protocol.messages import Answer, CommandQueued, Error, Result, Roster, ScreenshotPart

from .printable import printable
from .session import ConsoleSession

if TYPE_CHECKING:
    from .it_desk import ScreenshotCollector

#: The file `homeroom-console` reads when no --credential is given, in the OS's place for
#: per-user settings (~/.config/homeroom-console on Linux, honouring XDG_CONFIG_HOME).
CREDENTIAL_FILE = "staff.credential"

#: A device id as the protocol writes it (protocol.types.DeviceId): 64 lowercase hex digits.
_DEVICE_ID = re.compile(r"[0-9a-f]{64}")

DO_USAGE = """homeroom-console do ACTION (--to DEVICE ... | --class CLASS | --all) [FIELD=VALUE ...]
  actions: {actions}
  e.g.  homeroom-console session start --class 7B-maths --credential me.credential
          (teachers reach a class's devices only during their own class session)
        homeroom-console do lock --class 7B-maths message="Eyes on me" --credential me.credential
        homeroom-console do message --to "Ada's laptop" text="Come and see me" --json
        homeroom-console do set_apps --class 7B-maths group=7B apps=@apps.json --credential admin.credential
          (admin only; apps.json is a JSON list of
          {{"name": "notes", "argv": ["/usr/bin/gedit"]}}: the programs launch_app may start)"""  # noqa: E501


def default_credential() -> Path:
    """Where this user's credential lives unless --credential names another file."""
    import platformdirs  # only here: `do --credential FILE` starts without it

    folder = platformdirs.user_config_dir("homeroom-console", appauthor=False, roaming=True)
    return Path(folder) / CREDENTIAL_FILE


def _shared_options(*, after_command: bool) -> argparse.ArgumentParser:
    """Options people put before or after `do`: `--credential F do ...`, `do ... --credential F`.

    The copy after `do` defaults to SUPPRESS, so leaving it out there keeps what was
    given before `do` instead of resetting it.
    """
    default = argparse.SUPPRESS if after_command else None
    options = argparse.ArgumentParser(add_help=False, formatter_class=TerminalHelp)
    options.add_argument(
        "--credential",
        type=Path,
        default=default,
        metavar="FILE",
        # Not computed here: `do --credential FILE` would load platformdirs just for the help.
        help=f"your staff credential file from IT (default: {CREDENTIAL_FILE} in this user's "
        "settings folder, e.g. ~/.config/homeroom-console)",
    )
    options.add_argument(
        "--hub", default=default, metavar="URL", help="hub address, if not the credential's"
    )
    return options


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="homeroom-console",
        formatter_class=TerminalHelp,
        description=__doc__,
        epilog="Also: homeroom-console do --help",
        parents=[_shared_options(after_command=False)],
    )
    parser.add_argument(
        "--demo",
        type=int,
        nargs="?",
        const=12,
        metavar="N",
        help="try it: an embedded hub with N simulated students (default 12)",
    )
    web = parser.add_argument_group("the console in a browser")
    web.add_argument(
        "--web",
        action="store_true",
        help="serve this console to a browser on this machine, behind a key it prints",
    )
    web.add_argument(
        "--web-host", default="127.0.0.1", metavar="HOST", help="(default: %(default)s)"
    )
    web.add_argument(
        "--web-port", type=int, default=8000, metavar="PORT", help="(default: %(default)s)"
    )
    web.add_argument(
        "--web-allow-remote",
        action="store_true",
        help="allow a --web-host other machines can reach (plain HTTP: see README)",
    )
    parser.add_argument(
        "--pictures",
        choices=["auto", "kitty", "sixel", "halfblock"],
        default="auto",
        help="how to draw students' screens: the terminal's own graphics (Kitty, Sixel) or "
        "coloured half-blocks; auto asks the terminal at start (default)",
    )
    parser.add_argument(
        "command",
        nargs="?",
        choices=["do", "keys", "session", "policy"],
        metavar="do|keys|session|policy",
        help="do: send one signed action from a script instead of opening the class grid; "
        "keys: make your own key and install your certificate (keys --help says how); "
        "session: start or end a class session; "
        "policy: sign a group's policy with your admin key (policy --help says how)",
    )
    # Everything after `do` goes to the do parser, which lets FIELD=VALUE follow options.
    parser.add_argument("do_args", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    if args.command == "do":
        if args.demo is not None:
            parser.error("--demo opens the class grid; leave it out with do")
        return do_main(args.do_args, credential=args.credential, hub=args.hub)
    if args.command == "keys":
        return _keys_main(args.do_args, args.credential)
    if args.command == "session":
        from .session_cli import session_main

        if args.demo is not None:
            parser.error("--demo opens the class grid; leave it out with session")
        return session_main(args.do_args, credential=args.credential, hub=args.hub)
    if args.command == "policy":
        from .policy_cli import policy_main

        if args.demo is not None:
            parser.error("--demo opens the class grid; leave it out with policy")
        return policy_main(args.do_args, credential=args.credential, hub=args.hub)
    if args.web:
        return _web_main(parser, args)
    from .app import ClassroomApp
    from .picture import PictureMode, detect_picture_mode

    if args.demo is not None and not 1 <= args.demo <= 200:
        parser.error("--demo takes between 1 and 200 students")
    # Asked before the app starts: once Textual reads the keyboard, the answer would be lost.
    pictures = detect_picture_mode(PictureMode(args.pictures))
    if args.demo is not None:
        from .demo import DemoLink

        ClassroomApp(DemoLink(args.demo), pictures=pictures).run()
        return 0
    from .hub_link import HubConnection

    credential = _load_credential(
        args.credential,
        otherwise=(
            "or run: homeroom-console --credential FILE\n"
            "To look around first, run: homeroom-console --demo"
        ),
    )
    ClassroomApp(HubConnection(credential, url=args.hub), pictures=pictures).run()
    return 0


def _keys_main(argv: list[str], credential: Path | None) -> int:
    from . import keys

    if credential is not None:
        argv = [*argv, "--credential", str(credential)]
    try:
        return keys.main(argv, default_credential())
    except (FileNotFoundError, FileExistsError, ValueError, PeerError) as error:
        print(f"homeroom-console: {error}", file=sys.stderr)
        return 2


def _web_main(parser: argparse.ArgumentParser, args: argparse.Namespace) -> int:
    """`homeroom-console --web`: checks what it can before anything listens."""
    from . import web

    refusal = web.remote_refusal(args.web_host)
    if refusal is not None and not args.web_allow_remote:
        parser.error(refusal)
    if args.demo is not None and not 1 <= args.demo <= 200:
        parser.error("--demo takes between 1 and 200 students")
    credential = args.credential
    if args.demo is None:
        # Read it now, so a missing or damaged credential is said here, not in each browser.
        _load_credential(credential, otherwise="or add --credential FILE to the command.")
        credential = credential or default_credential()
    return web.run(credential, args.hub, host=args.web_host, port=args.web_port, demo=args.demo)


def _load_credential(path: Path | None, *, otherwise: str) -> StaffCredential:
    """The credential in `path`, or in the default place; `otherwise` ends the hint."""
    if path is None:
        path = default_credential()
        if not path.exists():
            raise SystemExit(
                f"homeroom-console: no staff credential in {path}.\n"
                "Make your own key first (see: homeroom-console keys --help); an admin certifies "
                f"it, and you install the card. Or save a credential as {shlex.quote(str(path))} "
                f"{otherwise}"
            )
    try:
        return StaffCredential.decode(path.read_bytes())
    except OSError as error:
        raise SystemExit(f"homeroom-console: cannot read {path}: {error.strerror}") from None
    except PeerError as error:
        raise SystemExit(f"homeroom-console: {path}: {error.detail}") from None


def do_main(argv: list[str], *, credential: Path | None = None, hub: str | None = None) -> int:
    """`homeroom-console do ...`; `credential` and `hub` are what was given before `do`."""
    parser = argparse.ArgumentParser(
        prog="homeroom-console do",
        formatter_class=TerminalHelp,
        usage=DO_USAGE.format(actions=", ".join(ACTIONS)),
        description="Send one signed action to devices and print one result line per device.",
        parents=[_shared_options(after_command=True)],
    )
    parser.add_argument("action", choices=sorted(ACTIONS), metavar="ACTION")
    parser.add_argument("fields", nargs="*", metavar="FIELD=VALUE")
    parser.add_argument(
        "--to",
        action="append",
        default=[],
        metavar="DEVICE",
        help="device name or id (repeatable); with ids only, the command goes without waiting "
        "for the device list",
    )
    parser.add_argument("--class", dest="klass", metavar="CLASS", help="every device of a class")
    parser.add_argument("--all", action="store_true", help="every device you may steer")
    parser.add_argument(
        "--queue",
        action="store_true",
        help="queue for offline devices until the command expires (printed as QUEUED); "
        "without it an offline device is refused at once (FAILED device_offline)",
    )
    parser.add_argument("--ttl", type=int, default=60, help="seconds the command stays valid")
    parser.add_argument("--wait", type=float, default=15.0, help="seconds to wait for results")
    parser.add_argument("--json", action="store_true", help="print results as JSON")
    parser.add_argument(
        "--save",
        type=Path,
        metavar="FILE.png",
        help="screenshot: save the picture there (several devices: FILE-NAME.png each)",
    )
    given = argparse.Namespace(credential=credential, hub=hub)
    args = parser.parse_intermixed_args(argv, given)  # FIELD=VALUE may follow the options
    if sum((bool(args.to), bool(args.klass), args.all)) != 1:
        parser.error("say who: --to DEVICE ..., --class CLASS or --all")
    try:
        action = _build_action(ACTIONS[args.action], args.fields)
    except ValueError as error:
        parser.error(str(error))
    staff = _load_credential(args.credential, otherwise="or add --credential FILE to the command.")
    try:
        return asyncio.run(_do(staff, action, args))
    except PeerError as error:
        print(f"homeroom-console: {error.detail}\n{error.guidance}", file=sys.stderr)
        return 2
    except OSError as error:
        print(f"homeroom-console: cannot reach the hub: {error}", file=sys.stderr)
        return 2
    except ValueError as error:
        print(f"homeroom-console: {error}", file=sys.stderr)
        return 2


def _build_action(kind: type[Action], fields: list[str]) -> Any:
    values: dict[str, Any] = {}
    structured = _structured_fields(kind)
    for item in fields:
        name, sep, value = item.partition("=")
        if not sep:
            raise ValueError(f"{item!r}: write arguments as FIELD=VALUE")
        name = name.replace("-", "_")
        values[name] = _json_value(name, value) if name in structured else value
    try:
        return msgspec.convert(values, kind, strict=False)
    except msgspec.ValidationError as error:
        known = ", ".join(f.name for f in msgspec.structs.fields(kind)) or "none"
        raise ValueError(f"{kind.__struct_config__.tag}: {error} (fields: {known})") from None


def _structured_fields(kind: type[Action]) -> set[str]:
    """Fields that hold lists or records (set_apps' apps): given as JSON, or @FILE of JSON."""
    import msgspec.inspect  # only here: most actions have fields and this is their first use

    info = msgspec.inspect.type_info(kind)
    assert isinstance(info, msgspec.inspect.StructType)
    flat = (msgspec.inspect.StrType, msgspec.inspect.IntType, msgspec.inspect.FloatType)
    return {
        f.name
        for f in info.fields
        if not isinstance(f.type, flat)
        and not (
            isinstance(f.type, msgspec.inspect.UnionType)
            and all(isinstance(t, (*flat, msgspec.inspect.NoneType)) for t in f.type.types)
        )
    }


def _json_value(name: str, value: str) -> Any:
    try:
        text = Path(value[1:]).read_text() if value.startswith("@") else value
        return json.loads(text)
    except OSError as error:
        raise ValueError(f"{name}: cannot read {value[1:]}: {error.strerror}") from None
    except json.JSONDecodeError as error:
        raise ValueError(f"{name}: not JSON ({error.msg}); e.g. {name}=@file.json") from None


async def _do(credential: StaffCredential, action: Any, args: argparse.Namespace) -> int:
    session = ConsoleSession(credential, url=args.hub)
    await session.connect()
    events = session.__aiter__()
    # Devices named by id need no device list first: the command goes at once, and the hub
    # answers for each device (refused when it is not one the sender may steer).
    direct = _device_ids(args.to)
    # What we wait for, so a hub that goes quiet is named in the message, not a traceback.
    awaited: str | None = "device list"
    targets: list[str] = []
    results: dict[str, Result] = {}
    queued: dict[str, CommandQueued] = {}  # kept by the hub for devices that are offline
    screenshots: ScreenshotCollector | None = None  # made when a screenshot arrives
    pictures: dict[str, bytes | str] = {}  # by device: the picture, or why it is missing
    try:
        async with asyncio.timeout(args.wait):
            if direct is not None:
                targets = direct
            else:
                roster = await _next(events, Roster)
                awaited = "class list" if args.klass else None
                targets = await _targets(session, events, roster, args)
            command = await session.submit(action, targets, queue=args.queue, ttl=args.ttl)
            awaited = None  # from here on, silence means devices that did not answer
            while len(results.keys() | queued.keys()) < len(targets):
                event = await _next(events, (Result, Error, ScreenshotPart, CommandQueued))
                if isinstance(event, Error):
                    refusal = printable(event.message)
                    print(f"homeroom-console: the hub refused: {refusal}", file=sys.stderr)
                    return 2
                if event.command_id != command.body.id:
                    continue
                if isinstance(event, CommandQueued):
                    queued[event.device_id] = event
                    continue
                if screenshots is None and (
                    isinstance(event, ScreenshotPart) or event.screenshot is not None
                ):
                    from .it_desk import ScreenshotCollector  # only for screenshots

                    screenshots = ScreenshotCollector(session.open_screenshot)
                if isinstance(event, ScreenshotPart):
                    assert screenshots is not None
                    with contextlib.suppress(PeerError):  # caught by the digest on the Result
                        screenshots.add(event)
                    continue
                results[event.device_id] = event
                if screenshots is None:
                    continue
                try:
                    if (picture := screenshots.finish(event)) is not None:
                        pictures[event.device_id] = picture
                except PeerError as error:
                    pictures[event.device_id] = error.detail
    except TimeoutError:
        if awaited is not None:
            print(
                f"homeroom-console: the hub at {session.url} sent no {awaited} within "
                f"{args.wait:g} s; is it a Homeroom hub? Check the address (--hub), "
                "or give it longer (--wait SECONDS).",
                file=sys.stderr,
            )
            return 2
    finally:
        await session.close()
    # The session keeps the device list as it passes (it comes before any result).
    names = {device_id: d.name for device_id, d in session.devices.items()}
    saved = _save_pictures(args.save, pictures, names) if args.save else {}
    rows = []
    for target in targets:
        result = results.get(target)
        if result is None and target in queued:
            until = time.strftime("%H:%M", time.localtime(queued[target].expires_at))
            rows.append(
                {
                    "device_id": target,
                    "name": names.get(target, target[:16]),
                    "ok": False,
                    "code": "queued",
                    "detail": f"offline; sent when it connects, unless that is after {until}",
                    "expires_at": queued[target].expires_at,
                }
            )
            continue
        rows.append(
            {
                "device_id": target,
                "name": names.get(target, target[:16]),
                "ok": bool(result and result.ok),
                "code": ("ok" if result.ok else (result.code or "failed"))
                if result
                else "no_answer",
                "detail": result.detail if result else f"no answer within {args.wait:g} s",
                **(_returned(result) if result else {}),
                **saved.get(target, {}),
            }
        )
    if args.json:
        print(json.dumps(rows, indent=2))
    else:
        for row in rows:
            print(_readable(row))
    # Queued is what the sender chose: not a failure, though not done yet either.
    return 0 if all(row["ok"] or row["code"] == "queued" for row in rows) else 1


def _save_pictures(
    path: Path, pictures: dict[str, bytes | str], names: dict[str, str]
) -> dict[str, dict[str, str]]:
    """Write each screenshot to `path` (one device) or PATH-NAME.png (several).

    The file's suffix decides its format (a WebP from the device becomes a PNG if asked).
    Returns what to add to each device's row: where it went, or why it did not.
    """
    from PIL import Image  # only here: `do` without --save starts without Pillow

    saved: dict[str, dict[str, str]] = {}
    for device_id, picture in pictures.items():
        if isinstance(picture, str):
            saved[device_id] = {"save_error": f"the screenshot was damaged: {picture}"}
            continue
        target = path
        if len(pictures) > 1:
            safe = re.sub(r"[^A-Za-z0-9._-]+", "-", names.get(device_id, device_id[:16]))
            target = path.with_name(f"{path.stem}-{safe.strip('-') or device_id[:16]}{path.suffix}")
        try:
            with Image.open(io.BytesIO(picture)) as image:
                if (image.format or "").lower() == target.suffix.lower().lstrip("."):
                    target.write_bytes(picture)
                else:  # the device sent WebP and the file is to be a PNG, say
                    image.save(target)
        except (OSError, ValueError, Image.DecompressionBombError) as error:
            saved[device_id] = {"save_error": f"could not write {target}: {error}"}
            continue
        saved[device_id] = {"saved_to": str(target)}
    return saved


def _returned(result: Result) -> dict[str, Any]:
    """What a device sent back besides ok or not: processes, facts, a screenshot's size."""
    data: dict[str, Any] = {}
    if result.processes:
        data["processes"] = msgspec.to_builtins(result.processes)
    if result.facts:
        data["facts"] = dict(result.facts)
    if result.summary is not None:
        data["summary"] = msgspec.to_builtins(result.summary)
    if result.screenshot is not None:
        shot = result.screenshot
        data["screenshot"] = {
            "width": shot.width,
            "height": shot.height,
            "format": shot.format,
            "bytes": shot.size,
        }
    return data


def _readable(row: dict[str, Any]) -> str:
    """One device's result for a person: a status line, then what it returned, indented.

    Everything from a device passes through `printable`: a process or window may be named
    with escape sequences meant for this terminal.
    """
    status = (
        "ok"
        if row["ok"]
        else "QUEUED"
        if row["code"] == "queued"
        else f"FAILED {printable(str(row['code']))}"
    )
    if row["ok"] and "summary" in row:  # for a parent: plain words, not a status line
        from .summary_words import in_words

        return in_words(row["name"], row["summary"])
    detail = f": {printable(row['detail'])}" if row["detail"] else ""
    lines = [f"{printable(row['name'])}: {status}{detail}"]
    facts = row.get("facts", {})
    width = max((len(printable(name)) for name in facts), default=0)
    lines += [f"  {printable(k).ljust(width)}  {printable(v)}" for k, v in facts.items()]
    if (shot := row.get("screenshot")) is not None:
        size = f"{shot['width']}x{shot['height']} {shot['format']}"
        lines.append(f"  screenshot  {size}, {shot['bytes']:,} bytes")
    if "saved_to" in row:
        lines.append(f"  saved to    {printable(row['saved_to'])}")
    if "save_error" in row:
        lines.append(f"  NOT SAVED   {printable(row['save_error'])}")
    processes = row.get("processes", [])
    if processes:
        lines.append(f"  {'PID':>7}  {'CPU %':>6}  {'MEMORY':>9}  {'USER':<12}  NAME / WINDOW")
    for process in processes:
        window = f" / {process['window_title']}" if process["window_title"] else ""
        lines.append(
            f"  {process['pid']:>7}  {process['cpu_percent']:>6.1f}  "
            f"{process['memory_bytes'] / 1e6:>6.1f} MB  {printable(process['user'])[:12]:<12}  "
            f"{printable(process['name'] + window)}"
        )
    return "\n".join(lines)


async def _next(events: Any, kind: Any) -> Any:
    async for event in events:
        if isinstance(event, kind):
            return event
    raise ConnectionError("the hub closed the connection")


def _device_ids(wanted: list[str]) -> list[str] | None:
    """The devices of `--to`, if every one is given by its id (once each); else None."""
    if not wanted or not all(_DEVICE_ID.fullmatch(name) for name in wanted):
        return None
    return list(dict.fromkeys(wanted))


async def _targets(
    session: ConsoleSession, events: Any, roster: Roster, args: argparse.Namespace
) -> list[str]:
    if args.all:
        return [d.device_id for d in roster.devices]
    if args.klass:
        await session.query("classes")
        answer = await _next(events, Answer)
        for klass in answer.classes:
            if klass.name == args.klass:
                return list(klass.devices)
        raise SystemExit(f"homeroom-console: no class {args.klass!r} you may see")
    by_name = {d.name: d.device_id for d in roster.devices}
    targets = []
    for wanted in args.to:
        device_id = by_name.get(wanted, wanted)
        if device_id not in session.devices:
            raise SystemExit(f"homeroom-console: no device {wanted!r} you may steer")
        targets.append(device_id)
    return targets
