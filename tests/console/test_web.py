"""`homeroom-console --web`: the key gate over real HTTP, and the demo in a real Chromium."""

from __future__ import annotations

import asyncio
import io
import os
import re
import shutil
import signal
import subprocess
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path

import aiohttp
import pytest
from PIL import Image

from agent.desktop import LOCK_BACKGROUND
from console.web import KEY_COOKIE, demo_web_console, is_loopback, remote_refusal, web_console

from ..support import scaled

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
needs_chromium = pytest.mark.skipif(
    CHROMIUM is None, reason="no chromium here: `make system` installs Debian's chromium"
)


async def poll_until(
    condition: Callable[[], object],
    what: str,
    seconds: float = 90.0,
    *,
    context: Callable[[], Awaitable[str]] | None = None,
) -> None:
    """Wait for `condition`; on time-out, fail naming `what`, with what `context` tells.

    The bound is for a console that never answers, not a speed to meet: on a slow CI
    machine the console, Chromium and the demo class share two cores, and the lock dialog
    was seen drawn a few seconds after a 30 s bound had run out."""
    try:
        async with asyncio.timeout(scaled(seconds)):
            while not condition():
                await asyncio.sleep(0.1)  # polling a condition, not waiting for time to pass
    except TimeoutError:
        detail = await context() if context is not None else ""
        raise AssertionError(f"not within {scaled(seconds):g} s: {what}{detail}") from None


# --- where it listens --------------------------------------------------------------------


@pytest.mark.parametrize("host", ["127.0.0.1", "127.1.2.3", "::1", "[::1]", "localhost"])
def test_loopback_hosts_are_allowed(host: str) -> None:
    assert is_loopback(host)
    assert remote_refusal(host) is None


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.168.1.20", "school.example"])
def test_other_hosts_are_refused_with_the_reason_and_the_way_out(host: str) -> None:
    refusal = remote_refusal(host)
    assert refusal is not None
    assert "plain HTTP" in refusal and "ssh -L" in refusal and "--web-allow-remote" in refusal


def test_the_command_refuses_a_network_host_unless_told() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "console", "--web", "--demo", "2", "--web-host", "0.0.0.0"],
        capture_output=True,
        text=True,
        timeout=scaled(30),
        check=False,
    )
    assert result.returncode == 2
    assert "--web-allow-remote" in result.stderr and "unencrypted" in result.stderr


def test_a_credential_that_cannot_be_read_is_said_before_anything_listens(
    tmp_path: Path,
) -> None:
    missing = tmp_path / "nobody.credential"
    result = subprocess.run(
        [sys.executable, "-m", "console", "--web", "--credential", str(missing)],
        capture_output=True,
        text=True,
        timeout=scaled(30),
        check=False,
    )
    assert result.returncode != 0
    assert f"cannot read {missing}" in result.stderr
    assert "http://" not in result.stdout


# --- the key ----------------------------------------------------------------------------


async def test_without_the_key_nothing_but_static_files_is_served() -> None:
    async with (
        web_console("true", port=0) as served,
        aiohttp.ClientSession() as browser,
    ):
        for path in ("/", "/?key=wrong", "/ws", "/download/anything"):
            async with browser.get(served.base_url + path) as response:
                assert response.status == 403, path
                assert "?key=" in await response.text()
        async with browser.get(served.base_url + "/static/js/textual.js") as response:
            assert response.status == 200


@pytest.mark.parametrize("host", ["::1", "[::1]"])
async def test_it_serves_on_ipv6_loopback_too(host: str) -> None:
    try:
        context = web_console("true", host=host, port=0)
        served = await context.__aenter__()
    except OSError:
        pytest.skip("no IPv6 loopback on this machine")
    try:
        assert served.base_url.startswith("http://[::1]:")
        async with aiohttp.ClientSession() as browser, browser.get(served.url) as response:
            assert response.status == 200
    finally:
        await context.__aexit__(None, None, None)


