"""Frames and screenshots sealed for the staff who asked: the hub relays bytes it cannot read.

Theory of operation. A console puts a fresh X25519 public key (`seal_to`) in each watch or
screenshot command it signs, so a hub cannot swap in a key of its own without breaking the
staff signature the agent checks. For each watch it accepts, the agent makes a key pair of
its own (its `share`) and derives the watch key: HKDF-SHA256 over the X25519 secret, with the
watch id, the device id and both public keys as info.

Frames are sealed once, whoever watches: the agent seals every frame with one content key
(ChaCha20-Poly1305; the nonce is a counter that only grows), and each whole frame carries that
content key wrapped with every live watch key. Sealing one copy keeps the agent's CPU and
upload, and the hub's fan-out, what they were with one watcher; a watcher costs one wrap
(88 bytes) in each whole frame. When a person stops watching, the agent starts a new content
key (an epoch) that it wraps for the remaining watchers only, so someone no longer named on
the student's banner cannot read the frames after.

The frame header (minus the stream number, which the hub rewrites) and the seal envelope are
the associated data: a hub that changes a byte, moves a frame to another device, or plays an
old one again is caught, and the console drops the frame. A console accepts within an epoch
only counters above the last it opened, and a new epoch only above the last one it opened
from the same agent share. What stays visible to the hub: sizes, timing, the picture's pixel
size and format, and which frames are whole.

The algorithms come from `protocol/x25519_aead.py`: OpenSSL's, from the libcrypto the ssl
module has loaded, so a watched agent does not map cryptography's library (issue 7's memory).

No I/O here: the agent and the console call these functions with bytes.
"""

from __future__ import annotations

import hashlib
import secrets
import struct
from collections.abc import Collection, Iterable
from dataclasses import dataclass, field

from .errors import ErrorCode, PeerError, UsageError
from .frames import HEADER, MAX_SEAL_BYTES, SEALED, check_frame
from .limits import MAX_WATCHERS
from .x25519_aead import Aead, NotAuthentic, backend, hkdf_sha256, new_private


def _chacha(key: bytes) -> Aead:
    return backend().chacha(key)


def _key_pair() -> tuple[bytes, bytes]:
    """A fresh X25519 key pair: the private half, and the public half to send."""
    private = new_private()
    return private, backend().x25519_public(private)


#: Poly1305's tag: what sealing adds to every frame and screenshot, besides the envelope.
TAG_BYTES = 16
KEY_BYTES = 32
#: epoch, counter, number of wraps (then the wraps, then the sealed body)
ENVELOPE = struct.Struct(">QQB")
#: a watch key's id (from the console's public key), the agent's share, the wrapped content key
WRAP = struct.Struct(">8s32s48s")
#: Keys a whole frame may carry: each person on the banner holds at most KEYS_PER_WATCHER.
KEYS_PER_WATCHER = 3
MAX_WRAPS = KEYS_PER_WATCHER * MAX_WATCHERS
assert ENVELOPE.size + MAX_WRAPS * WRAP.size + TAG_BYTES <= MAX_SEAL_BYTES

_FRAME_INFO = b"homeroom sealed frames v1\x00"
_SCREENSHOT_INFO = b"homeroom sealed screenshot v1\x00"
_STREAM = slice(4, 8)  # the stream number, which the hub relabels: not authenticated


def key_id(public: bytes) -> bytes:
    """A short name for a console's watch key, so it finds its wrap in a whole frame."""
    return hashlib.sha256(public).digest()[:8]


@dataclass(frozen=True, slots=True)
class SealKey:
    """A console's key pair for one watch or screenshot command; the private half stays put."""

    #: The X25519 private key, 32 bytes; never in a repr, so never in a log line.
    private: bytes = field(repr=False)
    public: bytes

    @classmethod
    def generate(cls) -> SealKey:
        return cls(*_key_pair())

    @classmethod
    def from_private(cls, private: bytes) -> SealKey:
        """The key pair of a known private half (32 bytes)."""
        return cls(private, backend().x25519_public(private))


def _derive(private: bytes, peer: bytes, info: bytes) -> bytes:
    try:
        secret = backend().x25519(private, peer)
    except ValueError:  # a low-order point (no secret at all), or not 32 bytes
        raise PeerError(ErrorCode.MALFORMED, "a sealing key that agrees on nothing") from None
    return hkdf_sha256(secret, info, KEY_BYTES)


