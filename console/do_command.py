"""`homeroom-console do`: one signed action to devices, one result line (or JSON) per device.

A new process for each command, so it goes without asyncio (console/blocking_session.py)
and loads Pillow, the sealing code and the IT desk's screenshot collector only for a
screenshot.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import re
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import msgspec

from link.help import TerminalHelp
from protocol.actions import ACTIONS, Action
from protocol.credentials import StaffCredential
from protocol.errors import PeerError
from protocol.messages import Answer, CommandQueued, Error, Message, Result, Roster, ScreenshotPart

from .blocking_session import BlockingSession
from .cli import _load_credential, _shared_options
from .printable import printable

if TYPE_CHECKING:
    from .it_desk import ScreenshotCollector

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
        return _do(staff, action, args)
    # What is printed may hold the hub's own words (a refusal's detail, a close's reason).
    except PeerError as error:
        print(f"homeroom-console: {printable(error.detail)}\n{error.guidance}", file=sys.stderr)
        return 2
    except OSError as error:
        print(f"homeroom-console: cannot reach the hub: {printable(str(error))}", file=sys.stderr)
        return 2
    except ValueError as error:
        print(f"homeroom-console: {printable(str(error))}", file=sys.stderr)
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


def _do(credential: StaffCredential, action: Any, args: argparse.Namespace) -> int:
    session = BlockingSession(credential, url=args.hub)
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
    with session.connect():
        events = session.events(deadline=time.monotonic() + args.wait)
        try:
            if direct is not None:
                targets = direct
            else:
                roster = _next(events, Roster)
                awaited = "class list" if args.klass else None
                targets = _targets(session, events, roster, args)
            command = session.submit(action, targets, queue=args.queue, ttl=args.ttl)
            awaited = None  # from here on, silence means devices that did not answer
            while len(results.keys() | queued.keys()) < len(targets):
                event = _next(events, (Result, Error, ScreenshotPart, CommandQueued))
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


def _next(events: Iterator[Message], kind: Any) -> Any:
    for event in events:
        if isinstance(event, kind):
            return event
    raise ConnectionError("the hub closed the connection")


def _device_ids(wanted: list[str]) -> list[str] | None:
    """The devices of `--to`, if every one is given by its id (once each); else None."""
    if not wanted or not all(_DEVICE_ID.fullmatch(name) for name in wanted):
        return None
    return list(dict.fromkeys(wanted))


def _targets(
    session: BlockingSession, events: Iterator[Message], roster: Roster, args: argparse.Namespace
) -> list[str]:
    if args.all:
        return [d.device_id for d in roster.devices]
    if args.klass:
        session.query("classes")
        answer = _next(events, Answer)
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