async def test_the_key_opens_the_page_and_leaves_a_strict_cookie_for_the_websocket() -> None:
    async with (
        web_console("true", port=0) as served,
        # unsafe: aiohttp keeps no cookies for IP addresses otherwise; browsers do.
        aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as browser,
    ):
        async with browser.get(served.url) as response:
            assert response.status == 200
            cookie = response.cookies[KEY_COOKIE]
            assert cookie.value == served.key
            assert cookie["httponly"] and cookie["samesite"] == "Strict"
            assert f'data-session-websocket-url="ws{served.base_url[4:]}/ws"' in (
                await response.text()
            )
        # The cookie alone opens the page again (a reload), without the key in the address.
        async with browser.get(served.base_url + "/") as response:
            assert response.status == 200


async def test_the_websocket_needs_the_servers_own_origin_besides_the_cookie() -> None:
    async with web_console("true", port=0) as served:
        cookies = {KEY_COOKIE: served.key}
        async with aiohttp.ClientSession(cookies=cookies) as browser:
            for origin in ("http://evil.example", "http://127.0.0.1:1"):
                with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
                    await browser.ws_connect(served.base_url + "/ws", origin=origin)
                assert refused.value.status == 403
            async with browser.ws_connect(
                served.base_url + "/ws?width=80&height=24", origin=served.base_url
            ) as ws:
                await ws.close()  # admitted; `true` exits at once, nothing to drive


# --- the installed command ---------------------------------------------------------------


async def test_the_command_prints_an_address_with_its_key_and_serves_it(tmp_path: Path) -> None:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "console",
        "--web",
        "--demo",
        "2",
        "--web-port",
        "0",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        env={**os.environ, "HOME": str(tmp_path)},
    )
    try:
        assert process.stdout is not None
        url = None
        async with asyncio.timeout(scaled(60)):
            while url is None:
                line = (await process.stdout.readline()).decode()
                assert line, "the web console ended before printing its address"
                if match := re.search(r"http://127\.0\.0\.1:\d+/\?key=\S+", line):
                    url = match.group(0)
        async with aiohttp.ClientSession() as browser:
            async with browser.get(url) as response:
                assert response.status == 200
            async with aiohttp.ClientSession() as stranger, stranger.get(url.split("?")[0]) as r:
                assert r.status == 403
    finally:
        process.terminate()
        await process.wait()


async def drain(ws: aiohttp.ClientWebSocketResponse) -> None:
    async for _ in ws:
        pass


async def test_closing_its_terminal_ends_the_server_and_every_console_it_started(
    tmp_path: Path,
) -> None:
    import psutil

    process = await asyncio.create_subprocess_exec(
        *[sys.executable, "-m", "console", "--web", "--demo", "2", "--web-port", "0"],
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        env={**os.environ, "HOME": str(tmp_path)},
    )
    try:
        assert process.stdout is not None
        async with asyncio.timeout(scaled(60)):
            while not (
                match := re.search(rb"http://\S+/\?key=(\S+)", await process.stdout.readline())
            ):
                pass
        base, key = match.group(0).decode().split("/?key=")
        async with (
            aiohttp.ClientSession(cookies={KEY_COOKIE: key}) as browser,
            browser.ws_connect(f"{base}/ws?width=100&height=30", origin=base) as ws,
        ):
            async with asyncio.timeout(scaled(60)):
                while b"Homeroom" not in (await ws.receive_bytes()):
                    pass  # the console's first screens, until its title is drawn
            consoles = psutil.Process(process.pid).children(recursive=True)
            assert consoles, "a console runs for the browser"
            # Like a browser, keep reading: so the server's goodbye is answered at once.
            reading = asyncio.create_task(drain(ws))
            process.send_signal(signal.SIGHUP)  # what a closing terminal sends
            await asyncio.wait_for(process.wait(), scaled(30))
            await reading
        _, alive = psutil.wait_procs(consoles, timeout=scaled(30))
        assert not alive, f"left running: {[p.cmdline() for p in alive]}"
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()


