"""`homeroom-console keys`: a staff member's key, made and kept on their own machine.

  keys new "Ms Smith"       makes your key (readable by you only) and Ms-Smith.request
  keys install CARD         joins the card the hub wrote for you with your key, into the
                            credential the console reads

The request holds the public key only; an admin certifies it with the organisation's
tool (certify-staff) and records the certificate on the hub, which writes the card. The
private key never leaves this machine, so neither the hub nor the admin ever holds it.
"""

from __future__ import annotations

import argparse
import re
import shlex
from pathlib import Path

from link.files import write_private
from protocol.credentials import StaffCredential
from protocol.keys import PrivateKey
from protocol.requests import Requester, StaffCard, make_request
from protocol.types import check_name

KEY_FILE = "staff.key"


def person_name(text: str) -> str:
    try:
        return check_name(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def build_parser(default_credential: Path) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="homeroom-console keys",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="action", required=True)
    new = commands.add_parser("new", help="make your key and a request for an admin to certify")
    new.add_argument("name", type=person_name, help="your name as pupils and colleagues know it")
    new.add_argument("--out", type=Path, help="where to write the request (default: NAME.request)")
    new.add_argument(
        "--replace", action="store_true", help="make a new key even though you have one"
    )
    install = commands.add_parser("install", help="install the card the hub wrote for you")
    install.add_argument("card", type=Path)
    for sub in (new, install):
        sub.add_argument(
            "--credential",
            type=Path,
            default=default_credential,
            help="your credential file; the key is kept beside it (default: %(default)s)",
        )
    return parser


def new_key(name: str, key_path: Path, request_path: Path, *, replace: bool = False) -> None:
    """Make a key at `key_path` (owner-only) and a certificate request for it."""
    if key_path.exists() and not replace:
        raise FileExistsError(
            f"{key_path} already holds your key. To make a request for it again, or a new key "
            "(the old certificate then stops working for you), add --replace."
        )
    key = PrivateKey.generate()
    write_private(key_path, key.to_bytes())
    request_path.write_bytes(make_request(key, Requester.STAFF, name).encode())


def install_card(card: StaffCard, key_path: Path, credential_path: Path) -> StaffCredential:
    """Join `card` with the key it certifies into the credential the console reads."""
    if not key_path.exists():
        raise FileNotFoundError(f"no key in {key_path}: make one with homeroom-console keys new")
    key = PrivateKey.from_bytes(key_path.read_bytes())
    if key.public.raw != card.certificate.body.subject_key:
        raise ValueError(
            f"that card certifies another key than the one in {key_path}; "
            "ask for a card made from your latest request"
        )
    credential = StaffCredential(
        hub_url=card.hub_url,
        hub=card.hub,
        org=card.org,
        certificate=card.certificate,
        private_key=key.to_bytes(),
    )
    write_private(credential_path, credential.encode())
    return credential


def main(argv: list[str], default_credential: Path) -> int:
    args = build_parser(default_credential).parse_args(argv)
    key_path = args.credential.with_name(KEY_FILE)
    if args.action == "new":
        safe = re.sub(r"[^A-Za-z0-9._-]+", "-", args.name).strip("-") or "staff"
        request = args.out or Path(f"{safe}.request")
        new_key(args.name, key_path, request, replace=args.replace)
        print(f"Made your key in {key_path} (it stays on this machine).")
        print(f"Give {request} to an admin (it holds no secret). They certify it and return a")
        print("card from the hub; install that with: keys install CARD")
        return 0
    card = StaffCard.decode(args.card.read_bytes(), str(args.card))
    credential = install_card(card, key_path, args.credential)
    body = credential.certificate.body
    print(f"Installed {body.name!r} ({body.role.value}) for {card.hub_url} in {args.credential}.")
    print(f"Start the console with: homeroom-console{_beside(args.credential, default_credential)}")
    return 0


def _beside(credential: Path, default: Path) -> str:
    return "" if credential == default else f" --credential {shlex.quote(str(credential))}"
