"""Text from a device, made harmless to show: names, window titles, process names, details.

Its own small module: `homeroom-console do` prints every row through it and loads nothing else
of the console's screens.
"""

from __future__ import annotations

__all__ = ["printable"]

# C0 and C1 controls (ESC among them) would reach the teacher's terminal as escape
# sequences; bidirectional overrides can make one name display as another.
_BIDI_CONTROLS = [*range(0x202A, 0x202F), *range(0x2066, 0x206A), 0x200E, 0x200F, 0x061C]
_UNPRINTABLE = {
    **{code: "\ufffd" for code in [*range(0x00, 0x20), *range(0x7F, 0xA0), *_BIDI_CONTROLS]},
    **{ord(space): " " for space in "\t\n\r\v\f"},
}


def printable(text: str) -> str:
    """Text from a device made safe to draw: control characters become spaces or "\ufffd".

    This does not escape markup: show the result as `Content`/`Text`, never as markup.
    """
    return text.translate(_UNPRINTABLE)