def _watch_info(watch_id: str, device_id: str, share: bytes, watcher: bytes) -> bytes:
    return b"".join(
        (_FRAME_INFO, watch_id.encode(), b"\0", device_id.encode(), b"\0", share, watcher)
    )


def _frame_nonce(counter: int) -> bytes:
    return bytes(4) + counter.to_bytes(8, "big")


def _wrap_nonce(epoch: int) -> bytes:
    return b"wrap" + epoch.to_bytes(8, "big")


def _associated(data: bytes, body_start: int) -> bytes:
    """The header with the stream number blanked, and the envelope: bound to the body."""
    return data[: _STREAM.start] + bytes(4) + data[_STREAM.stop : body_start]


# --- The agent's side -------------------------------------------------------------------


@dataclass(slots=True)
class _Watcher:
    key_id: bytes
    serial: str
    share: bytes
    wrapper: Aead
    until: float


class FrameSealer:
    """One device's sealing of its frames for the watches it accepted.

    `admit` each accepted watch that carries a key; `update` with the people still watching
    (starts a new epoch when one left: True means a whole frame should follow); `seal` each
    encoded frame while `sealing`.
    """

    def __init__(self, device_id: str) -> None:
        self.device_id = device_id
        self._watchers: dict[bytes, _Watcher] = {}
        # Random high half: a restarted agent's epochs are not taken for its last run's.
        self._epoch = secrets.randbits(32) << 32
        self._key = b""
        self._content: Aead
        self._counter = 0
        self._wraps: dict[bytes, bytes] = {}
        self._new_epoch()

    @property
    def sealing(self) -> bool:
        return bool(self._watchers)

    def admit(self, *, watch_id: str, serial: str, watcher_key: bytes, until: float) -> None:
        """Derive the key for a watch just accepted; a person keeps their newest few (consoles)."""
        share_key, share = _key_pair()
        key = _derive(
            share_key, watcher_key, _watch_info(watch_id, self.device_id, share, watcher_key)
        )
        ident = key_id(watcher_key)
        self._watchers.pop(ident, None)
        self._watchers[ident] = _Watcher(ident, serial, share, _chacha(key), until)
        theirs = [w.key_id for w in self._watchers.values() if w.serial == serial]
        for old in theirs[:-KEYS_PER_WATCHER]:
            del self._watchers[old]
            self._wraps.pop(old, None)
        if len(self._watchers) > MAX_WRAPS:  # more keys than the banner has names for
            del self._watchers[next(iter(self._watchers))]
            self._new_epoch()  # whoever that was reads nothing more

    def update(self, now: float, serials: Collection[str]) -> bool:
        """Forget watch keys past their lease or of people no longer watching.

        True when someone left and a new epoch began: send a whole frame next, since the
        watchers still there learn the new content key from it.
        """
        before = {w.serial for w in self._watchers.values()}
        self._watchers = {
            ident: w for ident, w in self._watchers.items() if w.until > now and w.serial in serials
        }
        after = {w.serial for w in self._watchers.values()}
        if before - after:
            self._new_epoch()
            return True
        return False

    def _new_epoch(self) -> None:
        self._epoch += 1
        # The cipher does not hand its key back: it is kept beside it, for the wraps.
        self._key = secrets.token_bytes(KEY_BYTES)
        self._content = _chacha(self._key)
        self._counter = 0
        self._wraps = {}

    def seal(self, frame: bytes, *, whole: bool) -> bytes:
        """An encoded frame (protocol/frames.py) sealed; whole frames carry the wraps."""
        if not self.sealing:
            raise UsageError("nobody to seal frames for")
        self._counter += 1
        if self._counter >= 2**63:  # never in practice; a nonce must still never repeat
            self._new_epoch()
            self._counter = 1
        wraps = self._wrap_all() if whole else []
        header = bytearray(frame[: HEADER.size])
        header[3] |= SEALED
        envelope = ENVELOPE.pack(self._epoch, self._counter, len(wraps)) + b"".join(wraps)
        start = bytes(header) + envelope
        body = self._content.encrypt(
            _frame_nonce(self._counter), frame[HEADER.size :], _associated(start, len(start))
        )
        return start + body

    def _wrap_all(self) -> list[bytes]:
        wraps = []
        for ident, watcher in self._watchers.items():
            wrap = self._wraps.get(ident)
            if wrap is None:
                # Each watch key wraps one content key per epoch: its nonce is the epoch.
                wrapped = watcher.wrapper.encrypt(_wrap_nonce(self._epoch), self._key, ident)
                wrap = self._wraps[ident] = WRAP.pack(ident, watcher.share, wrapped)
            wraps.append(wrap)
        return wraps


