"""Screen sources: the real desktop (X11 with DAMAGE, or mss), or a made-up one for tests."""

from __future__ import annotations

import colorsys
import logging
import math
import os
import random
import sys
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

if TYPE_CHECKING:
    from PIL import Image, ImageFont

# Pillow and mss are imported where a picture is made: an agent that nobody watches never
# loads them (about 5 MiB of its memory with the fonts Pillow's drawing brings).

__all__ = [
    "Box",
    "DamageReporting",
    "MssScreen",
    "ReducingScreen",
    "ScreenSource",
    "ScreenUnavailable",
    "SyntheticScreen",
    "open_screen",
]

log = logging.getLogger("homeroom.agent")

#: left, top, right, bottom in screen pixels (right and bottom excluded)
Box = tuple[int, int, int, int]


class ScreenUnavailable(RuntimeError):
    """This way of grabbing the screen does not work here; the reason says why."""


class ScreenSource(Protocol):
    """Something that can picture the whole screen of a student device."""

    @property
    def size(self) -> tuple[int, int]:
        """Width and height in pixels of what `grab` returns."""
        ...

    def grab(self) -> Image.Image:
        """Picture the whole screen now, as an RGB image. Safe to call from any thread."""
        ...

    def close(self) -> None:
        """Release what the source holds (display connections). Idempotent."""
        ...


@runtime_checkable
class ReducingScreen(Protocol):
    """A screen that grabs part of itself already shrunk, skipping a full-size RGB copy."""

    def grab_reduced(self, box: Box, factor: int) -> Image.Image:
        """`box` shrunk `factor` times by box averaging, as RGB (see `reduce_box`)."""
        ...


@runtime_checkable
class DamageReporting(Protocol):
    """A screen whose display server says which parts were drawn on (X11 DAMAGE)."""

    def changed_areas(self) -> list[Box] | None:
        """Boxes that may have changed since the last call; None when unknown.

        Call it before grabbing: what changes after the call is in the next call's answer.
        """
        ...


def reduce_box(image: Image.Image, factor: int) -> Image.Image:
    """Shrink by an integer factor, averaging each `factor` x `factor` block.

    A block cut by the right or bottom edge averages the pixels it has, so shrinking a box
    whose left and top are multiples of `factor` gives exactly that part of the whole shrunk
    screen: a damaged box can be grabbed and pasted without grabbing the rest.
    """
    return image.reduce(factor) if factor > 1 else image


def reduce_bgrx(pixels: Any, size: tuple[int, int], factor: int) -> Image.Image:
    """Raw B, G, R, X pixels (as X11 and mss give them) of `size`, shrunk `factor` times, as RGB."""
    return bgrx_to_rgb(shrink_bgrx(pixels, size, factor))


