"""`homeroom-hub`: create a hub, enrol devices and staff, and serve."""

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

from link.files import write_private
from protocol.certificates import Role
from protocol.limits import fit
from protocol.tokens import is_loopback
from protocol.types import check_group, check_name

from . import fleet_cli, policy_cli
from .admin import LOCAL_ADMIN, create_token, issue_staff, revoke_staff
from .keyring import Keyring, init_hub
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

    init = command(commands, "init", "create the keys, TLS certificate, store and a first admin")
    init.add_argument(
        "--url", help="how devices reach this hub, e.g. wss://hub.school.example:8443"
    )
    init.add_argument(
        "--name",
        action="append",
        default=[],
        help="host name or IP address for the TLS certificate (repeatable)",
    )
    init.add_argument(
        "--admin", default="Administrator", type=person_or_class_name, help="first admin's name"
    )

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
    add = command(staff, "add", "issue a credential file for the console")
    add.add_argument("name", type=person_or_class_name)
    add.add_argument("--role", choices=["teacher", "it", "admin", "guardian"], required=True)
    add.add_argument(
        "--group", action="append", default=[], type=group_name, help="groups they may steer"
    )
    add.add_argument(
        "--device",
        action="append",
        default=[],
        metavar="DEVICE",
        help="for a guardian: their child's device, by name or id (repeatable)",
    )
    add.add_argument(
        "--out", type=Path, help="where to write it (default: DATA/staff/NAME.credential)"
    )
    add.add_argument("--expires", type=duration, default=duration("52w"))
    revoke = command(
        staff, "revoke", "revoke a certificate by serial, recorded here or not (32 hex digits)"
    )
    revoke.add_argument("serial")
    command(staff, "list", "list issued credentials")

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
    except (StoreError, FileNotFoundError, FileExistsError, ValueError) as error:
        print(f"homeroom-hub: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


def _dispatch(args: argparse.Namespace) -> int:
    now = int(time.time())
    if args.command == "init":
        names = args.name or ["localhost", "127.0.0.1"]
        url = args.url or f"wss://{names[0]}:8443"
        keyring = init_hub(args.data, hub_url=url, names=names)
        with Store.open(keyring.store_path) as store:
            credential = issue_staff(
                keyring, store, name=args.admin, role=Role.ADMIN, groups=("*",), now=now
            )
        path = _write_credential(keyring, args.admin, credential, None)
        print(f"Created a hub in {args.data}:")
        print(f"  organisation key  {keyring.org_key.public.fingerprint}  (org.key: keep it safe)")
        print(f"  hub key           {keyring.hub_key.public.fingerprint}")
        print(f"  TLS certificate   {keyring.tls_cert_path} for {', '.join(names)}")
        print(f"  store             {keyring.store_path}")
        print(f"  admin credential  {path} (for {args.admin!r})")
        print(f"Devices will dial {url}.")
        print(f"Start it with: homeroom-hub serve --data {_quoted(args.data)}")
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
        groups = tuple(args.group) or (("*",) if args.role in ("admin", "it") else ())
        by_name = {d.name: d.device_id for d in store.devices()}
        devices = tuple(by_name.get(device, device) for device in args.device)
        credential = issue_staff(
            keyring,
            store,
            name=args.name,
            role=Role(args.role),
            groups=groups,
            now=now,
            lifetime=args.expires,
            devices=devices,
        )
        body = credential.certificate.body
        groups = body.groups
        path = _write_credential(keyring, args.name, credential, args.out)
        print(
            f"Wrote {path} for {args.name!r} ({args.role}, groups {', '.join(groups)}), "
            f"serial {body.serial}, valid until {_when(body.expires_at)}."
        )
        print(f"Give it to them privately; they run: homeroom-console --credential {_quoted(path)}")
        return 0
    if args.command == "staff" and args.action == "revoke":
        if not re.fullmatch(r"[0-9a-f]{32}", args.serial):
            raise ValueError(
                f"{args.serial!r} is not a serial: copy all 32 hex digits from 'staff list' "
                "or from the certificate"
            )
        sequence = revoke_staff(keyring, store, args.serial, now=now)
        print(
            f"Revoked {args.serial}: refused from the next sign-in or command on; "
            f"devices receive revocation list {sequence} from the running hub."
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
                f"{device.device_id[:16]}"
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
    raise AssertionError(args.command)


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


def _write_credential(keyring: Keyring, name: str, credential, out: Path | None) -> Path:  # type: ignore[no-untyped-def]
    safe = re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip("-") or "staff"
    path = out or keyring.folder / "staff" / f"{safe}.credential"
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    write_private(path, credential.encode())
    return path