# --- The console's side ------------------------------------------------------------------


@dataclass(slots=True)
class _Held:
    """A key this console put in a command: for which command and devices, until when."""

    key: SealKey
    command_id: str
    targets: frozenset[str]
    until: float
    order: int


@dataclass(slots=True)
class _Epoch:
    number: int
    content: Aead
    counter: int


@dataclass(frozen=True, slots=True)
class _Wrap:
    key_id: bytes
    share: bytes
    wrapped: bytes


@dataclass
class SealedWatches:
    """The keys a console put in its watch and screenshot commands, and what it opened.

    `remember` each command signed with a key; `open_frame` a device's sealed frame, which
    raises PeerError (MALFORMED for a broken seal, REPLAYED for an old frame) rather than
    return anything the agent did not seal for this console.
    """

    _held: dict[bytes, _Held] = field(default_factory=dict)
    _by_command: dict[str, bytes] = field(default_factory=dict)
    _epochs: dict[str, _Epoch] = field(default_factory=dict)
    # Per agent share (one per accepted watch): the newest epoch opened through it.
    _floors: dict[bytes, tuple[int, bytes]] = field(default_factory=dict)
    _watch_keys: dict[tuple[bytes, bytes, str], Aead] = field(default_factory=dict)
    _made: int = 0
    #: How many keys are held at most; a console renews each watch every half lease.
    capacity: int = 4096

    def remember(self, key: SealKey, command_id: str, targets: Iterable[str], until: float) -> None:
        self._made += 1
        ident = key_id(key.public)
        self._held[ident] = _Held(key, command_id, frozenset(targets), until, self._made)
        self._by_command[command_id] = ident
        while len(self._held) > self.capacity:
            self._drop(next(iter(self._held)))

    def expects_sealed(self, device_id: str, now: float) -> bool:
        """Whether this console watches `device_id` with a key: then plain frames are refused."""
        self.forget_expired(now)
        return any(device_id in held.targets for held in self._held.values())

    def forget_expired(self, now: float) -> None:
        """Forget keys past their lease, and what was opened for devices no key covers now."""
        expired = [i for i, held in self._held.items() if held.until <= now]
        for ident in expired:
            self._drop(ident)
        if expired:
            covered = set().union(*(held.targets for held in self._held.values()))
            self._epochs = {d: e for d, e in self._epochs.items() if d in covered}

    def _drop(self, ident: bytes) -> None:
        held = self._held.pop(ident)
        self._by_command.pop(held.command_id, None)
        self._floors = {s: f for s, f in self._floors.items() if f[1] != ident}
        self._watch_keys = {k: v for k, v in self._watch_keys.items() if k[0] != ident}

    def open_frame(self, device_id: str, data: bytes, now: float) -> bytes:
        """The encoded frame inside a sealed one from `device_id`, once checked and fresh."""
        self.forget_expired(now)
        header = check_frame(data)
        if not header.sealed:
            raise PeerError(ErrorCode.MALFORMED, "a plain frame where a sealed one is due")
        if len(data) < HEADER.size + ENVELOPE.size + TAG_BYTES:
            raise PeerError(ErrorCode.MALFORMED, "sealed frame shorter than its envelope")
        epoch, counter, count = ENVELOPE.unpack_from(data, HEADER.size)
        start = HEADER.size + ENVELOPE.size + count * WRAP.size
        if start + TAG_BYTES > len(data):
            raise PeerError(ErrorCode.MALFORMED, "sealed frame cut short in its envelope")
        associated = _associated(data, start)
        current = self._epochs.get(device_id)
        if current is not None and current.number == epoch:
            if counter <= current.counter:
                raise PeerError(ErrorCode.REPLAYED, "a sealed frame seen before, or older")
            body = _open(current.content, _frame_nonce(counter), data[start:], associated)
            current.counter = counter
        else:
            content, shares = self._unwrap(device_id, data, epoch, count)
            body = _open(content, _frame_nonce(counter), data[start:], associated)
            self._epochs[device_id] = _Epoch(epoch, content, counter)
            for share, ident in shares:
                self._floors[share] = (epoch, ident)
        plain = bytearray(data[: HEADER.size])
        plain[3] &= ~SEALED & 0xFF
        return bytes(plain) + body

    def _unwrap(
        self, device_id: str, data: bytes, epoch: int, count: int
    ) -> tuple[Aead, list[tuple[bytes, bytes]]]:
        """A new epoch's content key, from the wrap for this console's newest live key."""
        wraps = [
            _Wrap(*WRAP.unpack_from(data, HEADER.size + ENVELOPE.size + i * WRAP.size))
            for i in range(count)
        ]
        mine = [
            (wrap, self._held[wrap.key_id])
            for wrap in wraps
            if wrap.key_id in self._held and device_id in self._held[wrap.key_id].targets
        ]
        if not mine:
            raise PeerError(ErrorCode.MALFORMED, "a frame not sealed for this console")
        floor = max(self._floors.get(wrap.share, (0, b""))[0] for wrap, _ in mine)
        if epoch <= floor:
            raise PeerError(ErrorCode.REPLAYED, "a sealed frame of an older epoch")
        wrap, held = max(mine, key=lambda pair: pair[1].order)
        slot = (wrap.key_id, wrap.share, device_id)
        wrapper = self._watch_keys.get(slot)
        if wrapper is None:
            info = _watch_info(held.command_id, device_id, wrap.share, held.key.public)
            wrapper = _chacha(_derive(held.key.private, wrap.share, info))
        content = _chacha(_open(wrapper, _wrap_nonce(epoch), wrap.wrapped, wrap.key_id))
        self._watch_keys[slot] = wrapper  # kept only once it opened something
        return content, [(w.share, w.key_id) for w, _ in mine]

    def open_screenshot(
        self, command_id: str, device_id: str, data: bytes, sealed_by: bytes | None, about: bytes
    ) -> bytes:
        """The picture inside a sealed screenshot; a plain one only for an unsealed command."""
        ident = self._by_command.get(command_id)
        if ident is None:
            if sealed_by is not None:
                raise PeerError(ErrorCode.MALFORMED, "a screenshot sealed for another console")
            return data
        if sealed_by is None:
            raise PeerError(ErrorCode.MALFORMED, "a plain screenshot where a sealed one is due")
        held = self._held[ident]
        info = _screenshot_info(command_id, device_id, sealed_by, held.key.public)
        return _open(_chacha(_derive(held.key.private, sealed_by, info)), bytes(12), data, about)