# --- a real browser --------------------------------------------------------------------


def as_bytes(data: str | bytes) -> bytes:
    return data if isinstance(data, bytes) else data.encode()


# A CSI escape sequence (colours, cursor moves), and one cut off at the end of a frame.
_ESCAPE = re.compile(rb"\x1b\[[0-9;?]*[A-Za-z]")
_UNFINISHED_ESCAPE = re.compile(rb"\x1b(\[[0-9;?]*)?$")


class TerminalText:
    """The words the console wrote to the browser, escape sequences taken out.

    Textual redraws only what changed, cut at the edges of every widget on the screen and
    under a dialog, with a cursor move before each piece: on a busy machine a dialog's title
    can arrive as "Lock all 4" and " devices" with a cursor move between. Without the
    escape sequences the pieces of one line join again.
    """

    def __init__(self) -> None:
        self.text = bytearray()
        self._unfinished = b""

    def add(self, data: bytes) -> None:
        data = self._unfinished + data
        tail = _UNFINISHED_ESCAPE.search(data)
        self._unfinished = data[tail.start() :] if tail else b""
        self.text.extend(_ESCAPE.sub(b"", data[: tail.start()] if tail else data))

    def __contains__(self, words: bytes) -> bool:
        return words in self.text


def screenshot_colours(png: bytes) -> tuple[int, int]:
    """(distinct colours at 4 bits a channel, pixels near the lock screen's colour)."""
    with Image.open(io.BytesIO(png)) as image:
        rgb = image.convert("RGB")
    target = tuple(int(LOCK_BACKGROUND[i : i + 2], 16) for i in (1, 3, 5))
    # Pillow counts the pixels of each colour in C; a loop over a million pixels in Python
    # took seconds a screenshot on a loaded machine, and the waits below ran out on it.
    counted = rgb.getcolors(maxcolors=rgb.width * rgb.height) or []
    colours = set()
    locked = 0
    for count, pixel in counted:
        assert isinstance(pixel, tuple)  # an RGB image's colours are (r, g, b)
        r, g, b = pixel
        colours.add((r >> 4, g >> 4, b >> 4))
        if max(abs(r - target[0]), abs(g - target[1]), abs(b - target[2])) <= 24:
            locked += count
    return len(colours), locked


def test_words_drawn_in_pieces_read_as_one_text() -> None:
    terminal = TerminalText()
    for chunk in (b"\x1b[1m\x1b[38;2;1;2;3mLock all 4", b"\x1b[12", b";40H devices\x1b[0m\x1b"):
        terminal.add(chunk)
    assert b"Lock all 4 devices" in terminal
    assert bytes(terminal.text) == b"Lock all 4 devices"


