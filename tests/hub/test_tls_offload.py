"""TLS offload: a real HAProxy or nginx terminates TLS for a hub listening plain on loopback.

Channel binding still holds end to end when the proxy presents the certificate the hub signs
in its handshakes (`serve --behind-proxy`); a proxy presenting any other certificate is
refused by the device, exactly as a machine in the middle is (docs/operations.md).
"""

from __future__ import annotations

import asyncio
import shutil
import socket
import subprocess
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

from bench.hub_load.proxy import proxy_command
from hub.tls import make_self_signed
from protocol.actions import LockScreen
from protocol.errors import ErrorCode, PeerError
from protocol.messages import Result
from tests.classroom import Classroom, classroom
from tests.support import scaled

PROXIES = ("haproxy", "nginx")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@asynccontextmanager
async def tls_proxy(
    proxy: str, folder: Path, hub_port: int, cert: Path, key: Path
) -> AsyncIterator[str]:
    """Run the proxy in front of the hub's plain port; yields the wss:// address devices dial."""
    folder.mkdir()
    port = free_port()
    command = proxy_command(proxy, folder, port, hub_port, cert, key)
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        async with asyncio.timeout(scaled(10)):
            while True:  # the proxy is up once it accepts; the short sleep spaces the checks
                assert process.poll() is None, process.stderr.read().decode()  # type: ignore[union-attr]
                try:
                    _, writer = await asyncio.open_connection("127.0.0.1", port)
                except OSError:
                    await asyncio.sleep(0.02)
                    continue
                writer.close()
                break
        yield f"wss://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait()


def needs(proxy: str) -> None:
    if shutil.which(proxy) is None:
        pytest.skip(f"{proxy} is not installed (apt-get install {proxy}); TLS offload untested")


@asynccontextmanager
async def offloaded(
    proxy: str, tmp_path: Path, *, foreign_cert: bool = False
) -> AsyncIterator[Classroom]:
    """A classroom whose hub listens plain behind `proxy`; `url` points at the proxy."""
    # The hub signs the channel of its own tls-cert.pem, which the proxy is given.
    async with classroom(tmp_path, tls=False, behind_proxy=True) as room:
        cert, key = room.keyring.tls_cert_path, room.keyring.tls_key_path
        if foreign_cert:  # e.g. a certificate from a public CA the hub was not told about
            other_cert, other_key = make_self_signed(["127.0.0.1"])
            cert, key = tmp_path / "other-cert.pem", tmp_path / "other-key.pem"
            cert.write_bytes(other_cert)
            key.write_bytes(other_key)
        hub_port = int(room.url.rsplit(":", 1)[1])
        async with tls_proxy(proxy, tmp_path / proxy, hub_port, cert, key) as url:
            room.url = url
            yield room


@pytest.mark.parametrize("proxy", PROXIES)
async def test_an_agent_connects_through_the_proxy_and_a_lock_arrives(
    proxy: str, tmp_path: Path
) -> None:
    needs(proxy)
    async with offloaded(proxy, tmp_path) as room:
        agent = await room.start_agent("Ada's laptop")
        console = await room.console()
        command = await console.submit(LockScreen(message="Eyes on me"), [agent.state.device_id])
        result = await console.take(Result)
        assert result.ok and result.command_id == command.body.id


@pytest.mark.parametrize("proxy", PROXIES)
async def test_a_proxy_with_a_certificate_the_hub_did_not_sign_is_refused(
    proxy: str, tmp_path: Path
) -> None:
    needs(proxy)
    async with offloaded(proxy, tmp_path, foreign_cert=True) as room:
        with pytest.raises(PeerError) as refused:
            await room.enroll("Ada's laptop")
        assert refused.value.code is ErrorCode.CHANNEL_MISMATCH