def _open(cipher: Aead, nonce: bytes, sealed: bytes, associated: bytes) -> bytes:
    try:
        return cipher.decrypt(nonce, sealed, associated)
    except NotAuthentic:
        raise PeerError(
            ErrorCode.MALFORMED, "sealed bytes that fail their check (changed on the way?)"
        ) from None


# --- Screenshots ---------------------------------------------------------------------------


def _screenshot_info(command_id: str, device_id: str, share: bytes, watcher: bytes) -> bytes:
    return b"".join(
        (_SCREENSHOT_INFO, command_id.encode(), b"\0", device_id.encode(), b"\0", share, watcher)
    )


def seal_screenshot(
    image: bytes, *, command_id: str, device_id: str, seal_to: bytes, about: bytes
) -> tuple[bytes, bytes]:
    """A screenshot sealed for the console that asked, and the agent's share to open it.

    A fresh key per screenshot, used once: the nonce can be zero. `about` (the size and
    format the Result states) is bound to it, so the hub cannot relabel the picture.
    """
    share_key, share = _key_pair()
    key = _derive(share_key, seal_to, _screenshot_info(command_id, device_id, share, seal_to))
    return _chacha(key).encrypt(bytes(12), image, about), share


def screenshot_about(width: int, height: int, format: str) -> bytes:
    """What a sealed screenshot's Result says about it, as its associated data."""
    return f"{width}x{height} {format}".encode()


def random_watch_id() -> str:
    """A command id as protocol/commands.py makes them (for benchmarks and tests)."""
    return secrets.token_hex(16)
