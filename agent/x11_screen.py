"""The X11 screen through python-xlib: grabs into shared memory, and DAMAGE to skip what is still.

Two X extensions, both in every Xorg and Xvfb:

- MIT-SHM: the server writes the picture straight into memory shared with us, and Pillow
  reads it in place, about 1 ms a grab. The segment holds 512 KiB, a strip of the screen:
  larger areas are grabbed strip by strip, so the agent does not keep the 8 MB of a
  1920x1080 screen resident all day for a picture it shrinks 36 times.
- DAMAGE: the server tells which rectangles of the screen were drawn on. The capture then
  grabs only those, and does not grab at all while nothing is drawn.

And a third where the server has it (every Xorg and Xvfb does): RENDER halves the screen
before a thumbnail's grab, a quarter of the pixels to copy and shrink (`x11_render`).

How the damage is read, and why it loses nothing: a damage object on the root window
gathers everything drawn into a region. Each `changed_areas` call moves that region into an
XFixes region of ours and empties it in one request (DamageSubtract), then reads the
region's rectangles (FetchRegion, one round trip); the caller grabs after that. What is
drawn after the subtract gathers again and comes with the next call: nothing falls between
two calls, and the server sends rectangles already merged instead of an event per drawing
(a scrolling page drew hundreds a second, each parsed in Python). The damage object's
"non-empty" level sends one event when drawing starts again, only to be drained; a
ConfigureNotify on the root window says the screen changed size.

Requires a little-endian 24-bit true-colour screen (every desktop today); anything else raises
`ScreenUnavailable` and the agent grabs with mss instead.
"""

from __future__ import annotations

import ctypes
import threading
from typing import TYPE_CHECKING, Any

from Xlib import X
from Xlib import display as xdisplay
from Xlib.error import DisplayError, XError
from Xlib.ext import damage as xdamage
from Xlib.protocol import rq, structs

from . import xlib_extensions  # noqa: F401  # before any Display is opened
from .screen import Box, ScreenUnavailable, bgrx_to_rgb, reduce_bgrx, shrink_bgrx
from .ui_monitors import Monitor
from .x11_monitors import monitors_on
from .x11_render import QueryVersion, ServerHalving

if TYPE_CHECKING:
    from PIL import Image

__all__ = ["X11Screen"]

_IPC_PRIVATE = 0
_IPC_CREAT = 0o1000
_IPC_RMID = 0
# Bytes of screen one grab brings: 67 rows of a 1920-pixel screen, or 640x200 of a video.
# Larger areas take more grabs (a round trip each, 0.1 ms); a segment for the whole screen
# would keep 8 MB resident.
_STRIP_BYTES = 1 << 19


class _ShmAttach(rq.Request):
    _request = rq.Struct(
        rq.Card8("opcode"),
        rq.Opcode(1),
        rq.RequestLength(),
        rq.Card32("shmseg"),
        rq.Card32("shmid"),
        rq.Bool("read_only"),
        rq.Pad(3),
    )


class _ShmDetach(rq.Request):
    _request = rq.Struct(rq.Card8("opcode"), rq.Opcode(2), rq.RequestLength(), rq.Card32("shmseg"))


class _ShmGetImage(rq.ReplyRequest):
    _request = rq.Struct(
        rq.Card8("opcode"),
        rq.Opcode(4),
        rq.RequestLength(),
        rq.Drawable("drawable"),
        rq.Int16("x"),
        rq.Int16("y"),
        rq.Card16("width"),
        rq.Card16("height"),
        rq.Card32("plane_mask"),
        rq.Card8("format"),
        rq.Pad(3),
        rq.Card32("shmseg"),
        rq.Card32("offset"),
    )
    _reply = rq.Struct(
        rq.ReplyCode(),
        rq.Card8("depth"),
        rq.Card16("sequence_number"),
        rq.ReplyLength(),
        rq.Card32("visual"),
        rq.Card32("size"),
        rq.Pad(16),
    )


class _XFixesCreateRegion(rq.Request):
    _request = rq.Struct(
        rq.Card8("opcode"),
        rq.Opcode(5),
        rq.RequestLength(),
        rq.Card32("region"),
        rq.List("rectangles", structs.Rectangle),
    )


class _XFixesDestroyRegion(rq.Request):
    _request = rq.Struct(rq.Card8("opcode"), rq.Opcode(10), rq.RequestLength(), rq.Card32("region"))


