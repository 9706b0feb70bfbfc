"""What the agent keeps in memory all day: modules it needs only for rare actions stay out."""

from __future__ import annotations

import os

import pytest

from tests.support import fresh_python

#: Loaded on first use only: cryptography (the agent signs, verifies and seals with the libcrypto
#: the ssl module brought), webbrowser with shutil, bz2 and lzma (open_url), getpass (at
#: connect, for the user's name: read through it then), Pillow and mss (the first watch), the
#: screenshot's code (an IT action); argparse and gettext (any command but the service's `run`).
NOT_AT_REST = (
    "argparse",
    "gettext",
    "cryptography",
    "webbrowser",
    "shutil",
    "bz2",
    "lzma",
    "PIL",
    "mss",
    "agent.actions.screenshot",
    "protocol.screenshots",
)


@pytest.mark.skipif(not hasattr(os, "RTLD_NOLOAD"), reason="cryptography serves where it cannot")
def test_an_agent_at_rest_holds_none_of_the_modules_it_needs_rarely() -> None:
    code = (
        "import sys\n"
        "import agent.cli, agent.runtime, agent.ui_supervisor, agent.platforms.x11\n"
        "assert agent.cli.run_options(['--state', 'folder', 'run'])  # as at start\n"
        "from protocol.keys import PrivateKey, Purpose\n"
        "key = PrivateKey.generate()  # what loading the device's state does\n"
        "key.public.verify(Purpose.COMMAND, b'lock', key.sign(Purpose.COMMAND, b'lock'))\n"
        f"rare = {NOT_AT_REST!r}\n"
        "print(','.join(sorted(m for m in sys.modules if m in rare or m.split('.')[0] in rare)))\n"
    )
    assert fresh_python(code).strip() == ""


@pytest.mark.desktop
def test_the_screen_the_agent_opens_at_start_holds_none_of_them(xvfb_display: str) -> None:
    code = (
        "import sys\n"
        "from agent.screen import open_screen\n"
        "screen = open_screen()\n"
        f"rare = {NOT_AT_REST!r}\n"
        "print(type(screen).__name__, ','.join(sorted(m for m in sys.modules\n"
        "      if m in rare or m.split('.')[0] in rare)))\n"
    )
    assert fresh_python(code, DISPLAY=xvfb_display).split() == ["X11Screen"]


@pytest.mark.skipif(not hasattr(os, "RTLD_NOLOAD"), reason="cryptography serves where it cannot")
def test_an_agent_being_watched_seals_without_cryptography() -> None:
    # Accepting a watch, sealing frames and a screenshot: X25519 and ChaCha20-Poly1305 come
    # from the libcrypto the ssl module loaded, so cryptography's library stays out (issue 7).
    code = (
        "import sys\n"
        "import agent.runtime\n"
        "from protocol.frames import Frame, ImageFormat, encode_frame\n"
        "from protocol.sealing import FrameSealer, random_watch_id, screenshot_about\n"
        "from protocol.sealing import seal_screenshot\n"
        "from protocol.x25519_aead import backend\n"
        "console = bytes.fromhex("
        "'de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f')\n"
        "sealer = FrameSealer('d' * 64)\n"
        "sealer.admit(watch_id=random_watch_id(), serial='s', watcher_key=console, until=1e12)\n"
        "frame = encode_frame(Frame(0, 1, 0, ImageFormat.JPEG, 160, 100, b'picture'))\n"
        "sealer.seal(frame, whole=True)\n"
        "sealer.seal(frame, whole=False)\n"
        "seal_screenshot(b'picture', command_id=random_watch_id(), device_id='d' * 64,\n"
        "                seal_to=console, about=screenshot_about(160, 100, 'jpeg'))\n"
        "print(backend().name, 'cryptography' in sys.modules)\n"
    )
    assert fresh_python(code).split() == ["openssl", "False"]


def test_an_agent_being_watched_loads_only_the_picture_formats_it_writes() -> None:
    # Pillow imports all of its ~45 format plugins (6.5 MiB, libavif among them) the first
    # time it saves in a format not registered, and five more at its first save of any kind.
    code = (
        "import sys\n"
        "from PIL import Image, ImageDraw\n"
        "from agent.capture import Capture\n"
        "class Screen:\n"
        "    size = (1280, 720)\n"
        "    shown = 0\n"
        "    def grab(self):\n"
        "        picture = Image.new('RGB', self.size, (30, 90, 150))\n"
        "        ImageDraw.Draw(picture).rectangle((0, 0, self.shown * 37, 40), fill='white')\n"
        "        return picture\n"
        "screen = Screen()\n"
        "capture = Capture(screen)\n"
        "for shown in range(12):\n"
        "    screen.shown = shown\n"
        "    capture.take(320)\n"
        "def plugins():\n"
        "    return ','.join(sorted(m for m in sys.modules if m.endswith('ImagePlugin')))\n"
        "print(plugins())\n"
        "from agent.actions.screenshot import take_screenshot\n"
        "take_screenshot(screen)\n"
        "print(plugins())\n"
    )
    watched, screenshot = fresh_python(code).split()
    assert watched == "PIL.JpegImagePlugin,PIL.WebPImagePlugin"
    assert screenshot == "PIL.JpegImagePlugin,PIL.PngImagePlugin,PIL.WebPImagePlugin"


def test_the_ui_process_holds_no_typing_threading_or_msgspec() -> None:
    # A second process all day beside the agent: what it imports is resident twice over.
    # (threading is for the reader thread on Windows only; typing is 0.7 MiB.)
    code = (
        "import sys\n"
        "import agent.ui_process, agent.tk_desktop, agent.ui_panel\n"
        "held = ('typing', 'threading', 'queue', 'msgspec', 'dataclasses', 'logging')\n"
        "print(','.join(sorted(m for m in sys.modules if m in held)) or 'none')\n"
    )
    assert fresh_python(code).strip() == "none"
