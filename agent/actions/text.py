"""Text from this device made fit for the wire: no control characters, within its limit."""

from __future__ import annotations

# The protocol refuses C0 and C1 controls in names and titles a console will print;
# a program or window may be called anything, so they are replaced, not refused.
_CONTROLS = {code: "\ufffd" for code in [*range(0x00, 0x20), *range(0x7F, 0xA0)]}


def shown(text: str, limit: int) -> str:
    """`text` without control characters, clipped to `limit` characters with an ellipsis."""
    clean = text.translate(_CONTROLS)
    return clean if len(clean) <= limit else clean[: limit - 1] + "\N{HORIZONTAL ELLIPSIS}"
