"""Errors: a peer's bad input versus our own misuse, each wire error with a stable code."""

from __future__ import annotations

from enum import StrEnum


class ErrorCode(StrEnum):
    """Stable codes sent on the wire; a peer may switch on them, so never rename one."""

    # Framing and decoding.
    MALFORMED = "malformed"
    UNKNOWN_TYPE = "unknown_type"
    TOO_LARGE = "too_large"
    UNSUPPORTED_VERSION = "unsupported_version"
    OUT_OF_STATE = "out_of_state"
    # Identity and authentication.
    NOT_AUTHENTICATED = "not_authenticated"
    BAD_SIGNATURE = "bad_signature"
    UNTRUSTED_ISSUER = "untrusted_issuer"
    CERTIFICATE_EXPIRED = "certificate_expired"
    CERTIFICATE_REVOKED = "certificate_revoked"
    HUB_KEY_MISMATCH = "hub_key_mismatch"
    CHANNEL_MISMATCH = "channel_mismatch"
    UNKNOWN_DEVICE = "unknown_device"
    DEVICE_KEY_MISMATCH = "device_key_mismatch"
    WRONG_ROLE = "wrong_role"
    UNRECORDED_CERTIFICATE = "unrecorded_certificate"
    REVOCATION_OUTDATED = "revocation_outdated"
    POLICY_OUTDATED = "policy_outdated"
    # Enrollment.
    UNKNOWN_TOKEN = "unknown_token"
    TOKEN_EXPIRED = "token_expired"
    TOKEN_USED_UP = "token_used_up"
    BAD_TOKEN_SECRET = "bad_token_secret"
    # Commands.
    ROLE_FORBIDDEN = "role_forbidden"
    GROUP_FORBIDDEN = "group_forbidden"
    NOT_A_TARGET = "not_a_target"
    COMMAND_EXPIRED = "command_expired"
    COMMAND_NOT_YET_VALID = "command_not_yet_valid"
    REPLAYED = "replayed"
    REPLAY_CACHE_FULL = "replay_cache_full"
    SUPERSEDED = "superseded"
    DEVICE_OFFLINE = "device_offline"
    NO_CLASS_SESSION = "no_class_session"
    ACTION_FAILED = "action_failed"
    POLICY_FORBIDDEN = "policy_forbidden"
    # The hub itself.
    BUSY = "busy"
    TOO_MANY_CONNECTIONS = "too_many_connections"
    HANDSHAKE_TIMEOUT = "handshake_timeout"
    TOO_MANY_WATCHES = "too_many_watches"
    HUB_STORAGE = "hub_storage"
    INTERNAL = "internal"


