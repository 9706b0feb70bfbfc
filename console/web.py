"""`homeroom-console --web`: the same console in a browser on this machine, behind a key.

textual-serve starts the console command afresh for each browser connection, so whoever
reaches its websocket gets a console signed in with the staff credential the command
names. The credential stays a file only its owner can read; the browser side is gated by
a random key, printed once to the terminal that started the server and never put on any
command line (where `ps` would show it to every user of the machine):

- `/?key=KEY` checks the key and sets it as a cookie (HttpOnly, SameSite=Strict);
- every other path but the page's static files needs that cookie, and the websocket
  that runs the console also needs this server's own Origin, so a page from another site
  or another local port cannot drive the console through the teacher's browser;
- it listens on loopback only, unless the operator says otherwise on purpose: plain HTTP
  would carry the key and every student's screen across the network in clear.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import ipaddress
import secrets
import shlex
import signal
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from aiohttp import web
from textual_serve.server import Server

if TYPE_CHECKING:
    from textual_serve.app_service import AppService

    from .demo import DemoClassroom

#: How long a browser may take to answer the server's ping (see _wait_longer_for_pongs).
PONG_SECONDS = 60.0
#: The cookie that carries the key after the first visit.
KEY_COOKIE = "homeroom_console_key"
DEFAULT_WEB_HOST = "127.0.0.1"
DEFAULT_WEB_PORT = 8000
#: How long stopping waits for the browsers' connections before closing them.
SHUTDOWN_SECONDS = 1.0

REFUSED = (
    "This Homeroom console needs its key. Open the address printed by "
    "homeroom-console --web on the machine that runs it (it ends in ?key=...)."
)
WRONG_ORIGIN = "This console only answers pages it served itself; open it from its own address."


def is_loopback(host: str) -> bool:
    """Whether `host` names this machine only (127.0.0.0/8, ::1, localhost)."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a host name: it may resolve to anything


def remote_refusal(host: str) -> str | None:
    """Why `--web-host host` is refused without --web-allow-remote; None if it is loopback."""
    if is_loopback(host):
        return None
    return (
        f"--web-host {host} would let other machines reach this console over plain HTTP: "
        "its key and every student's screen would cross the network unencrypted. "
        f"Keep the default ({DEFAULT_WEB_HOST}) and reach it through an SSH tunnel "
        f"(ssh -L {DEFAULT_WEB_PORT}:127.0.0.1:{DEFAULT_WEB_PORT} THIS-MACHINE), or add "
        "--web-allow-remote if you accept that on this network."
    )


def console_command(credential: Path, hub: str | None = None) -> str:
    """The shell command textual-serve runs per browser: this console, with this credential."""
    argv = [sys.executable, "-m", "console", "--credential", str(credential.resolve())]
    if hub is not None:
        argv += ["--hub", hub]
    return shlex.join(argv)


