"""`homeroom-console`: the class grid for staff, `do` for scripts, `--demo` to try it out."""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

from link.help import TerminalHelp
from protocol.credentials import StaffCredential
from protocol.errors import PeerError

#: The file `homeroom-console` reads when no --credential is given, in the OS's place for
#: per-user settings (~/.config/homeroom-console on Linux, honouring XDG_CONFIG_HOME).
CREDENTIAL_FILE = "staff.credential"


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
        from .start import loading

        with loading():  # `do` is a new process each time: its modules too (console/start.py)
            from .do_command import do_main
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
