"""Real pixels: with Kitty graphics forced, a tile sends the terminal its thumbnail itself."""

from __future__ import annotations

import base64
import io
import re
import sys

import pytest
from PIL import Image
from textual.app import App, ComposeResult

from console.app import thumbnail_width
from console.picture import PictureMode, detect_picture_mode
from console.roster import DeviceView
from console.widgets.student_tile import StudentTile
from tests.console.harness import BLUE, RED, banded_picture, rendered_lines, wait_until

KITTY_COMMAND = re.compile(r"\x1b_G([^;\x1b]*)(?:;([^\x1b]*))?\x1b\\")
KITTY_PLACEHOLDER = "\U0010eeee"


class KittyTile(App[None]):
    CSS = "StudentTile { height: 1fr; }"

    def compose(self) -> ComposeResult:
        yield StudentTile(DeviceView("d1", "Ada", "7B", online=True), mode=PictureMode.KITTY)


def kitty_images(output: str) -> dict[int, bytes]:
    """The images a stream of Kitty graphics commands transmits, by image id."""
    images: dict[int, str] = {}
    for keys, payload in KITTY_COMMAND.findall(output):
        fields = dict(field.split("=", 1) for field in keys.split(","))
        if payload and fields.get("a", "t") in ("t", "T") and "i" in fields:
            images[int(fields["i"])] = images.get(int(fields["i"]), "") + payload
    return {image_id: base64.b64decode(data) for image_id, data in images.items()}


async def test_with_kitty_forced_the_thumbnail_goes_to_the_terminal_as_kitty_graphics(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    terminal = io.StringIO()  # textual-image writes its graphics straight to the terminal
    monkeypatch.setattr(sys, "__stdout__", terminal)
    app = KittyTile()
    async with app.run_test(size=(60, 24)) as pilot:
        tile = app.query_one(StudentTile)
        tile.receive_picture(banded_picture((320, 200), top=RED, bottom=BLUE))
        pixels = tile.picture.pixels
        assert pixels is not None
        await wait_until(pilot, lambda: pixels.display, "the picture is shown in pixels")
        await wait_until(pilot, lambda: kitty_images(terminal.getvalue()), "graphics are sent")
        # The cells of the tile hold Kitty's placeholders, which show the image in place.
        lines = rendered_lines(pixels)
        assert any(KITTY_PLACEHOLDER in strip.text for strip in lines)

    [png] = kitty_images(terminal.getvalue()).values()
    with Image.open(io.BytesIO(png)) as sent:
        picture = sent.convert("RGB")
    width, height = picture.size
    assert width > 100  # real pixels: far more than a cell per pixel
    assert picture.getpixel((width // 2, height // 4)) == RED
    assert picture.getpixel((width // 2, height * 3 // 4)) == BLUE


def test_a_forced_mode_is_kept_and_auto_off_a_terminal_is_half_blocks() -> None:
    assert detect_picture_mode(PictureMode.SIXEL) is PictureMode.SIXEL
    assert detect_picture_mode(PictureMode.KITTY) is PictureMode.KITTY
    assert detect_picture_mode(PictureMode.AUTO) is PictureMode.HALFBLOCK  # pytest: no tty


def test_real_pixels_ask_devices_for_pictures_as_big_as_the_tile_shows() -> None:
    # The same tile of 40x12 picture cells: a pixel per cell in half-blocks, 10x20 per cell
    # (what textual-image assumes when the terminal does not say) with real pixels.
    assert thumbnail_width((40, 12), PictureMode.HALFBLOCK) == 64  # the protocol's least
    assert thumbnail_width((100, 40), PictureMode.HALFBLOCK) == 112  # 100, in steps of 16
    assert thumbnail_width((40, 12), PictureMode.KITTY) == 400