class _GatedServer(Server):
    """textual-serve's server with the key check in front of everything but static files."""

    def __init__(self, command: str, host: str, port: int, key: str) -> None:
        super().__init__(command, host=host, port=port, title="Homeroom")
        self.key = key

    async def _make_app(self) -> web.Application:
        app = await super()._make_app()
        app.middlewares.append(self._gate)
        return app

    @web.middleware
    async def _gate(
        self, request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        if request.path.startswith("/static/"):
            return await handler(request)  # xterm.js and fonts: the same for everyone
        offered = request.query.get("key") if request.path == "/" else None
        given = offered or request.cookies.get(KEY_COOKIE, "")
        if not hmac.compare_digest(given.encode(), self.key.encode()):
            raise web.HTTPForbidden(text=REFUSED)
        if request.path == "/ws" and request.headers.get("Origin") != self.public_url:
            raise web.HTTPForbidden(text=WRONG_ORIGIN)
        response = await handler(request)
        if offered:
            response.set_cookie(KEY_COOKIE, self.key, httponly=True, samesite="Strict", path="/")
        return response

    async def on_startup(self, app: web.Application) -> None:
        """Quiet: `serve_console` prints the address, key included, itself."""

    async def _process_messages(
        self, websocket: web.WebSocketResponse, app_service: AppService
    ) -> None:
        _wait_longer_for_pongs(websocket)
        await super()._process_messages(websocket, app_service)


def _wait_longer_for_pongs(websocket: web.WebSocketResponse) -> None:
    """Give a busy browser PONG_SECONDS to answer the server's ping, not 7.5 s.

    textual-serve pings the browser every 15 s and aiohttp closes the connection, ending the
    teacher's console, when no answer comes within half of that. A browser drawing a class
    of live pictures on a busy laptop (or a loaded 2-core test machine) answered later than
    that and the console ended mid-lesson. A browser that is really gone is still noticed,
    and TCP notices a dropped connection itself. (`_pong_heartbeat` is aiohttp's own: were it
    renamed, the 7.5 s would simply stay.)
    """
    if hasattr(websocket, "_pong_heartbeat"):
        websocket._pong_heartbeat = PONG_SECONDS


@dataclass(frozen=True)
class WebConsole:
    """A running web console: open `url` (it holds the key) in a browser on this machine."""

    base_url: str
    key: str

    @property
    def url(self) -> str:
        return f"{self.base_url}/?key={self.key}"


@contextlib.asynccontextmanager
async def web_console(
    command: str, *, host: str = DEFAULT_WEB_HOST, port: int = DEFAULT_WEB_PORT
) -> AsyncIterator[WebConsole]:
    """Serve `command` to browsers on host:port (0: any free port) until the block ends."""
    host = host.strip("[]")  # "[::1]" as written in a URL is the address ::1
    key = secrets.token_urlsafe(32)
    server = _GatedServer(command, host, port, key)
    # On stopping, aiohttp waits this long for open requests before cancelling them; a
    # browser's websocket stays open for good, and cancelling it is what stops its console.
    runner = web.AppRunner(
        await server._make_app(), handle_signals=False, shutdown_timeout=SHUTDOWN_SECONDS
    )
    await runner.setup()
    try:
        site = web.TCPSite(runner, host, port)
        await site.start()
        bound_port = runner.addresses[0][1]
        netloc = f"[{host}]" if ":" in host else host
        # The page builds its websocket address from this, and the gate checks Origin on it.
        server.public_url = f"http://{netloc}:{bound_port}"
        yield WebConsole(server.public_url, key)
    finally:
        # Closes the browsers' websockets, which stops each console process textual-serve ran.
        await runner.cleanup()


async def serve_console(
    credential: Path | None, hub: str | None, *, host: str, port: int, demo: int | None
) -> None:
    """`homeroom-console --web`: serve until interrupted; with `demo`, one shared demo class."""
    async with contextlib.AsyncExitStack() as stack:
        if demo is not None:
            _, web_app = await stack.enter_async_context(demo_web_console(demo, host, port))
        elif credential is None:
            raise ValueError("the web console needs a staff credential, or --demo")
        else:
            web_app = await stack.enter_async_context(
                web_console(console_command(credential, hub), host=host, port=port)
            )
        where = "this machine only" if is_loopback(host) else "THE NETWORK (plain HTTP)"
        print(
            f"Homeroom console for the browser, on {where}:\n\n    {web_app.url}\n\n"
            "Anyone with this address gets your console: do not share it. "
            "Press Ctrl+C to stop.",
            flush=True,
        )
        await _until_stopped()


async def _until_stopped() -> None:
    """Until Ctrl+C, a closing terminal (SIGHUP) or SIGTERM.

    Returning (rather than dying of the signal) lets `web_console` close the browsers'
    websockets, and textual-serve then stops each console it started: none is left behind.
    """
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGHUP, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, AttributeError, ValueError):
            loop.add_signal_handler(signum, stop.set)
    await stop.wait()


@contextlib.asynccontextmanager
async def demo_web_console(
    students: int, host: str = DEFAULT_WEB_HOST, port: int = DEFAULT_WEB_PORT
) -> AsyncIterator[tuple[DemoClassroom, WebConsole]]:
    """`--web --demo`: a demo hub with simulated students, served to every browser.

    The hub runs in this process, so every browser tab sees the same class; each console
    textual-serve starts signs in with the demo teacher's credential, kept in a private file.
    """
    import tempfile

    from link.files import write_private

    from .demo import demo_classroom

    with tempfile.TemporaryDirectory(prefix="homeroom-web-demo-") as folder:
        async with demo_classroom(students, folder=Path(folder)) as room:
            credential = Path(folder) / "teacher.credential"
            write_private(credential, room.teacher.encode())
            command = console_command(credential, room.url)
            async with web_console(command, host=host, port=port) as web_app:
                yield room, web_app


def run(
    credential: Path | None,
    hub: str | None,
    *,
    host: str,
    port: int,
    demo: int | None,
) -> int:
    """Run `serve_console` until Ctrl+C; an address in use becomes a sentence, not a trace."""
    try:
        asyncio.run(serve_console(credential, hub, host=host, port=port, demo=demo))
    except KeyboardInterrupt:
        return 0
    except OSError as error:
        print(
            f"homeroom-console: cannot listen on {host}:{port}: {error.strerror}. "
            "Choose another port with --web-port PORT.",
            file=sys.stderr,
        )
        return 2
    return 0