#: What a person should read for each code: what happened, then what to do next.
GUIDANCE: dict[ErrorCode, str] = {
    ErrorCode.MALFORMED: "The message could not be read. Update Homeroom on both sides.",
    ErrorCode.UNKNOWN_TYPE: "The message type is unknown. Update Homeroom on both sides.",
    ErrorCode.TOO_LARGE: "The message is over its size limit and was dropped.",
    ErrorCode.UNSUPPORTED_VERSION: "No protocol version in common. Update the older side.",
    ErrorCode.OUT_OF_STATE: "The message came at the wrong moment of the session. Reconnect.",
    ErrorCode.NOT_AUTHENTICATED: "Sign in first: the connection is not authenticated yet.",
    ErrorCode.BAD_SIGNATURE: "A signature did not verify. The sender's key or data is wrong.",
    ErrorCode.UNTRUSTED_ISSUER: (
        "The key is not certified by this school's organisation key. "
        "Ask an admin for a credential from this hub."
    ),
    ErrorCode.CERTIFICATE_EXPIRED: "The credential has expired. Ask an admin for a new one.",
    ErrorCode.CERTIFICATE_REVOKED: "The credential was revoked. Ask an admin for a new one.",
    ErrorCode.HUB_KEY_MISMATCH: (
        "This hub's key is not the one this device was enrolled with; refusing to connect. "
        "If the hub was reinstalled, enrol the device again with a new token."
    ),
    ErrorCode.CHANNEL_MISMATCH: (
        "The TLS connection does not belong to the hub that signed the handshake "
        "(a machine in the middle?). Check the network, then try again."
    ),
    ErrorCode.UNKNOWN_DEVICE: "This device is not enrolled. Enrol it with a token from an admin.",
    ErrorCode.DEVICE_KEY_MISMATCH: "The device did not prove it holds its enrolled key.",
    ErrorCode.WRONG_ROLE: "This credential is not allowed to sign in here.",
    ErrorCode.UNRECORDED_CERTIFICATE: (
        "This hub has no record of the credential's certificate. "
        "Ask an admin for a credential issued by this hub."
    ),
    ErrorCode.REVOCATION_OUTDATED: (
        "A revocation list older than the one this device holds was refused; the newer one "
        "stays in force. If the hub keeps sending it, ask IT to check the hub."
    ),
    ErrorCode.POLICY_OUTDATED: (
        "A policy older than the one in force was refused; the newer one stays in force. "
        "If the hub keeps sending it, ask IT to check the hub."
    ),
    ErrorCode.UNKNOWN_TOKEN: "The enrollment token is unknown. Ask an admin for a new token.",
    ErrorCode.TOKEN_EXPIRED: "The enrollment token has expired. Ask an admin for a new token.",
    ErrorCode.TOKEN_USED_UP: "The enrollment token has been used up. Ask an admin for another.",
    ErrorCode.BAD_TOKEN_SECRET: "The enrollment token is damaged. Copy it again in full.",
    ErrorCode.ROLE_FORBIDDEN: "Your role does not allow this action. Ask IT or an admin.",
    ErrorCode.GROUP_FORBIDDEN: "This device is not in one of your groups.",
    ErrorCode.NOT_A_TARGET: "The command was not addressed to this device.",
    ErrorCode.COMMAND_EXPIRED: "The command expired before it arrived. Send it again.",
    ErrorCode.COMMAND_NOT_YET_VALID: "The command is dated in the future. Check the clocks.",
    ErrorCode.REPLAYED: "This command was already received once; a copy is refused.",
    ErrorCode.REPLAY_CACHE_FULL: "Too many live commands at once; try again in a minute.",
    ErrorCode.SUPERSEDED: (
        "A newer lock or unlock reached the device first, so this older one was not applied. "
        "Send it again if it is still wanted."
    ),
    ErrorCode.DEVICE_OFFLINE: "The device is offline. Try again when it is connected.",
    ErrorCode.NO_CLASS_SESSION: (
        "A teacher reaches a class's devices only during their own class session. Start "
        "one (t in the console, or homeroom-console session start --class CLASS), then try again."
    ),
    ErrorCode.ACTION_FAILED: "The device could not carry out the action.",
    ErrorCode.POLICY_FORBIDDEN: (
        "The group's policy does not allow this now (see which window in the detail). "
        "Wait for a window that allows it, or ask an admin."
    ),
    ErrorCode.BUSY: "The hub is busy; try again shortly.",
    ErrorCode.TOO_MANY_CONNECTIONS: (
        "Too many connections from this address are waiting to sign in. "
        "Devices retry by themselves; if this lasts, ask IT to check the network."
    ),
    ErrorCode.HANDSHAKE_TIMEOUT: (
        "Signing in took too long, so the hub hung up. Check the network, then try again."
    ),
    ErrorCode.TOO_MANY_WATCHES: (
        "You are already watching as many screens as one console may. "
        "Stop watching some, then try again."
    ),
    ErrorCode.HUB_STORAGE: (
        "The hub cannot write to its disk (full?), so nothing was done. "
        "Ask IT to free space, then try again."
    ),
    ErrorCode.INTERNAL: "The hub hit an internal error; it has been logged for IT.",
}


class HomeroomError(Exception):
    """Base class of every error Homeroom raises on purpose."""


class PeerError(HomeroomError):
    """The other side sent something wrong: becomes an error code on the wire.

    `detail` says precisely what, for logs and for the person reading it;
    it never includes secrets.
    """

    def __init__(self, code: ErrorCode, detail: str = "") -> None:
        self.code = code
        self.detail = detail
        super().__init__(f"{code.value}: {detail or GUIDANCE[code]}")

    @property
    def guidance(self) -> str:
        """The sentence a person can act on."""
        return GUIDANCE[self.code]


class UsageError(HomeroomError):
    """We called the protocol API wrongly (a bug on our side, never the peer's)."""


class InvalidValue(UsageError, ValueError):
    """We built a message, action or command that the peer would refuse.

    The sender refuses it instead, naming the field and the rule. Also a ValueError,
    so code turning a person's input into a value (a command line) catches it as bad
    input, and msgspec reports it as a validation error when it builds one.
    """
