"""Hub memory and descriptors while strangers flood it: `python -m bench.strangers`.

Runs `homeroom-hub serve` as its own process, then opens, from the test machine's
loopback addresses (all of 127/8 is this machine), idle TCP sockets and TLS handshakes
that stop after the client hello, and prints the hub's resident memory and open files
while they are held and after they are gone. Figures, not assertions.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import ssl
import sys
import tempfile
from pathlib import Path

from tests.hub.processes import free_port, homeroom_hub, serving


def resident_mib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS"):
                return int(line.split()[1]) // 1024
    return -1


def open_files(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def client_hello() -> bytes:
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    tls = context.wrap_bio(incoming, outgoing, server_hostname="hub")
    with contextlib.suppress(ssl.SSLWantReadError):  # it waits for the hub: as meant
        tls.do_handshake()
    return outgoing.read()


async def flood(port: int, sources: list[str], count: int, first: bytes) -> list[socket.socket]:
    loop = asyncio.get_running_loop()
    held = []
    for n in range(count):
        sock = socket.socket()
        sock.setblocking(False)
        sock.bind((sources[n % len(sources)], 0))
        try:
            await loop.sock_connect(sock, ("127.0.0.1", port))
            if first:
                await loop.sock_sendall(sock, first)
        except OSError:
            pass  # refused at the door
        held.append(sock)
    return held


async def main() -> None:
    data = Path(tempfile.mkdtemp()) / "hub"
    port = free_port()
    await homeroom_hub(
        "init", "--data", str(data), "--url", f"wss://127.0.0.1:{port}", "--name", "127.0.0.1"
    )
    hub = await serving(data)
    hello = client_hello()
    scenarios = [
        ("1,100 idle TCP, 1 address", ["127.0.0.2"], 1100, b""),
        ("1,100 idle TCP, 11 addresses", [f"127.0.1.{i}" for i in range(1, 12)], 1100, b""),
        ("2,000 stalled TLS, 1 address", ["127.0.0.3"], 2000, hello),
        ("2,000 stalled TLS, 20 addresses", [f"127.0.2.{i}" for i in range(1, 21)], 2000, hello),
    ]
    try:
        await asyncio.sleep(1)  # settle after start-up; a benchmark, not a test
        print(f"{'hub at rest':34} {resident_mib(hub.pid):5} MiB {open_files(hub.pid):5} files")
        for name, sources, count, first in scenarios:
            held = await flood(port, sources, count, first)
            await asyncio.sleep(2)
            print(f"{name:34} {resident_mib(hub.pid):5} MiB {open_files(hub.pid):5} files")
            for sock in held:
                sock.close()
            await asyncio.sleep(11)  # past the handshake deadline
            print(f"{'  then gone':34} {resident_mib(hub.pid):5} MiB {open_files(hub.pid):5} files")
    finally:
        hub.send_signal(signal.SIGTERM)
        await hub.wait()


if __name__ == "__main__":
    if not sys.platform.startswith("linux"):
        sys.exit("bench.strangers reads /proc: Linux only")
    asyncio.run(main())
