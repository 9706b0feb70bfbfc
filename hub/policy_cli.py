"""`homeroom-hub policy set` and `policy show`: a group's policy, signed by an admin on their
own machine (homeroom-console policy sign) and kept here."""

from __future__ import annotations

import argparse
import shlex
import time
import tomllib
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from protocol.codec import decode_as
from protocol.errors import PeerError
from protocol.limits import fit
from protocol.policy import WEEKDAYS, Policy, SignedPolicy, Window, window_at
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
    put = command(
        actions,
        "set",
        "apply a group's policy, signed by an admin on their own machine "
        "(homeroom-console policy sign)",
    )
    put.add_argument("file", type=Path, metavar="FILE.signed")
    put.add_argument("--group", required=True, type=_group)
    # Gone (it put the admin's key on the hub machine); kept only to say what replaced it.
    put.add_argument("--credential", help=argparse.SUPPRESS)
    show = command(actions, "show", "print a group's policy and the window open now")
    show.add_argument("--group", required=True, type=_group)


def run(args: argparse.Namespace, keyring: Keyring, store: Store, now: int) -> int:
    if args.action == "set":
        if args.credential is not None:
            raise ValueError(
                "the hub no longer signs policies, so no admin's key need come near it: the "
                "admin signs on their own machine and the signed file is given here: "
                f"homeroom-console policy sign --group {shlex.quote(args.group)} "
                f"{shlex.quote(args.file.name)}"
            )
        signed = _signed_policy(args.file, args.group)
        body = policy.accept(store, keyring.org_public, signed, group=args.group, now=now)
        print(
            f"Policy {body.sequence} for {args.group!r} signed by {body.issuer.body.name!r}: "
            f"windows {', '.join(w.name for w in body.rules.windows)}. The running hub sends "
            "it to the group's devices within seconds; devices offline get it when they next "
            "connect."
        )
        return 0
    held = policy.load(store, keyring.org_public, args.group)
    if held is None:
        print(f"{args.group!r} has no policy: staff are limited only by their roles and groups.")
        group = shlex.quote(args.group)
        print(
            "An admin sets one from their own machine, where their key is: homeroom-console "
            f"policy set --group {group} FILE.toml\n"
            f"or signs it there (homeroom-console policy sign --group {group} FILE.toml) and "
            f"the signed file is applied here: homeroom-hub policy set --data "
            f"{shlex.quote(str(keyring.folder))} --group {group} FILE.signed"
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


def _signed_policy(path: Path, group: str) -> SignedPolicy:
    """The admin-signed policy in `path`; a policy file not yet signed is refused.

    The hub never signs: the admin's private key stays on the admin's machine (issue 11),
    so whoever copies the hub's folder finds no key that signs anything.
    """
    try:
        data = path.read_bytes()
    except OSError as error:
        raise ValueError(f"cannot read {path} ({error.strerror})") from None
    try:
        signed: SignedPolicy = decode_as(data, SignedPolicy, str(path))
        return signed
    except PeerError as error:
        problem = error.detail
    how = (
        f"homeroom-console policy sign --group {shlex.quote(group)} "
        f"{shlex.quote(path.name)} --out {shlex.quote(path.stem + '.signed')}"
    )
    if _is_toml(data):
        raise ValueError(
            f"{path} is a policy file no admin has signed yet, and the hub does not sign: it "
            "holds no admin's key. An admin signs it on their own machine, and gives the "
            f".signed file it writes to this command: {how}\n"
            "or sends it from there straight to the running hub: homeroom-console policy set "
            f"--group {shlex.quote(group)} {shlex.quote(path.name)}"
        )
    raise ValueError(f"{path} is not a signed policy ({problem}); an admin makes one with: {how}")


def _is_toml(data: bytes) -> bool:
    try:
        tomllib.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError):
        return False
    return True


def _when(seconds: int) -> str:
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%d %H:%M UTC")
