"""The protocol's size limits, named once: the types declare them, senders fit text to them.

A peer refuses a message over any of these, so a sender that holds text of
unknown length (an OS user name, an exception, a teacher's typing) passes it
through `fit` with the limit of the field it fills, never a hand-written `[:N]`.
Lengths count characters (code points), as msgspec does; `MAX_BYTES` on each
message type bounds the encoded size.
"""

from __future__ import annotations

import re

from .errors import UsageError

# --- Names (shown in terminals and logs, so control characters are refused too) ---
MAX_PERSON_NAME = 80
MAX_DEVICE_NAME = 80
MAX_USER_NAME = 128  # a login name as the device reports it
MAX_ACCOUNT_NAME = 255  # a host name
MAX_GROUP_NAME = 63

# --- Free text ---
MAX_SHORT_TEXT = 500  # details, lock messages, error messages
MAX_LONG_TEXT = 4000  # policy notes
MAX_MESSAGE_TEXT = 2000  # a message shown to students
MAX_URL = 2048
MAX_PROCESS_NAME = 255
MAX_OS_NAME = 128
MAX_OS_VERSION = 255
MAX_AGENT_VERSION = 64
MAX_EVENT_KIND = 64
MAX_ERROR_REF = 64
MAX_FACT_NAME = 64
MAX_FACT_VALUE = 1024

# --- Audit entries as the console lists them ---
MAX_AUDIT_ACTOR = 256
MAX_AUDIT_WORD = 64  # the action and the result
MAX_AUDIT_DETAIL = 1000

# --- Collections ---
MAX_WATCHERS = 32  # people watching one device at once
MAX_TARGETS = 2000  # devices one command (or one class) names
MAX_PROCESSES = 4096
MAX_FACTS = 128
MAX_ROSTER = 20_000  # devices in one roster
MAX_POLICY_WINDOWS = 32
MAX_VERSIONS = 16

#: A shortened text ends with this, so a reader knows there was more.
ELLIPSIS = "\N{HORIZONTAL ELLIPSIS}"
#: C0, DEL and C1: refused in names because they forge lines or terminal escapes.
#: Written as a regular expression's escapes, so a pattern quoted in an error stays printable.
CONTROLS = r"\x00-\x1f\x7f-\x9f"
#: Lone surrogates (an undecodable byte in a file or user name) cannot be sent as UTF-8.
_SURROGATES = r"\ud800-\udfff"
#: Characters that draw nothing or reorder what follows: Unicode's format characters (Cf,
#: bidi overrides and isolates, zero-width joiners and spaces, the soft hyphen, tag
#: characters...), private-use characters (Co) and surrogates (Cs). Refused in names, so
#: "Ada\u202e" cannot pose as a classmate's device nor reverse the words after it.
#: Listed, not computed from `unicodedata`, so that every peer applies the same rule
#: whatever its Python (Unicode 15's Cf; new ones are rare).
INVISIBLES = (
    r"\u00ad\u0600-\u0605\u061c\u06dd\u070f\u0890-\u0891\u08e2\u180e"
    r"\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u206f\ufeff\ufff9-\ufffb"
    r"\U000110bd\U000110cd\U00013430-\U0001343f\U0001bca0-\U0001bca3"
    r"\U0001d173-\U0001d17a\U000e0001\U000e0020-\U000e007f"
    r"\ue000-\uf8ff\U000f0000-\U000ffffd\U00100000-\U0010fffd" + _SURROGATES
)
_SURROGATE = re.compile(f"[{_SURROGATES}]")
_CONTROL = re.compile(f"[{CONTROLS}{INVISIBLES}]")


def fit(text: str, limit: int, *, printable: bool = False) -> str:
    """`text` as a field of at most `limit` characters, ending in "…" when shortened.

    Lone surrogates, which no UTF-8 message can carry, become U+FFFD. With
    `printable`, so do control and invisible characters, as name fields require (a
    device's host or user name is the device's to choose, hence hostile).
    """
    if limit < 1:
        raise UsageError(f"a field of {limit} characters cannot hold text")
    text = (_CONTROL if printable else _SURROGATE).sub("\N{REPLACEMENT CHARACTER}", text)
    if len(text) <= limit:
        return text
    return text[: limit - 1] + ELLIPSIS


#: Longest class session, in minutes: a school day.
MAX_CLASS_SESSION_MINUTES = 8 * 60
