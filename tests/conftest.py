"""Fixtures for the whole suite: one private Xvfb display, shared by every desktop test.

One server for the session, not one per module: a Tk interpreter keeps its display
connection after its windows are gone, and Xlib ends the whole process when that
server disappears, so a display must outlive every Tk user in the run. Under pytest-xdist
each worker is a session of its own, with its own server (Xvfb -displayfd takes the first
free display number, atomically), so workers never share a screen, a pointer or a focus.
"""

from hypothesis import settings

from tests.xvfb import xvfb_fixture

# No timed assertions (figures go to `make bench`), and Hypothesis's per-example deadline
# is one: on a loaded CI machine a 10 ms round trip took 343 ms and failed the run.
# Loaded here, before any test module builds its own settings on top of the default.
settings.register_profile("homeroom", deadline=None)
settings.load_profile("homeroom")

xvfb_display = xvfb_fixture(scope="session")
