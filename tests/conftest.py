"""Fixtures for the whole suite: one private Xvfb display, shared by every desktop test.

One server for the session, not one per module: a Tk interpreter keeps its display
connection after its windows are gone, and Xlib ends the whole process when that
server disappears, so a display must outlive every Tk user in the run.
"""

from tests.xvfb import xvfb_fixture

xvfb_display = xvfb_fixture(scope="session")
