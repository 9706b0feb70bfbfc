"""What the agent keeps in memory all day: modules it needs only for rare actions stay out."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

#: Loaded on first use only: cryptography (the agent signs and verifies with the libcrypto
#: the ssl module brought), webbrowser with shutil, bz2 and lzma (open_url), getpass (at
#: connect, for the user's name: read through it then), Pillow and mss (the first watch).
NOT_AT_REST = ("cryptography", "webbrowser", "shutil", "bz2", "lzma", "PIL", "mss")


@pytest.mark.skipif(not hasattr(os, "RTLD_NOLOAD"), reason="cryptography serves where it cannot")
def test_an_agent_at_rest_holds_none_of_the_modules_it_needs_rarely() -> None:
    code = (
        "import sys\n"
        "import agent.cli, agent.runtime, agent.ui_supervisor, agent.platforms.x11\n"
        "from protocol.keys import PrivateKey, Purpose\n"
        "key = PrivateKey.generate()  # what loading the device's state does\n"
        "key.public.verify(Purpose.COMMAND, b'lock', key.sign(Purpose.COMMAND, b'lock'))\n"
        f"print(','.join(sorted(m for m in sys.modules if m.split('.')[0] in {NOT_AT_REST!r})))\n"
    )
    # Without the coverage run's variables: its hook in the child imports modules itself.
    env = {k: v for k, v in os.environ.items() if not k.startswith(("COV_CORE_", "COVERAGE_"))}
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env
    )
    assert result.stdout.strip() == ""