@needs_chromium
async def test_the_demo_in_chromium_shows_thumbnails_and_a_browser_lock_reaches_students(
    tmp_path: Path,
) -> None:
    from playwright.async_api import WebSocket, async_playwright

    assert CHROMIUM is not None
    async with (
        demo_web_console(4, port=0) as (room, served),
        async_playwright() as playwright,
    ):
        browser = await playwright.chromium.launch(executable_path=CHROMIUM)
        try:
            # A window the headless browser can keep drawing while it shares the CPU (the other
            # pytest-xdist worker, the demo class). Every thumbnail the console redraws is
            # terminal text in 24-bit colour, and this Chromium draws it on the CPU (WebGL in
            # SwiftShader). At 1280x800 (142x44 cells) the console wrote about 134 KB/s and
            # the browser, with a core to itself, drew 89 KB/s: never keeping up, every answer
            # to a key came behind a backlog of 1-2 MB, 2-15 s late alone and up to 35 s beside
            # two busy loops: beside a second suite, the waits for those answers ran out.
            # At 800x500 (88x27 cells) the console writes about 39 KB/s, the browser keeps up,
            # and each answer came within about a second, beside two busy loops too.
            page = await browser.new_page(viewport={"width": 800, "height": 500})
            # Playwright's own waits (screenshots, clicks) scale like every other wait here.
            page.set_default_timeout(scaled(30) * 1000)
            # textual-serve's page asks Google for a font; this machine has no way out, and
            # waiting for that to fail would only slow the test down.
            await page.route(
                re.compile(r"^(?!" + re.escape(served.base_url) + ")"), lambda r: r.abort()
            )
            # No key, no console.
            refused = await page.goto(served.base_url + "/")
            assert refused is not None and refused.status == 403
            # What the console sends the browser: terminal output, where its words can be read.
            received = TerminalText()

            def on_websocket(ws: WebSocket) -> None:
                ws.on("framereceived", lambda data: received.add(as_bytes(data)))

            page.on("websocket", on_websocket)
            await page.goto(served.url)
            shots: list[bytes] = []

            async def shot() -> bytes:
                shots.append(await page.screenshot())
                (tmp_path / f"browser-{len(shots)}.png").write_bytes(shots[-1])
                return shots[-1]

            # Thumbnails: the students' desktops bring hundreds of colours the console's
            # own theme does not have.
            async with asyncio.timeout(scaled(60)):
                while screenshot_colours(await shot())[0] < 150:
                    await asyncio.sleep(0.5)
            assert screenshot_colours(shots[-1])[1] < 2000, "no screen is locked yet"

            async def where_the_keys_went() -> str:
                await shot()
                focused = await page.evaluate(
                    "document.activeElement ? document.activeElement.outerHTML.slice(0, 160) : ''"
                )
                output = bytes(received.text[-4000:])
                return (
                    f"; the page's focused element: {focused!r}; the terminal's last "
                    f"output: {output.decode(errors='replace')[-800:]!r}"
                )

            await page.mouse.click(400, 250)  # focus the terminal
            # ctrl+a is the console's own select-all. The grid's "a" does the same, but only
            # once the grid has focus, which the click gives it later, through the console's
            # message queues: a key sent at once could reach the console before that.
            await page.keyboard.press("Control+a")
            await poll_until(
                lambda: b"4 of 4 selected" in received,
                "every device selected",
                context=where_the_keys_went,
            )
            await page.keyboard.press("l")  # lock: the dialog asks for a note
            # Keys typed before the dialog is up would go to the grid: wait till it is drawn.
            # Its note field, not its title: the field is drawn again at each blink of its
            # cursor, while the title comes once, in the dialog's first picture, which a busy
            # run has been seen to miss from the frames the browser reports (the screenshot
            # showed the title all the same).
            await poll_until(
                lambda: b"Optional note to show on the locked screen" in received,
                "the lock dialog shows",
                context=where_the_keys_went,
            )
            await page.keyboard.type("Eyes on me")

            # Enter goes once the note is in the field, not while it may still be on its way.
            await poll_until(
                lambda: b"Eyes on me" in received,
                "the note shows in its field",
                context=where_the_keys_went,
            )
            await page.keyboard.press("Enter")
            # Locking several screens at once asks the teacher first.
            await poll_until(
                lambda: b"at once?" in received,
                "the confirmation shows",
                context=where_the_keys_went,
            )
            await page.keyboard.press("y")
            await poll_until(lambda: all(a.desktop.locked for a in room.agents), "all locked")
            assert {a.desktop.lock_message for a in room.agents} == {"Eyes on me"}  # type: ignore[attr-defined]
            # The next thumbnails in the browser show the lock screens themselves.
            async with asyncio.timeout(scaled(30)):
                while screenshot_colours(await shot())[1] < 20000:
                    await asyncio.sleep(0.5)
        finally:
            await browser.close()
