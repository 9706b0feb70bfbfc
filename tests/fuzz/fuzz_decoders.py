"""Coverage-guided fuzzing of every decoder that reads a peer's bytes (atheris/libFuzzer).

`make test` runs it briefly; `make fuzz` runs it for FUZZ_SECONDS. Any exception
other than the protocol's PeerError is a bug and stops the run with the input.
"""

from __future__ import annotations

import contextlib
import sys

import atheris

with atheris.instrument_imports():
    from protocol.commands import ReplayCache
    from protocol.credentials import StaffCredential
    from protocol.errors import PeerError
    from protocol.frames import decode_frame
    from protocol.messages import decode_message
    from protocol.sealing import SealedWatches, SealKey
    from protocol.tokens import parse_token

DEVICE = "d" * 64
#: A console holding one watch key, opening what the hub relays to it (protocol/sealing.py).
WATCH_KEY = SealKey.generate()
WATCHES = SealedWatches()
WATCHES.remember(WATCH_KEY, "0" * 32, [DEVICE], float("inf"))

DECODERS = (
    decode_message,
    decode_frame,
    lambda data: parse_token(data.decode("utf-8", "replace")),
    StaffCredential.decode,
    ReplayCache.from_bytes,
    lambda data: WATCHES.open_frame(DEVICE, data, 0.0),
)


def one_input(data: bytes) -> None:
    if not data:
        return
    decoder = DECODERS[data[0] % len(DECODERS)]
    with contextlib.suppress(PeerError):
        decoder(data[1:])


def seed_corpus() -> str:
    """A folder of valid inputs for every decoder, so mutations start from real messages."""
    import tempfile
    from pathlib import Path

    from protocol.actions import LockScreen
    from protocol.certificates import Role, issue_certificate
    from protocol.commands import sign_command
    from protocol.frames import Frame, ImageFormat, Patch, TileFrame, encode_frame
    from protocol.keys import PrivateKey
    from protocol.messages import Status, Submit, encode_message
    from protocol.tokens import new_token

    org, staff = PrivateKey.generate(), PrivateKey.generate()
    certificate = issue_certificate(
        org, staff.public, name="Ms Smith", role=Role.TEACHER, groups=("7B",), now=1, lifetime=10**9
    )
    command = sign_command(staff, certificate, targets=["d" * 64], action=LockScreen(), now=2)
    cache = ReplayCache()
    cache.remember(b"n" * 16, 100, now=1)
    token = new_token(
        hub_url="wss://hub:8443", hub="a" * 64, org="b" * 64, group="7B", expires_at=10, max_uses=1
    )
    credential = StaffCredential(
        hub_url="wss://hub:8443",
        hub="a" * 64,
        org=org.public.fingerprint,
        certificate=certificate,
        private_key=staff.to_bytes(),
    )
    seeds = [
        b"\0" + encode_message(Submit(command=command)),
        b"\0" + encode_message(Status(locked=True, watched_by=("Ms Smith",))),
        b"\1" + encode_frame(Frame(1, 2, 3, ImageFormat.JPEG, 320, 200, b"\xff\xd8")),
        b"\1"
        + encode_frame(
            TileFrame(1, 2, 3, ImageFormat.WEBP, 320, 180, (Patch(0, 0, 16, 16, b"RIFF"),))
        ),
        b"\2" + token.encode().encode(),
        b"\3" + credential.encode(),
        b"\4" + cache.to_bytes(),
        b"\5" + sealed_frame(),
    ]
    folder = Path(tempfile.mkdtemp(prefix="homeroom-fuzz-"))
    for number, seed in enumerate(seeds):
        (folder / f"seed-{number}").write_bytes(seed)
    return str(folder)


def sealed_frame() -> bytes:
    """A whole frame sealed for WATCH_KEY, as an agent sends it."""
    from protocol.frames import Frame, ImageFormat, encode_frame
    from protocol.sealing import FrameSealer

    sealer = FrameSealer(DEVICE)
    sealer.admit(watch_id="0" * 32, serial="s", watcher_key=WATCH_KEY.public, until=1e18)
    plain = encode_frame(Frame(1, 2, 3, ImageFormat.JPEG, 320, 200, b"\xff\xd8"))
    return sealer.seal(plain, whole=True)


def main() -> None:
    argv = list(sys.argv)
    if not any(not arg.startswith("-") for arg in argv[1:]):
        argv.append(seed_corpus())
    atheris.Setup(argv, one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
