"""The X server halves the screen before the agent grabs it (RENDER), so a grab moves a quarter
of the pixels and each thumbnail pixel is the true average of its block.

A thumbnail shrinks the screen by an even factor (6 for 1920 px to 320). The X server can do
the first halving itself: a RENDER picture of the root window, scaled by 2 with the bilinear
filter, samples each destination pixel exactly between four screen pixels, so it is their
average (pixman weighs each by one quarter). The agent then grabs the halved strip through
shared memory and averages the rest (3x3 blocks for 6) in Pillow. Measured on the reading
screen (1000x860 px of scrolling text) at 1.2 against 1.7 ms a grab, and the whole screen at
2.5 against 4.3 ms, with 0.35 grey levels from the exact block average instead of 9.5 for the
every-other-row averaging the agent does without it (see `screen.shrink_bgrx`).

Used only after a test of the server's arithmetic at start: four known pixels halved must
give their average. A server without RENDER, without a 24-bit direct format, or that
computes something else leaves the agent on its own shrinking.
"""

from __future__ import annotations

from typing import Any

from Xlib import X
from Xlib.error import XError
from Xlib.protocol import rq

__all__ = ["QueryVersion", "ServerHalving"]

_PICT_OP_SRC = 1
_CP_SUBWINDOW_MODE = 1 << 8
_INCLUDE_INFERIORS = 1
_ONE = 1 << 16  # RENDER's fixed-point 16.16
_FILTER = "bilinear"
# A 4x2 test picture, B, G, R, X bytes a pixel: each 2x2 half differs from its average by
# much more than rounding in every colour, whichever pixel a wrong filter would pick.
_TEST_ROWS = (
    (0x10, 0x00, 0xF0, 0, 0x30, 0x40, 0xD0, 0, 0x00, 0xFF, 0xFF, 0, 0x20, 0xFF, 0x00, 0),
    (0x50, 0xC0, 0x90, 0, 0x70, 0xFC, 0x70, 0, 0x40, 0x00, 0xFF, 0, 0x60, 0x00, 0x00, 0),
)


class QueryVersion(rq.ReplyRequest):
    """An extension's QueryVersion where the layout is two CARD32s each way (RENDER, XFixes)."""

    _request = rq.Struct(
        rq.Card8("opcode"),
        rq.Opcode(0),
        rq.RequestLength(),
        rq.Card32("major_version"),
        rq.Card32("minor_version"),
    )
    _reply = rq.Struct(
        rq.ReplyCode(),
        rq.Pad(1),
        rq.Card16("sequence_number"),
        rq.ReplyLength(),
        rq.Card32("major_version"),
        rq.Card32("minor_version"),
        rq.Pad(16),
    )


_PictFormInfo = rq.Struct(
    rq.Card32("id"),
    rq.Card8("type"),
    rq.Card8("depth"),
    rq.Pad(2),
    rq.Card16("red_shift"),
    rq.Card16("red_mask"),
    rq.Card16("green_shift"),
    rq.Card16("green_mask"),
    rq.Card16("blue_shift"),
    rq.Card16("blue_mask"),
    rq.Card16("alpha_shift"),
    rq.Card16("alpha_mask"),
    rq.Card32("colormap"),
)


class _QueryPictFormats(rq.ReplyRequest):
    """Only the formats are read: the screens, depths and visuals that follow are not needed."""

    _request = rq.Struct(rq.Card8("opcode"), rq.Opcode(1), rq.RequestLength())
    _reply = rq.Struct(
        rq.ReplyCode(),
        rq.Pad(1),
        rq.Card16("sequence_number"),
        rq.ReplyLength(),
        rq.LengthOf("formats", 4),
        rq.Card32("screens"),
        rq.Card32("depths"),
        rq.Card32("visuals"),
        rq.Card32("subpixels"),
        rq.Pad(4),
        rq.List("formats", _PictFormInfo),
    )


class _CreatePicture(rq.Request):
    _request = rq.Struct(
        rq.Card8("opcode"),
        rq.Opcode(4),
        rq.RequestLength(),
        rq.Card32("picture"),
        rq.Drawable("drawable"),
        rq.Card32("format"),
        rq.Card32("value_mask"),
        rq.List("values", rq.Card32Obj),
    )


class _FreePicture(rq.Request):
    _request = rq.Struct(rq.Card8("opcode"), rq.Opcode(7), rq.RequestLength(), rq.Card32("picture"))


class _Composite(rq.Request):
    _request = rq.Struct(
        rq.Card8("opcode"),
        rq.Opcode(8),
        rq.RequestLength(),
        rq.Card8("op"),
        rq.Pad(3),
        rq.Card32("source"),
        rq.Card32("mask"),
        rq.Card32("destination"),
        rq.Int16("source_x"),
        rq.Int16("source_y"),
        rq.Int16("mask_x"),
        rq.Int16("mask_y"),
        rq.Int16("destination_x"),
        rq.Int16("destination_y"),
        rq.Card16("width"),
        rq.Card16("height"),
    )


class _SetPictureTransform(rq.Request):
    _request = rq.Struct(
        rq.Card8("opcode"),
        rq.Opcode(28),
        rq.RequestLength(),
        rq.Card32("picture"),
        rq.List("matrix", rq.Card32Obj),
    )


class _SetPictureFilter(rq.Request):
    _request = rq.Struct(
        rq.Card8("opcode"),
        rq.Opcode(30),
        rq.RequestLength(),
        rq.Card32("picture"),
        rq.LengthOf("name", 2),
        rq.Pad(2),
        rq.String8("name"),
        rq.List("values", rq.Card32Obj),
    )


