"""`homeroom-hub policy set` and `policy show`: a group's policy file, signed by an admin."""

from __future__ import annotations

import argparse
import shlex
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from protocol.credentials import StaffCredential
from protocol.errors import PeerError
from protocol.limits import fit
from protocol.policy import WEEKDAYS, Policy, Window, window_at
from protocol.policy_file import read_policy
from protocol.types import check_group

from . import policy
from .keyring import Keyring
from .store import Store


def _group(text: str) -> str:
    try:
        return check_group(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def add_commands(
    actions: argparse._SubParsersAction[argparse.ArgumentParser],
    command: Callable[..., argparse.ArgumentParser],
) -> None:
    put = command(actions, "set", "sign a group's policy file with an admin's key and apply it")
    put.add_argument("file", type=Path, metavar="FILE.toml")
    put.add_argument("--group", required=True, type=_group)
    put.add_argument(
        "--credential",
        type=Path,
        required=True,
        metavar="FILE",
        help="the signing admin's credential, from their own machine, never the hub's folder "
        "('-' reads it from standard input)",
    )
    show = command(actions, "show", "print a group's policy and the window open now")
    show.add_argument("--group", required=True, type=_group)


def run(args: argparse.Namespace, keyring: Keyring, store: Store, now: int) -> int:
    if args.action == "set":
        rules = read_policy(
            args.file.read_text(encoding="utf-8"), str(args.file), known_zone=policy.known_zone
        )
        credential = _admin_credential(args, keyring)
        signed = policy.publish(
            store, keyring.org_public, credential, rules, group=args.group, now=now
        )
        print(
            f"Policy {signed.body.sequence} for {args.group!r} signed by "
            f"{credential.certificate.body.name!r}: windows "
            f"{', '.join(w.name for w in rules.windows)}. The running hub sends it to the "
            "group's devices within seconds; devices offline get it when they next connect."
        )
        return 0
    held = policy.load(store, keyring.org_public, args.group)
    if held is None:
        print(f"{args.group!r} has no policy: staff are limited only by their roles and groups.")
        print(
            f"Set one with: homeroom-hub policy set --data {shlex.quote(str(keyring.folder))} "
            f"--group {shlex.quote(args.group)} FILE.toml --credential ADMIN.credential"
        )
        return 0
    body, rules = held.body, held.body.rules
    print(
        f"Policy {body.sequence} for {body.group!r}, signed by {body.issuer.body.name!r} "
        f"on {_when(body.issued_at)}"
    )
    print(f"  time zone     {rules.time_zone}")
    print(f"  school week   {', '.join(WEEKDAYS[d] for d in rules.school_week)}")
    for label, ranges in (("terms", rules.terms), ("holidays", rules.holidays)):
        print(f"  {label:<13} {', '.join(f'{r.start}..{r.end}' for r in ranges) or '-'}")
    print(f"  school nets   {', '.join(rules.school_networks) or '-'}")
    for window in rules.windows:
        print(_describe(window))
    if rules.note:
        print(f"  note          {fit(rules.note, len(rules.note), printable=True)}")
    zone = policy.zone_of(rules.time_zone)
    open_now = window_at(Policy.of(body, zone), time.time())
    print(f"Open now: {open_now.name if open_now else 'no window (nobody may do anything)'}")
    return 0


def _describe(window: Window) -> str:
    days = "every day" if len(window.days) == 7 else ", ".join(WEEKDAYS[d] for d in window.days)
    where = {"any_day": "", "school_days": ", school days", "other_days": ", non-school days"}
    fence = "" if window.network == "any" else f", {window.network} network only"
    lines = [
        f"  window {window.name!r}: {window.start}-{window.end} {days}{where[window.on]}{fence}; "
        f"capture {'allowed' if window.capture else 'never'}"
        f"{'; locks the device' if window.lock_device else ''}"
    ]
    for grant in window.allow:
        lines.append(f"      {grant.role.value:<9} {', '.join(grant.actions) or '(nothing)'}")
    if not window.allow:
        lines.append("      nobody may do anything")
    return "\n".join(lines)


def _admin_credential(args: argparse.Namespace, keyring: Keyring) -> StaffCredential:
    """The admin credential named by --credential ('-': standard input).

    A credential holds its owner's private key, so it is read from where the admin keeps
    it and never from, or into, the hub's folder: whoever copies that folder must find no
    key that signs anything (issue 11). The policy module checks the role and record.
    """
    path: Path = args.credential
    if str(path) == "-":
        return _decode_credential(sys.stdin.buffer.read(), "standard input")
    if path.resolve().is_relative_to(keyring.folder.resolve()):
        raise ValueError(
            f"{path} is in the hub's folder, and a staff credential holds its owner's private "
            "key, which must never be kept there: delete it, and name the admin's own copy "
            "(made by homeroom-console keys install on their machine), e.g. "
            "--credential - < ~/.config/homeroom-console/staff.credential"
        )
    return _read_credential(path)


def _read_credential(path: Path) -> StaffCredential:
    try:
        data = path.read_bytes()
    except OSError as error:
        raise ValueError(
            f"cannot read {path} ({error.strerror}); if the hub's account may not read it, "
            f"pass it on standard input: --credential - < {path}"
        ) from None
    return _decode_credential(data, str(path))


def _decode_credential(data: bytes, where: str) -> StaffCredential:
    try:
        return StaffCredential.decode(data)
    except PeerError as error:
        raise ValueError(f"{where} is not a staff credential ({error.detail})") from None


def _when(seconds: int) -> str:
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%d %H:%M UTC")