class _XFixesFetchRegion(rq.ReplyRequest):
    _request = rq.Struct(rq.Card8("opcode"), rq.Opcode(19), rq.RequestLength(), rq.Card32("region"))
    _reply = rq.Struct(
        rq.ReplyCode(),
        rq.Pad(1),
        rq.Card16("sequence_number"),
        rq.ReplyLength(),
        rq.Object("extents", structs.Rectangle),
        rq.Pad(16),
        rq.List("rectangles", structs.Rectangle),
    )


class _SharedMemory:
    """A System V shared memory segment, mapped here (libc through ctypes)."""

    def __init__(self, size: int) -> None:
        # The C library through the program's own symbols: ctypes.util.find_library would
        # import shutil, bz2, lzma and tempfile (0.6 MiB) into the agent for good.
        libc = ctypes.CDLL(None, use_errno=True)
        libc.shmget.argtypes = [ctypes.c_int, ctypes.c_size_t, ctypes.c_int]
        libc.shmat.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_int]
        libc.shmat.restype = ctypes.c_void_p
        libc.shmdt.argtypes = [ctypes.c_void_p]
        libc.shmctl.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_void_p]
        self._libc = libc
        # Readable and writable by this user only: the screen is the student's.
        self.id = libc.shmget(_IPC_PRIVATE, size, _IPC_CREAT | 0o600)
        if self.id < 0:
            raise OSError(ctypes.get_errno(), "shmget failed")
        address = libc.shmat(self.id, None, 0)
        if address in (None, ctypes.c_void_p(-1).value):
            self.remove()
            raise OSError(ctypes.get_errno(), "shmat failed")
        self.address: int = address
        self.size = size
        self.memory = (ctypes.c_char * size).from_address(address)

    def remove(self) -> None:
        """Mark the segment for removal: it goes when the last process detaches, even on a crash."""
        self._libc.shmctl(self.id, _IPC_RMID, None)

    def close(self) -> None:
        self._libc.shmdt(ctypes.c_void_p(self.address))


