"""Constrained scalar types shared by every message, so limits are declared once."""

from typing import Annotated

import msgspec
from msgspec import Meta

from .limits import (
    CONTROLS,
    INVISIBLES,
    MAX_ACCOUNT_NAME,
    MAX_DEVICE_NAME,
    MAX_GROUP_NAME,
    MAX_LONG_TEXT,
    MAX_PERSON_NAME,
    MAX_SHORT_TEXT,
    MAX_USER_NAME,
)

#: A key fingerprint: SHA-256 in lowercase hex. Device ids are fingerprints.
Fingerprint = Annotated[str, Meta(pattern=r"^[0-9a-f]{64}$")]
DeviceId = Fingerprint
#: A raw Ed25519 public key or signature, base64 on the wire.
RawKey = Annotated[bytes, Meta(min_length=32, max_length=32)]
Signature = Annotated[bytes, Meta(max_length=128)]  # length checked (and named) on verify
Nonce = Annotated[bytes, Meta(min_length=16, max_length=64)]
#: Seconds since the Unix epoch. Signed bodies carry integers only (no floats).
Timestamp = Annotated[int, Meta(ge=0, le=2**40)]
#: Random ids (commands, queries, tokens, serials): 32 lowercase hex digits.
RandomId = Annotated[str, Meta(pattern=r"^[0-9a-f]{32}$")]
#: Names are shown in terminals and logs: no control characters (no forged lines or
#: escape sequences), C0, DEL or C1.
_NO_CONTROLS = f"^[^{CONTROLS}]*$"
#: Names identify people and devices to staff, so invisible characters are refused too:
#: no look-alike of a classmate's name, no bidi override reordering a list.
NAME_RULE = f"^[^{CONTROLS}{INVISIBLES}]*$"
PersonName = Annotated[str, Meta(min_length=1, max_length=MAX_PERSON_NAME, pattern=NAME_RULE)]
DeviceName = Annotated[str, Meta(min_length=1, max_length=MAX_DEVICE_NAME, pattern=NAME_RULE)]
#: A host name as a device reports it.
AccountName = Annotated[str, Meta(max_length=MAX_ACCOUNT_NAME, pattern=NAME_RULE)]
#: A login name as a device reports it.
UserName = Annotated[str, Meta(max_length=MAX_USER_NAME, pattern=NAME_RULE)]
#: What a device reports about its programs (a process name, a window title), shown to staff.
PROGRAM_NAME_CHARS = 255
WINDOW_TITLE_CHARS = 500
ProgramName = Annotated[str, Meta(max_length=PROGRAM_NAME_CHARS, pattern=_NO_CONTROLS)]
WindowTitle = Annotated[str, Meta(max_length=WINDOW_TITLE_CHARS, pattern=_NO_CONTROLS)]
#: Groups name sets of devices (a year, a class, a site); "*" in a certificate means all.
GroupName = Annotated[
    str, Meta(pattern=rf"^(\*|[A-Za-z0-9][A-Za-z0-9 ._-]{{0,{MAX_GROUP_NAME - 1}}})$")
]
ShortText = Annotated[str, Meta(max_length=MAX_SHORT_TEXT)]
#: Free text a device writes (a result's or event's detail, a fact, its OS name): staff
#: read it in terminals and the audit log, so no control character (no escape sequence,
#: no forged line). A sender fits its text with `fit(..., printable=True)`.
DeviceText = Annotated[str, Meta(max_length=MAX_SHORT_TEXT, pattern=_NO_CONTROLS)]
LongText = Annotated[str, Meta(max_length=MAX_LONG_TEXT)]


def check_group(name: str) -> str:
    """`name` if it is a valid group name, else ValueError with the rule (for CLIs)."""
    try:
        return str(msgspec.convert(name, GroupName))
    except msgspec.ValidationError:
        raise ValueError(
            f"{name!r} is not a group name: use letters, digits, spaces, '.', '_' or '-' "
            f"(up to {MAX_GROUP_NAME}, starting with a letter or digit), or '*' for all groups"
        ) from None


def check_name(name: str) -> str:
    """`name` if it may name a person, device or class, else ValueError with the rule."""
    try:
        return str(msgspec.convert(name, PersonName))
    except msgspec.ValidationError:
        raise ValueError(
            f"{name!r} cannot be a name: use 1 to {MAX_PERSON_NAME} visible characters "
            "(no control, invisible or text-direction characters)"
        ) from None
