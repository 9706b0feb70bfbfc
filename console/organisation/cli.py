"""`homeroom-org`: the organisation's key, run on an admin's own machine, never on the hub.

homeroom-org --org DIR init                          make the organisation key (once)
homeroom-org --org DIR certify-hub hub.request       certify a hub (or its new key)
homeroom-org --org DIR certify-staff NAME.request --role teacher --group 7B
homeroom-org --org DIR certify-staff NAME.request --role guardian --group 7B --device ID
homeroom-org --org DIR revoke SERIAL...              sign the next revocation list
homeroom-org --org DIR show                          the key's fingerprint and what it signed
"""

from __future__ import annotations

import argparse
import getpass
import os
import re
import shlex
import sys
from datetime import UTC, datetime
from pathlib import Path

import msgspec

from link.files import write_private
from protocol.certificates import Role
from protocol.errors import PeerError, UsageError
from protocol.keys import PrivateKey
from protocol.requests import CertificateRequest
from protocol.types import check_group

from .folder import HUB_CERT_LIFETIME, STAFF_CERT_LIFETIME, Organisation
from .sealed import WrongPassphrase

#: Read instead of asking, for scripted set-ups; a person at a keyboard is asked.
PASSPHRASE_VARIABLE = "HOMEROOM_ORG_PASSPHRASE"
_DAY = 24 * 3600


