"""`homeroom-hub`: create a hub, enrol devices, record staff, and serve.

Nothing here can certify anyone: the organisation's key is on an admin's machine
(`homeroom-org`), which signs the hub's certificate, staff certificates and revocation
lists; this command only installs and records what it signed.
"""

from __future__ import annotations

import argparse
import logging
import re
import shlex
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit

from protocol.certificates import Certificate
from protocol.codec import decode_as
from protocol.errors import PeerError
from protocol.limits import fit
from protocol.requests import HubGrant
from protocol.revocation import RevocationList
from protocol.tokens import is_loopback
from protocol.types import check_group, check_name

from . import fleet_cli, policy_cli
from .admin import LOCAL_ADMIN, add_staff, create_token, install_revocations, revoke_staff
from .keyring import Keyring, init_hub, install_certificate, request_again, rotate
from .store import Store, StoreError

_DURATION = re.compile(r"^(\d+)([smhdw])$")
_UNIT = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def duration(text: str) -> int:
    """'90m', '7d', '2w' -> seconds."""
    match = _DURATION.match(text.strip())
    if not match:
        raise argparse.ArgumentTypeError(f"{text!r}: write a number and a unit, like 90m or 7d")
    return int(match[1]) * _UNIT[match[2]]


def person_or_class_name(text: str) -> str:
    try:
        return check_name(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def group_name(text: str) -> str:
    try:
        return check_group(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def _quoted(path: Path) -> str:
    """A path as it must be typed in a shell, so a printed command works when pasted."""
    return shlex.quote(str(path))


def _port_of(url: str) -> int:
    """The port devices dial (from init --url), so `serve` listens where they look."""
    parts = urlsplit(url)
    return parts.port or (443 if parts.scheme == "wss" else 80)


def _when(seconds: int | None) -> str:
    if not seconds:
        return "never"
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%d %H:%M UTC")


def _shared_options(*, after_command: bool) -> argparse.ArgumentParser:
    """Options people put before or after the command: `--data D devices`, `devices --data D`.

    The copy on each command defaults to SUPPRESS, so leaving it out there keeps what
    was given before the command instead of resetting it.
    """
    options = argparse.ArgumentParser(add_help=False)
    options.add_argument(
        "--data",
        type=Path,
        default=argparse.SUPPRESS if after_command else None,
        metavar="DIR",
        help="the hub's data folder (made by init)",
    )
    options.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        default=argparse.SUPPRESS if after_command else False,
        help="log what the hub does",
    )
    return options


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="homeroom-hub", description=__doc__, parents=[_shared_options(after_command=False)]
    )
    shared = [_shared_options(after_command=True)]
    commands = parser.add_subparsers(dest="command", required=True)

    def command(
        group: argparse._SubParsersAction[argparse.ArgumentParser], name: str, help: str
    ) -> argparse.ArgumentParser:
        sub = group.add_parser(name, parents=shared, help=help, description=help)
        sub.set_defaults(command_parser=sub)  # so a missing --data is reported with its usage
        return sub

    def family(name: str, help: str) -> argparse._SubParsersAction[argparse.ArgumentParser]:
        sub = commands.add_parser(name, parents=shared, help=help, description=help)
        return sub.add_subparsers(dest="action", required=True)

    init = command(
        commands, "init", "create the hub's key and its request, the TLS certificate and the store"
    )
    init.add_argument(
        "--url", help="how devices reach this hub, e.g. wss://hub.school.example:8443"
    )
    init.add_argument(
        "--name",
        action="append",
        default=[],
        help="host name or IP address for the TLS certificate (repeatable)",
    )

    certificate = family("certificate", "the hub's certificate from the organisation")
    install = command(certificate, "install", "install what homeroom-org certify-hub wrote")
    install.add_argument("grant", type=Path, metavar="FILE")
    command(certificate, "rotate", "make a new hub key and its request (the old key serves on)")
    command(certificate, "request", "write hub.request again, for the hub's current key")

    serve = command(commands, "serve", "run the hub")
    serve.add_argument("--host", default="0.0.0.0")
    serve.add_argument(
        "--port", type=int, help="port to listen on (default: the one in the hub's --url)"
    )
    serve.add_argument(
        "--insecure-loopback",
        action="store_true",
        help="plain ws:// instead of wss://, allowed only on a loopback address",
    )
    serve.add_argument(
        "--behind-proxy",
        nargs="?",
        const="",
        metavar="CERT",
        help="a TLS proxy on this machine (nginx, HAProxy) presents CERT (default: the hub's "
        "tls-cert.pem) and passes connections on to this plain loopback --host and --port",
    )

    token = family("token", "enrollment tokens")
    create = command(token, "create", "print a token that enrols devices into a group")
    create.add_argument("--group", required=True, type=group_name)
    create.add_argument("--uses", type=int, default=1, help="how many devices (default 1)")
    create.add_argument("--expires", type=duration, default=duration("7d"), help="e.g. 2h, 7d")
    command(token, "list", "list tokens and how often each was used")
    trevoke = command(token, "revoke", "stop a token from enrolling more devices")
    trevoke.add_argument("token_id")

    staff = family("staff", "staff credentials")
    add = command(
        staff, "add", "record a certificate from homeroom-org certify-staff; write their card"
    )
    add.add_argument("certificate", type=Path, metavar="CERT")
    add.add_argument("--out", type=Path, help="where to write the card (default: DATA/staff/)")
    revoke = command(
        staff, "revoke", "refuse a serial at this hub now, recorded here or not (32 hex digits)"
    )
    revoke.add_argument("serial")
    command(staff, "list", "list recorded staff certificates")

    revocation = family("revocation", "the organisation's signed revocation list")
    rinstall = command(
        revocation, "install", "refuse its serials here and carry it to every device"
    )
    rinstall.add_argument("revocations", type=Path, metavar="FILE")

    klass = family("class", "class rosters")
    kcreate = command(klass, "create", "make an empty class for one group")
    kcreate.add_argument("name", type=person_or_class_name)
    kcreate.add_argument("--group", required=True, type=group_name)
    kadd = command(klass, "add", "add devices (by name or id) to a class")
    kadd.add_argument("name")
    kadd.add_argument("devices", nargs="+")
    command(klass, "list", "list classes and their devices")

    policy_cli.add_commands(
        family("policy", "each group's policy: when staff may do what"), command
    )

    devices = command(commands, "devices", "the fleet: name, group, user, host, last seen")
    devices.add_argument("--remove", metavar="DEVICE", help="remove a device (name or id) for good")
    fleet_cli.add_commands(devices, command)
    audit = command(commands, "audit", "show the newest audit entries and check the chain")
    audit.add_argument("--limit", type=int, default=30)
    privacy = command(
        commands, "privacy-report", "who watched, captured or commanded one device, and when"
    )
    privacy.add_argument("--device", required=True, help="the device's name or id")
    privacy.add_argument("--json", action="store_true", help="print the report as JSON")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.data is None:
        args.command_parser.error("the following arguments are required: --data")
    logging.basicConfig(
        level=logging.INFO if args.verbose or args.command == "serve" else logging.WARNING,
        format="%(asctime)s %(name)s %(levelname)s %(message)s",
    )
    try:
        return _dispatch(args)
    except (StoreError, FileNotFoundError, FileExistsError, ValueError, PeerError) as error:
        print(f"homeroom-hub: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


def _dispatch(args: argparse.Namespace) -> int:
    now = int(time.time())
    if args.command == "init":
        names = args.name or ["localhost", "127.0.0.1"]
        url = args.url or f"wss://{names[0]}:8443"
        request = init_hub(args.data, hub_url=url, names=names)
        print(f"Created a hub in {args.data}:")
        print(f"  TLS certificate   {args.data / 'tls-cert.pem'} for {', '.join(names)}")
        print(f"  store             {args.data / 'hub.sqlite3'}")
        print(f"  request           {request} (the hub's public key, for the organisation)")
        print(f"Devices will dial {url}.")
        print("Next, the organisation certifies this hub, on its own machine (not this one,")
        print("unless the school chose to keep both here): carry the request there and run")
        print(f"  homeroom-org --org ORG certify-hub {_quoted(request)}")
        return 0
    if args.command == "certificate" and args.action == "install":
        grant = HubGrant.decode(args.grant.read_bytes(), str(args.grant))
        keyring = install_certificate(args.data, grant)
        body = keyring.hub_certificate.body
        print(f"Installed the hub's certificate, valid until {_when(body.expires_at)}:")
        print(f"  organisation key  {keyring.org_public.fingerprint}")
        print(f"  hub key           {keyring.hub_key.public.fingerprint}")
        print(f"Start it with: homeroom-hub serve --data {_quoted(args.data)}")
        print("(A running hub uses a new certificate once restarted.)")
        return 0
    if args.command == "certificate" and args.action == "request":
        request = request_again(args.data)
        print(f"Wrote {request}. On the organisation's machine, certify it:")
        print(f"  homeroom-org --org ORG certify-hub {_quoted(request)}")
        return 0
    if args.command == "certificate":
        request = rotate(args.data)
        print(f"Made a new hub key; its request is {request}. The current key serves on until")
        print("the organisation certifies the new one and you install it (then restart).")
        return 0
    keyring = Keyring.load(args.data)
    if args.command == "serve":
        from protocol.handshake import channel_of

        from .capacity import run
        from .server import run_hub
        from .tls import certificate_der

        plain = args.insecure_loopback or args.behind_proxy is not None
        if plain and not is_loopback(args.host):
            option = "--insecure-loopback" if args.insecure_loopback else "--behind-proxy"
            print(
                f"homeroom-hub: {option} needs a loopback --host such as 127.0.0.1",
                file=sys.stderr,
            )
            return 2
        proxy_channel = None
        if args.behind_proxy is not None:
            proxy_cert = Path(args.behind_proxy) if args.behind_proxy else keyring.tls_cert_path
            proxy_channel = channel_of(certificate_der(proxy_cert.read_bytes()))
        port = args.port or _port_of(keyring.hub_url)
        try:
            run(run_hub(keyring, args.host, port, tls=not plain, proxy_channel=proxy_channel))
        except OSError as error:  # most often: another program already listens there
            print(
                f"homeroom-hub: cannot listen on {args.host} port {port}: {error.strerror or error}"
                ". Stop the program using it, or choose another --port.",
                file=sys.stderr,
            )
            return 2
        return 0
    with Store.open(keyring.store_path) as store:
        return _with_store(args, keyring, store, now)


def _with_store(args: argparse.Namespace, keyring: Keyring, store: Store, now: int) -> int:
    if args.command == "token" and args.action == "list":
        print(f"{'TOKEN ID':<34} {'GROUP':<12} {'USED':<9} {'EXPIRES':<22} STATE")
        for record in store.tokens():
            state = (
                "revoked" if record.revoked else ("usable" if record.is_usable(now) else "spent")
            )
            print(
                f"{record.token_id:<34} {record.group:<12} "
                f"{f'{record.uses}/{record.max_uses}':<9} {_when(record.expires_at):<22} {state}"
            )
        return 0
    if args.command == "token" and args.action == "revoke":
        store.revoke_token(args.token_id)
        store.append_audit(LOCAL_ADMIN, "token_revoke", [], "ok", args.token_id, now)
        print(f"Revoked token {args.token_id}: devices already enrolled with it stay enrolled.")
        return 0
    if args.command == "token":
        token = create_token(
            keyring, store, group=args.group, uses=args.uses, lifetime=args.expires, now=now
        )
        print(token.encode())
        print(
            f"# enrols up to {args.uses} device(s) into {args.group!r} until "
            f"{_when(token.expires_at)}: homeroom-agent enroll TOKEN",
            file=sys.stderr,
        )
        return 0
    if args.command == "staff" and args.action == "add":
        certificate = decode_as(args.certificate.read_bytes(), Certificate, str(args.certificate))
        card = add_staff(keyring, store, certificate, now=now)
        body = card.certificate.body
        path = _write_card(keyring, body.name, card.encode(), args.out)
        print(
            f"Recorded {body.name!r} ({body.role.value}, groups {', '.join(body.groups)}), "
            f"serial {body.serial}, valid until {_when(body.expires_at)}."
        )
        if body.devices:
            names = {d.device_id: d.name for d in store.devices()}
            children = ", ".join(_shown(names.get(i, i)) for i in body.devices)
            print(f"They see and may pause only: {children}.")
        print(f"Give them {path} (it holds no secret); on their machine they run:")
        print(f"  homeroom-console keys install {_quoted(path)}")
        return 0
    if args.command == "staff" and args.action == "revoke":
        if not re.fullmatch(r"[0-9a-f]{32}", args.serial):
            raise ValueError(
                f"{args.serial!r} is not a serial: copy all 32 hex digits from 'staff list' "
                "or from the certificate"
            )
        revoke_staff(store, args.serial, now=now)
        print(f"Revoked {args.serial} at this hub: refused from the next sign-in or command on.")
        print("Devices check revocation themselves, from a list the organisation signs; on its")
        print(f"machine run: homeroom-org --org ORG revoke {args.serial}")
        return 0
    if args.command == "revocation":
        revocations = decode_as(
            args.revocations.read_bytes(), RevocationList, str(args.revocations)
        )
        fresh = install_revocations(keyring, store, revocations, now=now)
        print(
            f"Installed revocation list {revocations.body.sequence} "
            f"({len(revocations.body.serials)} serials, {fresh} newly refused here); "
            "the running hub sends it to every device."
        )
        return 0
    if args.command == "staff":
        for person in store.staff():
            state = "revoked" if person.revoked_at else f"until {_when(person.expires_at)}"
            print(
                f"{person.serial}  {person.name:<24} {person.role:<8} "
                f"{','.join(person.groups):<16} {state}"
            )
        return 0
    if args.command == "class":
        return _classes(args, store, now)
    if args.command == "policy":
        return policy_cli.run(args, keyring, store, now)
    if args.command == "devices" and (code := fleet_cli.run(args, store, now)) is not None:
        return code
    if args.command == "devices" and args.remove:
        by_name = {d.name: d.device_id for d in store.devices()}
        device_id = by_name.get(args.remove, args.remove)
        store.remove_device(device_id, now)
        store.append_audit(LOCAL_ADMIN, "device_remove", [device_id], "ok", args.remove, now)
        print(f"Removed {args.remove!r}: it can no longer connect. To use it again, enrol it anew.")
        return 0
    if args.command == "devices":
        print(f"{'NAME':<24} {'GROUP':<10} {'USER':<12} {'HOST':<16} {'LAST SEEN':<22} DEVICE ID")
        for device in store.devices():
            print(
                f"{device.name:<24} {device.group:<10} {(device.user or '-'):<12} "
                f"{(device.hostname or '-'):<16} {_when(device.last_seen):<22} "
                f"{device.device_id}"  # whole: homeroom-org certify-staff --device takes it
            )
        return 0
    if args.command == "audit":
        for row in reversed(store.audit(limit=args.limit)):
            # Details come from devices (events, results): no escape sequence reaches IT's terminal.
            line = f"{row.actor}: {row.action} -> {row.result} ({len(row.targets)} devices) "
            print(f"{_when(row.at)}  {_shown(line + row.detail)}")
        broken = store.verify_audit()
        print("audit chain intact" if broken is None else f"AUDIT CHAIN BROKEN at entry {broken}")
        return 0 if broken is None else 1
    if args.command == "privacy-report":
        return _privacy_report(args, store)
    raise AssertionError(args.command)


def _privacy_report(args: argparse.Namespace, store: Store) -> int:
    from .privacy_report import as_json, as_text, privacy_report

    devices = store.devices(include_removed=True)
    found = [d for d in devices if args.device in (d.device_id, d.name)]
    if len(found) != 1:
        problem = "no device" if not found else f"{len(found)} devices"
        raise ValueError(
            f"{problem} called {args.device!r}; give a name or id from 'homeroom-hub devices'"
        )
    device = found[0]
    entries = privacy_report(store, device.device_id)
    if args.json:
        print(as_json(device.device_id, device.name, entries))
    else:
        print(as_text(device.name, entries))
    return 0


def _classes(args: argparse.Namespace, store: Store, now: int) -> int:
    if args.action == "create":
        store.create_class(args.name, args.group, now)
        print(f"Created class {args.name!r} for group {args.group!r}.")
    elif args.action == "add":
        by_name = {d.name: d.device_id for d in store.devices()}
        for device in args.devices:
            store.add_to_class(args.name, by_name.get(device, device))
        print(f"Added {len(args.devices)} device(s) to {args.name!r}.")
    else:
        names = {d.device_id: d.name for d in store.devices()}
        for klass in store.classes():
            members = ", ".join(names.get(i, i[:12]) for i in klass.device_ids) or "(empty)"
            print(f"{klass.name} [{klass.group}]: {members}")
    return 0


def _shown(text: str) -> str:
    """Stored text made safe to print: control characters become U+FFFD, nothing is cut."""
    return fit(text, max(len(text), 1), printable=True)


def _write_card(keyring: Keyring, name: str, card: bytes, out: Path | None) -> Path:
    safe = re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip("-") or "staff"
    path = out or keyring.folder / "staff" / f"{safe}.card"
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    path.write_bytes(card)
    return path
