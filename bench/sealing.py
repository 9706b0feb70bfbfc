"""What sealing frames for their watchers costs per frame (`make bench`).

Usage: python -m bench.sealing [FRAMES]
       python -m bench.sealing --memory

Real frames from the agent's own pipeline (agent.capture.Capture) on a synthetic 1920x1080
student desktop, at 320 px (the class grid) and 960 px (a closer look): a whole picture and
the tiles after a second of typing. Each is sealed by protocol.sealing.FrameSealer as the
agent does, and opened by SealedWatches as the console does, FRAMES times (default 2000),
on one core. Also: the one-off cost of a watch (the agent's key agreement) and of the first
frame of an epoch on the console (its key agreement and unwrap), and the bytes sealing adds.
Figures go to stdout as a Markdown table and to bench/results/sealing.json.

With --memory: what sealing adds to an agent's memory, in a fresh interpreter that imports
agent.runtime, signs as a connected agent does, then accepts a watch and seals one frame and
one screenshot (psutil's memory_full_info before and after, RSS and USS in MiB).
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from cryptography.hazmat.primitives.ciphers.aead import AESGCM, ChaCha20Poly1305

from agent.capture import Capture
from agent.runtime import _frame
from agent.screen import SyntheticScreen
from protocol.frames import Frame, ImageFormat, encode_frame
from protocol.sealing import FrameSealer, SealedWatches, SealKey, random_watch_id

DEVICE = "d" * 64
BUSY = os.urandom(64 * 1024)
RESULTS = Path(__file__).parent / "results" / "sealing.json"


def per_call(work: Callable[[], object], calls: int) -> float:
    """Microseconds per call of `work`, the best of three rounds of `calls`."""
    best = float("inf")
    for _ in range(3):
        start = time.perf_counter()
        for _ in range(calls):
            work()
        best = min(best, (time.perf_counter() - start) / calls)
    return best * 1e6


def real_frames(width: int) -> tuple[bytes, bytes]:
    """A whole frame, and the tile frame a second later, as the agent encodes them."""
    clock = [1_000_000.0]
    capture = Capture(SyntheticScreen("Ada", 1, (1920, 1080), clock=lambda: clock[0]))
    capture.encoder.coalesce_seconds = 0.0
    whole = capture.take(width)
    clock[0] += 1.0
    tiles = capture.take(width)
    assert whole is not None and tiles is not None
    return encode_frame(_frame(whole, 1, 0)), encode_frame(_frame(tiles, 2, 0))


def watched(watchers: int) -> tuple[FrameSealer, SealedWatches]:
    sealer, console = FrameSealer(DEVICE), SealedWatches()
    for index in range(watchers):
        key, watch_id = SealKey.generate(), random_watch_id()
        if index == 0:
            console.remember(key, watch_id, [DEVICE], float("inf"))
        sealer.admit(watch_id=watch_id, serial=f"s{index}", watcher_key=key.public, until=1e12)
    return sealer, console


def measure(width: int, frames: int) -> dict[str, float]:
    whole, tiles = real_frames(width)
    figures: dict[str, float] = {"whole_bytes": len(whole), "tiles_bytes": len(tiles)}
    figures |= seal_and_open("whole", whole, whole, frames)
    figures |= seal_and_open("tiles", whole, tiles, frames)
    # A busy screen (a video, a photo) encodes far larger than the synthetic desktop.
    busy = encode_frame(Frame(0, 1, 0, ImageFormat.JPEG, width, width * 9 // 16, BUSY))
    figures["busy_bytes"] = len(busy)
    figures |= seal_and_open("busy", busy, busy, frames)
    return figures


def seal_and_open(kind: str, keyframe: bytes, plain: bytes, frames: int) -> dict[str, float]:
    """Seal `plain` as the agent does, then open each copy in order as the console does."""
    is_whole = kind != "tiles"
    sealer, console = watched(1)
    console.open_frame(DEVICE, sealer.seal(keyframe, whole=True), 0.0)  # the epoch's key
    sealed = [sealer.seal(plain, whole=is_whole) for _ in range(frames * 3 + 1)]
    queue = iter(sealed)
    return {
        f"{kind}_overhead_bytes": len(sealed[0]) - len(plain),
        f"{kind}_seal_us": per_call(lambda: sealer.seal(plain, whole=is_whole), frames),
        f"{kind}_open_us": per_call(lambda: console.open_frame(DEVICE, next(queue), 0.0), frames),
    }


def one_offs(calls: int) -> dict[str, float]:
    """The agent's cost of accepting a watch; the console's first frame of an epoch."""
    key, watch_id = SealKey.generate(), random_watch_id()
    sealer = FrameSealer(DEVICE)

    def admit() -> None:
        sealer.admit(watch_id=watch_id, serial="s", watcher_key=key.public, until=1e12)

    admit_us = per_call(admit, calls)
    plain = encode_frame(Frame(0, 1, 0, ImageFormat.JPEG, 160, 100, b"picture"))
    first = sealer.seal(plain, whole=True)

    def open_first() -> None:  # a console that has not opened this epoch yet
        console = SealedWatches()
        console.remember(key, watch_id, [DEVICE], float("inf"))
        console.open_frame(DEVICE, first, 0.0)

    # The cipher chosen against AES-GCM, 64 KiB each: this machine has AES-NI; many school
    # laptops and ARM Chromebooks do not, where ChaCha20 is the faster of the two.
    chacha = ChaCha20Poly1305(ChaCha20Poly1305.generate_key())
    aes = AESGCM(AESGCM.generate_key(128))
    nonce = bytes(12)
    return {
        "admit_watch_us": admit_us,
        "open_new_epoch_us": per_call(open_first, calls),
        "chacha20_poly1305_64k_us": per_call(lambda: chacha.encrypt(nonce, BUSY, None), calls),
        "aes128_gcm_64k_us": per_call(lambda: aes.encrypt(nonce, BUSY, None), calls),
    }


#: The child for --memory: an agent at rest, then the agent's first sealed frame and screenshot.
_MEMORY_CHILD = """
import json, sys
import psutil
import agent.runtime
from protocol.keys import PrivateKey, Purpose
key = PrivateKey.generate()  # the device's key, as loading its state does
key.public.verify(Purpose.COMMAND, b"lock", key.sign(Purpose.COMMAND, b"lock"))
process = psutil.Process()
rest = process.memory_full_info()
from protocol.frames import Frame, ImageFormat, encode_frame
from protocol.sealing import FrameSealer, random_watch_id, screenshot_about, seal_screenshot
console_key = bytes.fromhex("de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f")
sealer = FrameSealer("d" * 64)
sealer.admit(watch_id=random_watch_id(), serial="s", watcher_key=console_key, until=1e12)
sealer.seal(encode_frame(Frame(0, 1, 0, ImageFormat.JPEG, 160, 100, b"picture")), whole=True)
seal_screenshot(b"picture", command_id=random_watch_id(), device_id="d" * 64,
                seal_to=console_key, about=screenshot_about(160, 100, "jpeg"))
