"""The hub's event loop choice and its open-file limit (hub/capacity.py)."""

from __future__ import annotations

import asyncio
import subprocess
import sys

import pytest

from hub import capacity


def test_the_hub_runs_on_uvloop_where_installed_and_on_asyncio_when_told(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    pytest.importorskip("uvloop", reason="uvloop is not installed here (Windows)")
    monkeypatch.delenv(capacity.LOOP_VARIABLE, raising=False)
    assert capacity.loop_name() == "uvloop"
    assert type(capacity.run(_running_loop())).__module__.startswith("uvloop")
    monkeypatch.setenv(capacity.LOOP_VARIABLE, "asyncio")
    assert capacity.loop_name() == "asyncio"
    assert isinstance(capacity.run(_running_loop()), asyncio.BaseEventLoop)


async def _running_loop() -> asyncio.AbstractEventLoop:
    return asyncio.get_running_loop()


@pytest.mark.skipif(sys.platform == "win32", reason="Windows has no open-file limit to raise")
def test_the_open_file_limit_is_raised_to_the_hard_limit() -> None:
    # In a child process whose soft limit starts at 256, as on a shell with a low ulimit.
    script = (
        "import resource\n"
        "from hub.capacity import raise_descriptor_limit\n"
        "soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)\n"
        "resource.setrlimit(resource.RLIMIT_NOFILE, (min(256, hard), hard))\n"
        "now = raise_descriptor_limit()\n"
        "print(now, resource.getrlimit(resource.RLIMIT_NOFILE)[0], hard)\n"
    )
    output = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    ).stdout.split()
    reported, soft, hard = (int(word) for word in output)
    assert reported == soft
    assert soft == hard or hard == -1  # RLIM_INFINITY: raised as far as allowed