class X11Screen:
    """The whole X11 screen, grabbed through shared memory, with damage reports where available.

    Every X call holds one lock: the capture runs on worker threads, never two at once.
    """

    def __init__(
        self, display: str | None = None, *, damage: bool = True, server_halving: bool = True
    ) -> None:
        """Open `display` (default $DISPLAY); `damage=False` grabs everything every time, and
        `server_halving=False` shrinks in this process alone (see `x11_render`)."""
        try:
            self._x = xdisplay.Display(display)
        except (DisplayError, OSError) as error:
            raise ScreenUnavailable(f"cannot open the X display: {error}") from error
        self._lock = threading.Lock()
        self._errors: list[XError] = []
        self._segment: _SharedMemory | None = None
        self._shmseg = 0
        self._damage: int | None = None
        self._parts = 0  # the XFixes region each call's damage is moved into
        self._halving: ServerHalving | None = None
        try:
            # Errors of requests without replies arrive later: keep them for _check_errors.
            self._x.set_error_handler(lambda error, request: self._errors.append(error))
            shm = self._x.query_extension("MIT-SHM")
            if shm is None:
                raise ScreenUnavailable("the X server has no MIT-SHM extension")
            self._shm_opcode = shm.major_opcode
            screen = self._x.screen()
            self._root = screen.root
            visual = next(
                (
                    v
                    for d in screen.allowed_depths
                    for v in d.visuals
                    if v.visual_id == screen.root_visual
                ),
                None,
            )
            little_endian = self._x.display.info.image_byte_order == X.LSBFirst
            if (
                screen.root_depth != 24
                or visual is None
                or (visual.red_mask, visual.green_mask, visual.blue_mask)
                != (0xFF0000, 0x00FF00, 0x0000FF)
                or not little_endian
            ):
                raise ScreenUnavailable("the X screen is not 24-bit little-endian true colour")
            geometry = self._root.get_geometry()
            self._size = (int(geometry.width), int(geometry.height))
            self._make_room(self._size[0], 1)
            xfixes = self._x.query_extension("XFIXES")
            if damage and xfixes is not None and self._x.has_extension(xdamage.extname):
                # XFixes serves nothing before a client says which version it speaks.
                self._xfixes_opcode = xfixes.major_opcode
                version = QueryVersion(
                    display=self._x.display,
                    opcode=self._xfixes_opcode,
                    major_version=2,
                    minor_version=0,
                )
                if version.major_version >= 2:  # regions came with XFixes 2 (2003)
                    self._parts = self._x.display.allocate_resource_id()
                    _XFixesCreateRegion(
                        display=self._x.display,
                        opcode=self._xfixes_opcode,
                        region=self._parts,
                        rectangles=[],
                    )
                    self._x.damage_query_version()
                    self._damage = self._root.damage_create(xdamage.DamageReportNonEmpty)
                    self._root.change_attributes(event_mask=X.StructureNotifyMask)
            self._x.sync()
            self._check_errors("setting up the screen grab")
            if server_halving:
                self._halving = self._halving_if_exact()
        except BaseException:
            self.close()
            raise
        self._known = False  # nothing grabbed yet: the first changed_areas says "unknown"

    def _halving_if_exact(self) -> ServerHalving | None:
        try:
            halving = ServerHalving(self._x, self._root, self._size)
            self._x.sync()
        except (LookupError, XError):
            halving = None
        if self._errors:  # refused by the server: this process shrinks alone
            self._errors[:] = []
            if halving is not None:
                halving.close()
            return None
        return halving

    @property
    def size(self) -> tuple[int, int]:
        return self._size

    @property
    def reports_damage(self) -> bool:
        return self._damage is not None

    @property
    def halves_on_server(self) -> bool:
        """Whether the X server halves the screen before a thumbnail's grab (`x11_render`)."""
        return self._halving is not None

    def _make_room(self, width: int, rows: int) -> None:
        """A segment that holds `rows` rows of `width` pixels, and one row more: an odd
        height is read two rows at a time (see `reduce_bgrx`)."""
        needed = max(_STRIP_BYTES, (rows + 1) * width * 4)
        if self._segment is None or self._segment.size < needed:
            self._detach()
            self._attach(needed)

    def _attach(self, size: int) -> None:
        """A shared segment of `size` bytes, attached by the server."""
        segment = _SharedMemory(size)
        self._shmseg = self._x.display.allocate_resource_id()
        _ShmAttach(
            display=self._x.display,
            opcode=self._shm_opcode,
            shmseg=self._shmseg,
            shmid=segment.id,
            read_only=False,
        )
        self._x.sync()
        segment.remove()  # both sides attached: it disappears with the last of us
        self._segment = segment
        self._check_errors("attaching shared memory (is the X server on another machine?)")

    def _detach(self) -> None:
        if self._segment is not None:
            _ShmDetach(display=self._x.display, opcode=self._shm_opcode, shmseg=self._shmseg)
            self._x.sync()
            self._segment.close()
            self._segment = None

    def _check_errors(self, doing: str) -> None:
        if self._errors:
            error, self._errors[:] = self._errors[0], []
            raise ScreenUnavailable(f"the X server refused {doing}: {error}")

    def _resize_if_needed(self) -> None:
        # The segment grows, if need be, as each grab makes room for itself.
        geometry = self._root.get_geometry()
        size = (int(geometry.width), int(geometry.height))
        if size != self._size and self._halving is not None:
            self._halving.resize(size)
        self._size = size

    def _bgrx(self, box: Box, drawable: Any = None) -> Any:
        """The B, G, R, X pixels of `box` of `drawable` (default: the screen), in the shared
        memory: valid until the next grab."""
        assert self._segment is not None
        left, top, right, bottom = box
        _ShmGetImage(
            display=self._x.display,
            opcode=self._shm_opcode,
            drawable=self._root if drawable is None else drawable,
            x=left,
            y=top,
            width=right - left,
            height=bottom - top,
            plane_mask=0xFFFFFFFF,
            format=X.ZPixmap,
            shmseg=self._shmseg,
            offset=0,
        )
        return self._segment.memory

    def _strips(self, box: Box, step: int) -> list[Box]:
        """`box` cut into strips the segment holds, each a multiple of `step` rows high,
        with room for one row more (an odd height is read two rows at a time)."""
        assert self._segment is not None
        left, top, right, bottom = box
        rows = self._segment.size // ((right - left) * 4) - 1
        rows -= rows % step  # at least `step`: see _make_room
        return [(left, y, right, min(bottom, y + rows)) for y in range(top, bottom, rows)]

    def grab(self) -> Image.Image:
        with self._lock:
            self._resize_if_needed()
            return self._grab_shrunk((0, 0, *self._size), 1)

    def grab_reduced(self, box: Box, factor: int) -> Image.Image:
        """`box` of the screen shrunk `factor` times by averaging, as RGB; see `shrink_bgrx`."""
        with self._lock:
            if box == (0, 0, *self._size):
                self._resize_if_needed()
                box = (0, 0, *self._size)
            return self._grab_shrunk(box, factor)

    def _grab_shrunk(self, box: Box, factor: int) -> Image.Image:
        """Strip by strip: each is whole blocks of `factor` rows, so shrinking the strips one by
        one gives the same picture as shrinking the box at once. Colours are put in order once,
        on the whole shrunk picture."""
        from PIL import Image

        left, top, right, bottom = box
        halving = self._halving
        if (
            halving is not None
            and factor % 2 == 0
            and not any(v % 2 for v in box)
            and (right - left) // 2 <= halving.size[0]
            and (bottom - top) // 2 <= halving.size[1]
        ):
            return self._grab_halved(box, factor // 2)
        self._make_room(right - left, factor)
        strips = self._strips(box, factor)
        if len(strips) == 1:
            return reduce_bgrx(self._bgrx(box), (right - left, bottom - top), factor)
        size = (-(-(right - left) // factor), -(-(bottom - top) // factor))
        shrunk = Image.new("RGBX", size)
        for strip in strips:
            strip_top, strip_bottom = strip[1], strip[3]
            part = shrink_bgrx(self._bgrx(strip), (right - left, strip_bottom - strip_top), factor)
            shrunk.paste(part, (0, (strip_top - top) // factor))  # a copy, before the next grab
        return bgrx_to_rgb(shrunk)

    def _grab_halved(self, box: Box, factor: int) -> Image.Image:
        """`box` halved by the X server strip by strip, each strip shrunk `factor` more here
        (whole blocks of `factor` rows, as in `_grab_shrunk`)."""
        from PIL import Image

        assert self._halving is not None
        left, top, right, bottom = box
        width, height = (right - left) // 2, (bottom - top) // 2
        self._make_room(width, factor)
        shrunk = Image.new("RGBX", (-(-width // factor), -(-height // factor)))
        for strip in self._strips((0, 0, width, height), factor):
            rows = strip[3] - strip[1]
            self._halving.halve(left, top + 2 * strip[1], width, rows)
            pixels = self._bgrx((0, 0, width, rows), self._halving.pixmap)
            part = Image.frombuffer("RGBX", (width, rows), pixels, "raw", "RGBX", 0, 1)
            shrunk.paste(part.reduce(factor) if factor > 1 else part, (0, strip[1] // factor))
        if self._errors:
            # Each grab's reply comes after any error of the halving before it: the server
            # refused one, so the picture is not the screen. Shrink here from now on.
            self._errors[:] = []
            self._halving = None  # its pictures go with the connection
            return self._grab_shrunk(box, 2 * factor)
        return bgrx_to_rgb(shrunk)

    def changed_areas(self) -> list[Box] | None:
        """Rectangles drawn on since the last call, or None when unknown (grab everything)."""
        with self._lock:
            if self._damage is None:
                return None
            self._x.damage_subtract(self._damage, X.NONE, self._parts)
            damaged = _XFixesFetchRegion(
                display=self._x.display, opcode=self._xfixes_opcode, region=self._parts
            )
            known, self._known = self._known, True
            while self._x.pending_events():  # read by now: the reply came after them
                event: Any = self._x.next_event()
                if event.type == X.ConfigureNotify and (event.width, event.height) != self._size:
                    known = False  # the screen changed size: start again from a whole grab
            if not known:
                return None
            return [(r.x, r.y, r.x + r.width, r.y + r.height) for r in damaged.rectangles]

    def monitors(self) -> list[Monitor]:
        """Where the monitors are, primary first, asked on this connection (for the lock)."""
        with self._lock:
            return monitors_on(self._x)

    def close(self) -> None:
        with self._lock:
            try:
                if self._damage is not None:
                    self._x.damage_destroy(self._damage)
                    self._damage = None
                if self._parts:
                    _XFixesDestroyRegion(
                        display=self._x.display, opcode=self._xfixes_opcode, region=self._parts
                    )
                    self._parts = 0
                if self._halving is not None:
                    self._halving.close()
                    self._halving = None
                self._detach()
                self._x.close()
            except (XError, OSError, ConnectionError):
                pass  # the display is gone already: nothing is left to release there
            finally:
                if self._segment is not None:
                    self._segment.close()
                    self._segment = None

    def __enter__(self) -> X11Screen:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()
