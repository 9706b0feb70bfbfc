"""What the agent keeps in memory all day: modules it needs only for rare actions stay out."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

#: Loaded on first use only: cryptography (the agent signs, verifies and seals with the libcrypto
#: the ssl module brought), webbrowser with shutil, bz2 and lzma (open_url), getpass (at
#: connect, for the user's name: read through it then), Pillow and mss (the first watch), the
#: screenshot's code (an IT action).
NOT_AT_REST = (
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
        "from protocol.keys import PrivateKey, Purpose\n"
        "key = PrivateKey.generate()  # what loading the device's state does\n"
        "key.public.verify(Purpose.COMMAND, b'lock', key.sign(Purpose.COMMAND, b'lock'))\n"
        f"rare = {NOT_AT_REST!r}\n"
        "print(','.join(sorted(m for m in sys.modules if m in rare or m.split('.')[0] in rare)))\n"
    )
    # Without the coverage run's variables: its hook in the child imports modules itself.
    env = {k: v for k, v in os.environ.items() if not k.startswith(("COV_CORE_", "COVERAGE_"))}
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env
    )
    assert result.stdout.strip() == ""


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
    env = {k: v for k, v in os.environ.items() if not k.startswith(("COV_CORE_", "COVERAGE_"))}
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env
    )
    assert result.stdout.split() == ["openssl", "False"]