def group_name(text: str) -> str:
    try:
        return check_group(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def device_id(text: str) -> str:
    if not re.fullmatch(r"[0-9a-f]{64}", text):
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a device id: copy all 64 hex digits of the DEVICE ID column "
            "of 'homeroom-hub devices' on the hub"
        )
    return text


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="homeroom-org",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--org",
        type=Path,
        required=True,
        metavar="DIR",
        help="the organisation's folder: on this machine or a USB stick, not on the hub",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    init = commands.add_parser("init", help="make the organisation key")
    init.add_argument(
        "--no-passphrase",
        action="store_true",
        help="store the key unsealed (only on a disk that is itself encrypted)",
    )
    init.add_argument(
        "--adopt",
        type=Path,
        metavar="ORG_KEY",
        help="keep an older hub's org.key instead of making a new key (then delete it there)",
    )
    hub = commands.add_parser("certify-hub", help="certify a hub from its hub.request")
    hub.add_argument("request", type=Path)
    hub.add_argument("--out", type=Path, help="default: hub.grant beside the request")
    hub.add_argument("--days", type=int, default=HUB_CERT_LIFETIME // _DAY)
    staff = commands.add_parser(
        "certify-staff", help="certify a staff member from the request they made"
    )
    staff.add_argument("request", type=Path)
    staff.add_argument("--role", choices=["teacher", "it", "admin", "guardian"], required=True)
    staff.add_argument(
        "--group", action="append", default=[], type=group_name, help="groups they may steer"
    )
    staff.add_argument(
        "--device",
        action="append",
        default=[],
        type=device_id,
        metavar="ID",
        help="for a guardian (required): their own child's device, by the id "
        "'homeroom-hub devices' shows (repeatable)",
    )
    staff.add_argument("--out", type=Path, help="default: NAME.cert beside the request")
    staff.add_argument("--days", type=int, default=STAFF_CERT_LIFETIME // _DAY)
    revoke = commands.add_parser(
        "revoke", help="sign the next revocation list (no serial: renew the current one)"
    )
    revoke.add_argument("serials", nargs="*", metavar="SERIAL")
    revoke.add_argument("--out", type=Path, default=Path("revocation.json"))
    commands.add_parser("show", help="the key's fingerprint, what it certified, what it revoked")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return _dispatch(args)
    except (FileNotFoundError, FileExistsError, ValueError, WrongPassphrase, UsageError) as error:
        print(f"homeroom-org: {error}", file=sys.stderr)
        return 2
    except PeerError as error:
        print(
            f"homeroom-org: that file is not a request made by homeroom: {error}", file=sys.stderr
        )
        return 2
    except KeyboardInterrupt:
        return 130


def _passphrase(*, new: bool) -> str:
    given = os.environ.get(PASSPHRASE_VARIABLE)
    if given is not None:
        return given
    first = getpass.getpass("Passphrase for the organisation key: ")
    if new and getpass.getpass("The same passphrase again: ") != first:
        raise ValueError("the two passphrases differ; run init again")
    return first


def _open(folder: Path) -> Organisation:
    passphrase = _passphrase(new=False) if Organisation.needs_passphrase(folder) else None
    return Organisation.open(folder, passphrase)


def _dispatch(args: argparse.Namespace) -> int:
    folder: Path = args.org
    if args.command == "init":
        passphrase = None if args.no_passphrase else _passphrase(new=True)
        adopted = None if args.adopt is None else PrivateKey.from_bytes(args.adopt.read_bytes())
        org = Organisation.create(folder, passphrase, adopt=adopted)
        print(f"Created the organisation key in {folder}:")
        print(f"  fingerprint  {org.public.fingerprint}")
        print("Keep this folder off the hub: a USB stick in a safe, with a copy in another.")
        print("Next, certify the hub's request (hub.request, made by the hub's init) with")
        print("certify-hub, and each staff member's request with certify-staff.")
        return 0
    if args.command == "show":
        return _show(folder)
    org = _open(folder)
    if args.command == "certify-hub":
        request = CertificateRequest.decode(args.request.read_bytes(), str(args.request))
        grant = org.certify_hub(request, lifetime=args.days * _DAY)
        out = args.out or args.request.with_name("hub.grant")
        out.write_bytes(grant.encode())
        body = grant.certificate.body
        print(f"Certified hub key {request.subject.fingerprint} until {_when(body.expires_at)}.")
        print(f"Wrote {out}. Carry it to the hub and run there:")
        print(f"  homeroom-hub certificate install --data DATA {_quoted(out)}")
        return 0
    if args.command == "certify-staff":
        request = CertificateRequest.decode(args.request.read_bytes(), str(args.request))
        groups = tuple(args.group) or (("*",) if args.role in ("admin", "it") else ())
        certificate = org.certify_staff(
            request,
            role=Role(args.role),
            groups=groups,
            devices=tuple(dict.fromkeys(args.device)),
            lifetime=args.days * _DAY,
        )
        body = certificate.body
        out = args.out or args.request.with_name(f"{_safe(body.name)}.cert")
        out.write_bytes(msgspec.json.format(msgspec.json.encode(certificate)))
        children = f", devices {', '.join(body.devices)}" if body.devices else ""
        print(
            f"Certified {body.name!r} ({args.role}, groups {', '.join(groups)}{children}), "
            f"serial {body.serial}, until {_when(body.expires_at)}."
        )
        print(f"Wrote {out}. Carry it to the hub and run there:")
        print(f"  homeroom-hub staff add --data DATA {_quoted(out)}")
        return 0
    if args.command == "revoke":
        for serial in args.serials:
            if not re.fullmatch(r"[0-9a-f]{32}", serial):
                raise ValueError(
                    f"{serial!r} is not a serial: copy all 32 hex digits from "
                    "'homeroom-org show' or 'homeroom-hub staff list'"
                )
        revocations = org.revoke(args.serials)
        write_private(args.out, msgspec.json.encode(revocations))
        print(
            f"Signed revocation list {revocations.body.sequence} "
            f"({len(revocations.body.serials)} serials), valid until "
            f"{_when(revocations.body.expires_at)}: wrote {args.out}."
        )
        print("Carry it to the hub and run there:")
        print(f"  homeroom-hub revocation install --data DATA {_quoted(args.out)}")
        return 0
    raise AssertionError(args.command)


def _show(folder: Path) -> int:
    org = _open(folder)
    print(f"organisation {org.public.fingerprint}  ({folder})")
    held = org.revocations()
    revoked = set() if held is None else set(held.body.serials)
    for line in org.issued():
        state = "revoked" if line.serial in revoked else f"until {_when(line.expires_at)}"
        print(f"{line.serial}  {line.name:<24} {line.role:<8} {','.join(line.groups):<16} {state}")
    if held is not None:
        print(
            f"revocation list {held.body.sequence}: {len(revoked)} serials, "
            f"valid until {_when(held.body.expires_at)}"
        )
    return 0


def _when(seconds: int) -> str:
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%d %H:%M UTC")


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip("-") or "staff"


def _quoted(path: Path) -> str:
    return shlex.quote(str(path))
