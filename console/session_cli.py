"""`homeroom-console session start|end --class CLASS`: a class session from a script.

A teacher reaches a class's devices only during their own class session (hub/session_rules.py);
this starts or ends one without opening the class grid (where `t` does the same).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path

from protocol.errors import PeerError
from protocol.limits import MAX_CLASS_SESSION_MINUTES
from protocol.messages import Answer, Error

from .printable import printable
from .session import ConsoleSession


def session_main(argv: list[str], *, credential: Path | None = None, hub: str | None = None) -> int:
    """`homeroom-console session ...`; `credential` and `hub` are what was given before it."""
    from .cli import _load_credential, _shared_options

    parser = argparse.ArgumentParser(
        prog="homeroom-console session",
        description="Start or end the class session of one of your classes: teachers reach "
        "a class's devices only during their own session.",
        parents=[_shared_options(after_command=True)],
    )
    parser.add_argument("action", choices=["start", "end"])
    parser.add_argument("--class", dest="klass", required=True, metavar="CLASS")
    parser.add_argument(
        "--minutes", type=int, default=60, help="how long it lasts (default 60, at most 480)"
    )
    parser.add_argument("--wait", type=float, default=15.0, help="seconds to wait for the hub")
    args = parser.parse_args(argv, argparse.Namespace(credential=credential, hub=hub))
    if not 1 <= args.minutes <= MAX_CLASS_SESSION_MINUTES:
        parser.error(f"--minutes takes 1 to {MAX_CLASS_SESSION_MINUTES}")
    staff = _load_credential(args.credential, otherwise="or add --credential FILE to the command.")
    session = ConsoleSession(staff, url=args.hub)
    try:
        return asyncio.run(_ask(session, args))
    except PeerError as error:
        print(f"homeroom-console: {error.detail}\n{error.guidance}", file=sys.stderr)
        return 2
    # Before OSError, of which TimeoutError is one: the wait, not the address, ran out.
    except TimeoutError:
        print(
            f"homeroom-console: the hub at {session.url} did not answer within {args.wait:g} s; "
            "check the address (--hub), or give it longer (--wait SECONDS).",
            file=sys.stderr,
        )
        return 2
    except OSError as error:
        print(f"homeroom-console: cannot reach the hub: {error}", file=sys.stderr)
        return 2


async def _ask(session: ConsoleSession, args: argparse.Namespace) -> int:
    await session.connect()
    try:
        async with asyncio.timeout(args.wait):
            asked = await session.class_session(args.klass, args.action, args.minutes)
            async for event in session:
                if isinstance(event, Error) and event.ref == asked:
                    print(
                        f"homeroom-console: the hub refused: {printable(event.message)}",
                        file=sys.stderr,
                    )
                    return 1
                if isinstance(event, Answer) and event.id == asked:
                    klass = next((c for c in event.classes if c.name == args.klass), None)
                    if klass is None or klass.session is None:
                        print(f"{printable(args.klass)}: no class session on.")
                    else:
                        until = time.strftime("%H:%M", time.localtime(klass.session.ends_at))
                        teacher = printable(klass.session.teacher)
                        print(
                            f"{printable(args.klass)}: class session on until {until} ({teacher})."
                        )
                    return 0
    finally:
        await session.close()
    raise ConnectionError("the hub closed the connection")
