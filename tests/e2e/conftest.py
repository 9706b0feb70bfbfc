"""End-to-end fixtures: one private Xvfb display for the desktop tests of this folder."""

from tests.xvfb import xvfb_fixture

xvfb_display = xvfb_fixture(scope="module")