watched = process.memory_full_info()
print(json.dumps({
    "rest_rss_mib": rest.rss / 2**20, "rest_uss_mib": rest.uss / 2**20,
    "sealing_rss_mib": watched.rss / 2**20, "sealing_uss_mib": watched.uss / 2**20,
    "cryptography_loaded": "cryptography" in sys.modules,
}))
"""


def memory() -> None:
    """Print what sealing adds to an agent's memory, measured in a fresh interpreter."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("COV_CORE_", "COVERAGE_"))}
    child = subprocess.run(
        [sys.executable, "-c", _MEMORY_CHILD], capture_output=True, text=True, check=True, env=env
    )
    figures = json.loads(child.stdout)
    print(f"Sealing's memory in an agent process, {platform.python_version()}")
    print(
        f"at rest: RSS {figures['rest_rss_mib']:.1f} MiB, USS {figures['rest_uss_mib']:.1f} MiB; "
        f"after a sealed frame and screenshot: RSS {figures['sealing_rss_mib']:.1f} MiB, "
        f"USS {figures['sealing_uss_mib']:.1f} MiB "
        f"(+{figures['sealing_rss_mib'] - figures['rest_rss_mib']:.1f} / "
        f"+{figures['sealing_uss_mib'] - figures['rest_uss_mib']:.1f} MiB); "
        f"cryptography imported: {figures['cryptography_loaded']}"
    )


def main() -> None:
    if sys.argv[1:] == ["--memory"]:
        memory()
        return
    frames = int(sys.argv[1]) if len(sys.argv) > 1 else 2000
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})  # one core, as the others
    results = {str(width): measure(width, frames) for width in (320, 960)}
    extra = one_offs(200)
    print(f"Sealing frames, {frames} per figure, one core, {platform.python_version()}")
    print()
    print("| frame | plain bytes | added bytes | seal (agent) | open (console) |")
    print("|---|---:|---:|---:|---:|")
    for width, figures in results.items():
        for kind in ("whole", "tiles", "busy"):
            print(
                f"| {width} px, {kind} | {figures[f'{kind}_bytes']:,.0f} "
                f"| {figures[f'{kind}_overhead_bytes']:.0f} "
                f"| {figures[f'{kind}_seal_us']:.1f} µs | {figures[f'{kind}_open_us']:.1f} µs |"
            )
    print()
    print(f"accepting a watch (agent key agreement): {extra['admit_watch_us']:.0f} µs")
    print(f"first frame of an epoch (console key agreement): {extra['open_new_epoch_us']:.0f} µs")
    print(
        f"64 KiB with ChaCha20-Poly1305: {extra['chacha20_poly1305_64k_us']:.0f} µs, "
        f"with AES-128-GCM: {extra['aes128_gcm_64k_us']:.0f} µs"
    )
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(
        json.dumps({"frames": frames, "widths": results, "one_offs": extra}, indent=2) + "\n"
    )


if __name__ == "__main__":
    main()
