"""protocol/ is sans-I/O: importing all of it pulls in neither asyncio nor websockets."""

from __future__ import annotations

import pkgutil
import subprocess
import sys

import protocol


def test_protocol_imports_no_io_frameworks() -> None:
    modules = [f"protocol.{m.name}" for m in pkgutil.iter_modules(protocol.__path__)]
    assert "protocol.handshake" in modules
    code = (
        "import sys\n"
        + "".join(f"import {m}\n" for m in modules)
        + "bad = sorted(m for m in sys.modules if m.split('.')[0] in "
        "{'asyncio', 'websockets', 'socket', 'ssl', 'textual', 'sqlite3'})\n"
        "print(','.join(bad))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
