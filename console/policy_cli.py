"""`homeroom-console policy sign|set`: an admin signs a group's policy on their own machine.

A policy is signed with the admin's own key, which never leaves this machine (issue 11):
`sign` writes the signed policy to a file to hand to `homeroom-hub policy set`, and `set`
signs it and sends it straight to the hub over the admin's own signed-in session. Either
way the hub and every device of the group check the signature through the certificate
chain, so the hub can neither forge nor alter a policy (protocol/policy.py).

The sequence is the signing time in seconds unless `--sequence` says otherwise: a policy
signed later replaces one signed earlier, with no question to the hub first (so `sign`
works offline, and a hub whose store was restored from an older backup cannot hand out a
number its devices already hold), and the hub and devices refuse a policy dated ahead of
their own clocks, which bounds how far a fast clock can push the numbers.
"""

from __future__ import annotations

import argparse
import asyncio
import shlex
import sys
import time
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import msgspec

from protocol.certificates import Role
from protocol.credentials import StaffCredential
from protocol.errors import PeerError
from protocol.messages import Answer, Error
from protocol.policy import SignedPolicy, sign_policy
from protocol.policy_file import read_policy
from protocol.types import check_group

from .printable import printable
from .session import ConsoleSession


def policy_main(argv: list[str], *, credential: Path | None = None, hub: str | None = None) -> int:
    """`homeroom-console policy ...`; `credential` and `hub` are what was given before it."""
    from .cli import _load_credential, _shared_options

    parser = argparse.ArgumentParser(
        prog="homeroom-console policy",
        description="Sign a group's policy file (TOML, see docs/operations.md) with your own "
        "admin key: 'sign' writes it to a file for homeroom-hub policy set, 'set' sends it "
        "to the hub over your own session.",
        parents=[_shared_options(after_command=True)],
    )
    parser.add_argument("action", choices=["sign", "set"])
    parser.add_argument("file", type=Path, metavar="FILE.toml")
    parser.add_argument("--group", required=True, type=_group)
    parser.add_argument(
        "--out",
        type=Path,
        metavar="FILE.signed",
        help="sign: where to write it (default: FILE.signed beside FILE.toml)",
    )
    parser.add_argument(
        "--sequence",
        type=int,
        metavar="N",
        help="the policy's number (default: the time it is signed, in seconds); it must be "
        "higher than the group's policy now",
    )
    parser.add_argument(
        "--wait",
        type=float,
        default=15.0,
        metavar="SECONDS",
        help="set: how long to wait for the hub (default 15)",
    )
    args = parser.parse_args(argv, argparse.Namespace(credential=credential, hub=hub))
    if args.action == "set" and args.out is not None:
        parser.error("--out goes with sign; set sends the policy to the hub")
    if args.sequence is not None and not 1 <= args.sequence < 2**53:
        parser.error("--sequence takes a whole number from 1")
    staff = _load_credential(args.credential, otherwise="or add --credential FILE to the command.")
    try:
        signed = sign(staff, args.file, args.group, args.sequence, now=int(time.time()))
    except ValueError as error:  # PolicyFileError too: it names the file and the line
        print(f"homeroom-console: {error}", file=sys.stderr)
        return 2
    if args.action == "sign":
        out: Path = args.out or args.file.with_suffix(".signed")
        try:
            out.write_bytes(msgspec.json.encode(signed))
        except OSError as error:
            print(f"homeroom-console: cannot write {out}: {error.strerror}", file=sys.stderr)
            return 2
        print(
            f"Signed policy {signed.body.sequence} for {args.group!r} as "
            f"{signed.body.issuer.body.name!r} in {out}. On the hub: homeroom-hub policy set "
            f"--data DIR --group {shlex.quote(args.group)} {shlex.quote(str(out))}"
        )
        return 0
    session = ConsoleSession(staff, url=args.hub)
    try:
        return asyncio.run(_send(session, signed, args.wait))
    except PeerError as error:
        print(f"homeroom-console: {error.detail}\n{error.guidance}", file=sys.stderr)
    # Before OSError, of which TimeoutError is one: the wait, not the address, ran out.
    except TimeoutError:
        print(
            f"homeroom-console: the hub at {session.url} did not answer within {args.wait:g} s; "
            "check the address (--hub), or give it longer (--wait SECONDS).",
            file=sys.stderr,
        )
    except OSError as error:
        print(f"homeroom-console: cannot reach the hub: {error}", file=sys.stderr)
    return 2


def sign(
    staff: StaffCredential, path: Path, group: str, sequence: int | None, *, now: int
) -> SignedPolicy:
    """The policy file at `path` signed for `group` with this admin's own key, or ValueError
    saying what to fix (the file's line, or whose key it takes)."""
    signer = staff.certificate.body
    if signer.role is not Role.ADMIN:
        raise ValueError(
            f"{signer.name!r} is a {signer.role.value}, and only an admin may sign a policy: "
            "ask an admin over the group to sign it with their own credential."
        )
    if not signer.covers_group(group):
        raise ValueError(
            f"{signer.name!r}'s certificate does not cover {group!r} "
            f"(it covers {', '.join(signer.groups)}): an admin over {group!r} must sign it."
        )
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise ValueError(f"cannot read {path} ({error.strerror})") from None
    except UnicodeDecodeError:
        raise ValueError(f"{path} is not a text file; give the policy file (TOML)") from None
    rules = read_policy(text, str(path), known_zone=_known_zone)
    return sign_policy(
        staff.key,
        staff.certificate,
        rules,
        group=group,
        sequence=now if sequence is None else sequence,
        now=now,
    )


async def _send(session: ConsoleSession, signed: SignedPolicy, wait: float) -> int:
    await session.connect()
    body = signed.body
    try:
        async with asyncio.timeout(wait):
            asked = await session.set_policy(signed)
            async for event in session:
                if isinstance(event, Error) and event.ref == asked:
                    refusal = printable(event.message)
                    print(f"homeroom-console: the hub refused: {refusal}", file=sys.stderr)
                    return 1
                if isinstance(event, Answer) and event.id == asked:
                    windows = ", ".join(w.name for w in body.rules.windows)
                    print(
                        f"Policy {body.sequence} for {body.group!r} set on the hub, signed by "
                        f"{body.issuer.body.name!r}: windows {windows}. The group's devices "
                        "online get it now; the others when they next connect."
                    )
                    return 0
    finally:
        await session.close()
    raise ConnectionError("the hub closed the connection")


def _group(text: str) -> str:
    try:
        return check_group(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def _known_zone(name: str) -> bool:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return False
    return True