def shrink_bgrx(pixels: Any, size: tuple[int, int], factor: int) -> Image.Image:
    """Raw B, G, R, X pixels of `size` shrunk `factor` times, still B, G, R, X ("RGBX" mode).

    Read in place, never copied: with a factor of 1 the image is a view of `pixels`. For an
    even factor only every other row is read (a view with twice the stride, free) and each
    block averages `factor` columns of `factor / 2` rows: twice fewer pixels to add, and
    Pillow's reduction runs 2 to 4 times faster on the half-height view (1920x1080 by 6: 1.6
    against 6.5 ms, measured on a loaded machine). Text loses a little contrast, nothing a
    320 px thumbnail shows. Blocks start on rows that are multiples of `factor`, so a box
    whose top is one gives exactly that part of the whole screen shrunk, as `reduce_box` does.
    On X11 the server halves the screen first where it can, exactly (`x11_render`): this
    serves mss and servers without RENDER.
    """
    from PIL import Image

    width, height = size
    if factor >= 2 and factor % 2 == 0:
        stride = width * 8
        rows = (height + 1) // 2
        if rows * stride > len(pixels):
            # An odd height in a buffer of exactly that size (mss): the view's last stride
            # would end past the buffer. Rare (screens have even heights): pad a copy.
            pixels = bytearray(pixels) + bytes(rows * stride - len(pixels))
        view = Image.frombuffer("RGBX", (width, rows), pixels, "raw", "RGBX", stride, 1)
        return view.reduce((factor, factor // 2))
    view = Image.frombuffer("RGBX", size, pixels, "raw", "RGBX", 0, 1)
    return reduce_box(view, factor)


def bgrx_to_rgb(image: Image.Image) -> Image.Image:
    """An "RGBX" image whose bytes really are B, G, R, X (as X11 and mss give them), as RGB.

    Swapping after shrinking touches 36 times fewer pixels than converting the full grab;
    splitting and merging bands is twice as fast as a round trip through bytes.
    """
    from PIL import Image

    blue, green, red, _ = image.split()
    return Image.merge("RGB", (red, green, blue))


def open_screen(display: str | None = None) -> ScreenSource:
    """The best way to grab this device's screen: X11 with shared memory and DAMAGE where
    there is an X server that allows it, otherwise mss (Windows, macOS, remote X)."""
    if sys.platform.startswith("linux") and (display or os.environ.get("DISPLAY")):
        try:
            from .x11_screen import X11Screen

            return X11Screen(display)
        except (ImportError, ScreenUnavailable, OSError) as error:
            log.warning("grabbing the screen with mss, more slowly: %s", error)
    return MssScreen(display)


def _open_mss(display: str | None) -> Any:
    import mss

    # mss 10.2 renamed the factory to the class `mss.MSS`; the declared range still includes 9.x.
    factory = getattr(mss, "MSS", None) or mss.mss
    return factory(display=display) if display is not None else factory()


class MssScreen:
    """The real screen (all monitors, as one virtual screen) captured with mss.

    An mss instance holds one X connection and must stay on the thread that made it, so each
    thread that grabs gets its own instance; `grab` is meant to run in `asyncio.to_thread`.
    """

    def __init__(self, display: str | None = None) -> None:
        self._display = display
        self._local = threading.local()
        # Every per-thread instance, so close() can release them all, whichever thread calls it.
        self._opened: list[Any] = []
        self._lock = threading.Lock()
        self._closed = False

    def _instance(self) -> Any:
        if self._closed:
            raise RuntimeError("This MssScreen is closed; create a new one to capture.")
        instance = getattr(self._local, "mss", None)
        if instance is None:
            with self._lock:
                if self._closed:
                    raise RuntimeError("This MssScreen is closed; create a new one to capture.")
                instance = _open_mss(self._display)
                self._opened.append(instance)
            self._local.mss = instance
        return instance

    @property
    def size(self) -> tuple[int, int]:
        virtual = self._instance().monitors[0]
        return int(virtual["width"]), int(virtual["height"])

    def grab(self) -> Image.Image:
        from PIL import Image

        instance = self._instance()
        # monitors[0] is the bounding box of every monitor: the student's whole desktop.
        shot = instance.grab(instance.monitors[0])
        # The single unavoidable pass: Pillow's raw decoder turns mss's BGRX bytes straight into
        # RGB, without the intermediate copies that mss's own `.rgb` property makes.
        return Image.frombuffer("RGB", tuple(shot.size), shot.raw, "raw", "BGRX", 0, 1)

    def grab_reduced(self, box: Box, factor: int) -> Image.Image:
        instance = self._instance()
        virtual = instance.monitors[0]
        left, top, right, bottom = box
        shot = instance.grab(
            {
                "left": virtual["left"] + left,
                "top": virtual["top"] + top,
                "width": right - left,
                "height": bottom - top,
            }
        )
        return reduce_bgrx(shot.raw, (int(shot.width), int(shot.height)), factor)

    def close(self) -> None:
        with self._lock:
            self._closed = True
            opened, self._opened = self._opened, []
        for instance in opened:
            instance.close()

    def __enter__(self) -> MssScreen:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


# Synthetic desktop. The picture is drawn at `size` from a background prepared once (wallpaper,
# taskbar, a still window) plus a few moving parts per frame, which keeps a grab to a few ms.

_LINE_INK = (150, 156, 168)
_WINDOW_BODY = (250, 250, 252)
_TASKBAR = (32, 34, 40)
_DOCUMENTS = (
    "Essay",
    "Lab report",
    "History notes",
    "Maths homework",
    "Poem draft",
    "Project plan",
)
_SITES = ("encyclopedia.example", "maths-practice.example", "library.example", "news.example")


def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    from PIL import ImageFont

    try:
        return ImageFont.load_default(size)
    except (ImportError, OSError, ValueError):
        # Pillow built without FreeType only has the fixed bitmap font; small text still works.
        return ImageFont.load_default()


def _hsv(hue: float, saturation: float, value: float) -> tuple[int, int, int]:
    red, green, blue = colorsys.hsv_to_rgb(hue % 1.0, saturation, value)
    return round(red * 255), round(green * 255), round(blue * 255)


class SyntheticScreen:
    """A made-up but plausible student desktop that changes over time.

    Each `seed` gives its own wallpaper, documents and motion; `name` is written on the
    desktop. `clock` returns seconds (default `time.time`) and is the only source of motion,
    so a test can pin it: the same seed and the same clock value give the same picture.
    """

    def __init__(
        self,
        name: str,
        seed: int,
        size: tuple[int, int] = (1280, 800),
        clock: Callable[[], float] = time.time,
    ) -> None:
        width, height = size
        if width < 320 or height < 200:
            raise ValueError(
                f"A synthetic screen needs at least 320x200 pixels, not {width}x{height}."
            )
        self.name = name
        self._size = (width, height)
        self._clock = clock
        rng = random.Random(seed)
        self._unit = height / 800  # everything is laid out for 1280x800 and scaled from there
        self._taskbar_height = round(40 * self._unit)
        self._font = _font(max(10, round(15 * self._unit)))
        self._title_font = _font(max(10, round(14 * self._unit)))
        self._accent = _hsv(rng.random(), 0.55, 0.80)

        self._background = self._draw_background(rng)
        # The drifting document window is drawn once; each frame pastes it and hides the lines
        # the student has not "typed" yet.
        document = rng.choice(_DOCUMENTS)
        self._document = self._draw_window(
            f"{document} - {name}", round(560 * self._unit), round(380 * self._unit), rng
        )
        self._document_home = (
            round(rng.uniform(60, 200) * self._unit),
            round(rng.uniform(50, 110) * self._unit),
        )
        self._drift = rng.uniform(30, 90) * self._unit
        self._phase = rng.uniform(0, math.tau)
        self._typing_speed = rng.uniform(0.4, 1.2)  # lines per second
        self._progress_speed = rng.uniform(0.03, 0.12)  # fraction of the bar per second

    @property
    def size(self) -> tuple[int, int]:
        return self._size

    def close(self) -> None:
        """Nothing to release; present so a SyntheticScreen is a ScreenSource."""

    def grab_reduced(self, box: Box, factor: int) -> Image.Image:
        return reduce_box(self.grab().crop(box), factor)

    # Drawing helpers, used once at construction.

    def _draw_window(self, title: str, width: int, height: int, rng: random.Random) -> Image.Image:
        from PIL import Image, ImageDraw

        window = Image.new("RGB", (width, height), _WINDOW_BODY)
        draw = ImageDraw.Draw(window)
        bar = self._title_bar_height
        draw.rectangle((0, 0, width - 1, bar), fill=self._accent)
        draw.text(
            (round(10 * self._unit), bar // 2),
            title,
            fill=(255, 255, 255),
            font=self._title_font,
            anchor="lm",
        )
        for index, colour in enumerate(((230, 90, 80), (240, 190, 70), (90, 190, 100))):
            centre = width - round((18 + 20 * index) * self._unit)
            radius = round(5 * self._unit)
            draw.ellipse(
                (centre - radius, bar // 2 - radius, centre + radius, bar // 2 + radius),
                fill=colour,
            )
        draw.rectangle((0, 0, width - 1, height - 1), outline=(120, 120, 130))
        # Body text as grey bars: at thumbnail size real glyphs look exactly like this anyway.
        margin = round(20 * self._unit)
        for line in range(self._lines_in(height)):
            top = self._line_top(line)
            length = rng.uniform(0.45, 1.0) * (width - 2 * margin)
            draw.rectangle(
                (margin, top, margin + round(length), top + round(7 * self._unit)), fill=_LINE_INK
            )
        return window

    @property
    def _title_bar_height(self) -> int:
        return round(28 * self._unit)

    def _line_top(self, line: int) -> int:
        return self._title_bar_height + round((18 + 20 * line) * self._unit)

    def _lines_in(self, window_height: int) -> int:
        return max(
            1,
            (window_height - self._title_bar_height - round(30 * self._unit))
            // round(20 * self._unit),
        )

    def _draw_background(self, rng: random.Random) -> Image.Image:
        from PIL import Image, ImageDraw

        width, height = self._size
        hue = rng.random()
        top, bottom = _hsv(hue, 0.45, 0.75), _hsv(hue + 0.08, 0.65, 0.35)
        # A vertical gradient: one column computed, stretched sideways (cheap, once).
        column = Image.new("RGB", (1, height))
        column.putdata(
            [
                tuple(
                    round(a + (b - a) * y / (height - 1)) for a, b in zip(top, bottom, strict=True)
                )
                for y in range(height)
            ]
        )
        background = column.resize((width, height), Image.Resampling.NEAREST)
        draw = ImageDraw.Draw(background)

        # Desktop icons down the left edge.
        for index in range(rng.randint(3, 6)):
            y = round((20 + 80 * index) * self._unit)
            side = round(44 * self._unit)
            x = round(20 * self._unit)
            draw.rounded_rectangle(
                (x, y, x + side, y + side),
                radius=round(8 * self._unit),
                fill=_hsv(rng.random(), 0.5, 0.9),
            )

        # A still window on the right: a browser page.
        page_width, page_height = round(480 * self._unit), round(420 * self._unit)
        page = self._draw_window(rng.choice(_SITES), page_width, page_height, rng)
        gap = round(40 * self._unit)
        background.paste(
            page, (width - page_width - gap, height - self._taskbar_height - page_height - gap)
        )

        # The student's name large enough to read on a thumbnail, like a login name on the desktop.
        draw.text(
            (width - round(40 * self._unit), round(40 * self._unit)),
            self.name,
            fill=(255, 255, 255),
            font=_font(max(12, round(40 * self._unit))),
            anchor="rt",
        )

        # Taskbar with the student's name; the clock is drawn per frame.
        bar_top = height - self._taskbar_height
        draw.rectangle((0, bar_top, width, height), fill=_TASKBAR)
        draw.rounded_rectangle(
            (
                round(8 * self._unit),
                bar_top + round(6 * self._unit),
                round(40 * self._unit),
                height - round(6 * self._unit),
            ),
            radius=round(6 * self._unit),
            fill=self._accent,
        )
        draw.text(
            (round(56 * self._unit), bar_top + self._taskbar_height // 2),
            self.name,
            fill=(235, 235, 240),
            font=self._font,
            anchor="lm",
        )
        return background

    # Per frame.

    def grab(self) -> Image.Image:
        from PIL import ImageDraw

        now = self._clock()
        width, height = self._size
        frame = self._background.copy()
        draw = ImageDraw.Draw(frame)

        # The document window drifts slowly, and its text grows as the student types.
        x0, y0 = self._document_home
        angle = now * 0.15 + self._phase
        left = round(x0 + self._drift * (1 + math.sin(angle)))
        top = round(y0 + self._drift * 0.5 * (1 + math.cos(angle * 0.7)))
        frame.paste(self._document, (left, top))
        doc_width, doc_height = self._document.size
        lines = self._lines_in(doc_height)
        typed = (now * self._typing_speed) % (lines + 1)
        first_hidden = int(typed)
        if first_hidden < lines:
            margin = round(20 * self._unit)
            line_top = top + self._line_top(first_hidden)
            # The current line is partly typed; the ones after it are still blank.
            cut = left + margin + round((typed - first_hidden) * (doc_width - 2 * margin))
            draw.rectangle(
                (cut, line_top, left + doc_width - 2, top + doc_height - 2), fill=_WINDOW_BODY
            )
            draw.rectangle(
                (
                    left + 1,
                    line_top + round(20 * self._unit),
                    left + doc_width - 2,
                    top + doc_height - 2,
                ),
                fill=_WINDOW_BODY,
            )

        # A download or upload progress bar above the taskbar.
        bar_top = height - self._taskbar_height
        fraction = (now * self._progress_speed) % 1.0
        bar_left, bar_right = round(width * 0.35), round(width * 0.65)
        bar_y = bar_top + self._taskbar_height // 2
        half = round(4 * self._unit)
        draw.rectangle((bar_left, bar_y - half, bar_right, bar_y + half), fill=(70, 72, 80))
        draw.rectangle(
            (
                bar_left,
                bar_y - half,
                bar_left + round(fraction * (bar_right - bar_left)),
                bar_y + half,
            ),
            fill=self._accent,
        )

        # The clock ticks every second.
        clock_text = time.strftime("%H:%M:%S", time.localtime(now))
        draw.text(
            (width - round(16 * self._unit), bar_y),
            clock_text,
            fill=(235, 235, 240),
            font=self._font,
            anchor="rm",
        )

        # The mouse pointer wanders over the document.
        px = left + doc_width * (0.5 + 0.4 * math.sin(now * 0.9 + self._phase))
        py = top + doc_height * (0.5 + 0.35 * math.sin(now * 1.3 + self._phase * 2))
        scale = 18 * self._unit
        arrow = [
            (px, py),
            (px, py + scale),
            (px + scale * 0.3, py + scale * 0.72),
            (px + scale * 0.7, py + scale * 0.7),
        ]
        draw.polygon(arrow, fill=(255, 255, 255), outline=(0, 0, 0))
        return frame
