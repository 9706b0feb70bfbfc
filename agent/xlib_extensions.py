"""python-xlib, told which X extensions the agent speaks; import it before opening a Display.

python-xlib's Display imports and sets up a module for every extension the X server offers
(13 on Xvfb, more on a desktop with a vendor driver): about 0.6 MiB per connection, held for
the agent's whole life, for requests it never makes (issue 7's memory budget). python-xlib is
the agent's alone in its process (mss and Tk do not use it), so its list is narrowed here,
once, for the process. An extension left out is reported missing by `has_extension`: add
the module's name here before using it.
"""

from __future__ import annotations

import Xlib.ext

#: Generic events and XInput (raw input while idle), X-Resource (a window's process),
#: MIT-SCREEN-SAVER (idleness, the screen saver): platforms/x11.py. DAMAGE (what was drawn
#: on): x11_screen.py, whose MIT-SHM requests are its own. XINERAMA (where the monitors are):
#: x11_monitors.py.
USED_EXTENSIONS = frozenset({"ge", "xinput", "res", "screensaver", "damage", "xinerama"})

Xlib.ext.__extensions__ = [  # type: ignore[attr-defined]  # not in python-xlib's stubs
    (name, module)
    for name, module in Xlib.ext.__extensions__  # type: ignore[attr-defined]
    if module in USED_EXTENSIONS
]