class ServerHalving:
    """A picture of the root window halved by the X server, drawn into a pixmap on request.

    The pixmap holds half the screen (2 MB at 1920x1080), in the X server, not the agent.

    `halve(left, top, width, height)` draws the screen's box at (`left`, `top`) of twice that
    size into the pixmap's top-left corner; read it from `pixmap` with a grab. The caller
    holds its X lock around both, and keeps `left` and `top` even.
    """

    def __init__(self, x: Any, root: Any, size: tuple[int, int]) -> None:
        """Raises `LookupError` when the server cannot halve exactly (see the module)."""
        self._x = x
        self._root = root
        self._pictures: list[int] = []
        self.pixmap: Any = None
        self._target = 0
        render = x.query_extension("RENDER")
        if render is None:
            raise LookupError("the X server has no RENDER extension")
        self._opcode = render.major_opcode
        # The server keeps each client's version; 0.6 brought transforms, 0.7 filters.
        version = QueryVersion(
            display=x.display, opcode=self._opcode, major_version=0, minor_version=11
        )
        if (version.major_version, version.minor_version) < (0, 7):
            raise LookupError("the X server's RENDER is older than 0.7")
        formats = _QueryPictFormats(display=x.display, opcode=self._opcode).formats
        self._format = next(
            (
                f.id
                for f in formats
                if f.type == 1  # direct colour
                and f.depth == 24
                and (f.red_shift, f.green_shift, f.blue_shift) == (16, 8, 0)
                and (f.red_mask, f.green_mask, f.blue_mask, f.alpha_mask) == (255, 255, 255, 0)
            ),
            None,
        )
        if self._format is None:
            raise LookupError("the X server has no 24-bit RENDER format")
        self._screen = self._halved_picture(root.id, inferiors=True)
        self.resize(size)
        if not self._halves_exactly():
            self.close()
            raise LookupError("the X server's RENDER does not average as expected")

    def _picture(self, drawable: int, *, inferiors: bool = False) -> int:
        picture = int(self._x.display.allocate_resource_id())
        _CreatePicture(
            display=self._x.display,
            opcode=self._opcode,
            picture=picture,
            drawable=drawable,
            format=self._format,
            # The root window's picture shows the windows on it, as a grab of it does.
            value_mask=_CP_SUBWINDOW_MODE if inferiors else 0,
            values=[_INCLUDE_INFERIORS] if inferiors else [],
        )
        self._pictures.append(picture)
        return picture

    def _halved_picture(self, drawable: int, *, inferiors: bool = False) -> int:
        picture = self._picture(drawable, inferiors=inferiors)
        # Destination (x, y) samples the source at (2x + 1, 2y + 1) in pixel-centre terms: the
        # corner shared by four pixels, which bilinear filtering weighs equally.
        _SetPictureTransform(
            display=self._x.display,
            opcode=self._opcode,
            picture=picture,
            matrix=[2 * _ONE, 0, 0, 0, 2 * _ONE, 0, 0, 0, _ONE],
        )
        _SetPictureFilter(
            display=self._x.display, opcode=self._opcode, picture=picture, name=_FILTER, values=[]
        )
        return picture

    def resize(self, size: tuple[int, int]) -> None:
        """Room for half of a screen of `size`, the largest box asked for."""
        self.size = (-(-size[0] // 2), -(-size[1] // 2))
        if self.pixmap is not None:
            self._free(self._target)
            self.pixmap.free()
        self.pixmap = self._root.create_pixmap(*self.size, 24)
        self._target = self._picture(self.pixmap.id)

    def halve(self, left: int, top: int, width: int, height: int) -> None:
        """The screen from (`left`, `top`), halved to `width` x `height`, into the pixmap."""
        self._composite(self._screen, left // 2, top // 2, width, height)

    def _composite(self, source: int, x: int, y: int, width: int, height: int) -> None:
        _Composite(
            display=self._x.display,
            opcode=self._opcode,
            op=_PICT_OP_SRC,
            source=source,
            mask=X.NONE,
            destination=self._target,
            source_x=x,
            source_y=y,
            mask_x=0,
            mask_y=0,
            destination_x=0,
            destination_y=0,
            width=width,
            height=height,
        )

    def _halves_exactly(self) -> bool:
        """Halve a 4x2 pattern of our own and compare with the averages, within rounding."""
        pattern = self._root.create_pixmap(4, 2, 24)
        gc = pattern.create_gc()
        try:
            pattern.put_image(gc, 0, 0, 4, 2, X.ZPixmap, 24, 0, bytes(sum(_TEST_ROWS, ())))
            source = self._halved_picture(pattern.id)
            self._composite(source, 0, 0, 2, 1)
            self._free(source)
            halved = self.pixmap.get_image(0, 0, 2, 1, X.ZPixmap, 0xFFFFFFFF).data
        except XError:
            return False
        finally:
            gc.free()
            pattern.free()
        return all(
            abs(4 * halved[4 * half + colour] - sum(row[c] for row in _TEST_ROWS for c in corners))
            <= 4  # within one grey level of the average
            for half in range(2)
            for colour in range(3)
            for corners in [(8 * half + colour, 8 * half + 4 + colour)]
        )

    def _free(self, picture: int) -> None:
        self._pictures.remove(picture)
        _FreePicture(display=self._x.display, opcode=self._opcode, picture=picture)

    def close(self) -> None:
        for picture in list(self._pictures):
            self._free(picture)
        if self.pixmap is not None:
            self.pixmap.free()
            self.pixmap = None
