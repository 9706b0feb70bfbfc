"""Four screens a student really shows, drawn by a real X client (Tk) for the frame benchmark.

Run as `python -m bench.scenes SCENE` on a display: `static` (only a taskbar clock ticking
each second), `typing` (a character every 200 ms in an editor with a blinking cursor),
`reading` (a long text scrolling a line every 250 ms), `video` (a 640x360 photo-like
picture changing 10 times a second). Every scene has the same desktop and ticking clock.
The program prints "ready" on stdout once its first picture is on the screen.
"""

from __future__ import annotations

import math
import random
import sys
import time
import tkinter as tk
from io import BytesIO

from PIL import Image, ImageDraw, ImageFilter

SCENES = ("static", "typing", "reading", "video")
_TEXT = (
    "The water cycle describes how water moves between the oceans, the air and the land. "
    "Heat from the sun evaporates water from the surface of the sea; the vapour rises, "
    "cools and condenses into clouds. When the droplets grow heavy enough they fall as "
    "rain, snow or hail, and the water runs off into rivers or soaks into the ground, "
    "where plants take it up and return it to the air through their leaves. "
)


def _wallpaper(width: int, height: int) -> Image.Image:
    """A soft diagonal gradient with a few hills: a typical school-issued wallpaper."""
    column = Image.linear_gradient("L").resize((width, height))
    base = Image.merge(
        "RGB",
        (
            column.point(lambda v: 40 + v // 4),
            column.point(lambda v: 90 + v // 5),
            column.point(lambda v: 150 - v // 6),
        ),
    )
    draw = ImageDraw.Draw(base)
    rng = random.Random(7)
    for index in range(4):
        centre = rng.randint(0, width)
        radius = rng.randint(width // 4, width // 2)
        draw.ellipse(
            (centre - radius, height - radius // 3 - index * 40, centre + radius, height + radius),
            fill=(30 + 15 * index, 110 + 10 * index, 60 + 5 * index),
        )
    return base.filter(ImageFilter.GaussianBlur(3))


def _video_frames(count: int, size: tuple[int, int]) -> list[bytes]:
    """Photo-like frames (soft colour fields, moving shapes, grain) as PPM bytes for Tk."""
    width, height = size
    rng = random.Random(3)
    grain = Image.effect_noise(size, 24).convert("RGB")
    sky = Image.linear_gradient("L").resize(size)
    frames = []
    for index in range(count):
        phase = index / count * math.tau
        frame = Image.merge(
            "RGB",
            (
                sky.point(lambda v, p=phase: int(60 + 80 * (1 + math.sin(p)) / 2 + v / 3)),
                sky.point(lambda v: 90 + v // 3),
                sky.point(lambda v, p=phase: int(200 - v / 2 - 30 * math.cos(p))),
            ),
        )
        draw = ImageDraw.Draw(frame)
        for shape in range(6):
            x = (shape * 131 + index * (4 + shape)) % (width + 120) - 60
            y = height * (0.3 + 0.1 * shape) + 20 * math.sin(phase * (shape + 1))
            radius = 30 + 10 * shape
            colour = (rng.randint(60, 250), rng.randint(60, 250), rng.randint(60, 250))
            draw.ellipse((x - radius, y - radius, x + radius, y + radius), fill=colour)
        frame = frame.filter(ImageFilter.GaussianBlur(2))
        frame = Image.blend(frame, grain, 0.12)
        buffer = BytesIO()
        frame.save(buffer, "PPM")
        frames.append(buffer.getvalue())
    return frames


class Scene:
    def __init__(self, root: tk.Tk, name: str) -> None:
        self.root = root
        width, height = root.winfo_screenwidth(), root.winfo_screenheight()
        root.geometry(f"{width}x{height}+0+0")
        root.overrideredirect(True)
        canvas = tk.Canvas(root, width=width, height=height, highlightthickness=0, bd=0)
        canvas.place(x=0, y=0)
        self._wallpaper = tk.PhotoImage(data=_ppm(_wallpaper(width, height)))
        canvas.create_image(0, 0, image=self._wallpaper, anchor="nw")
        canvas.create_rectangle(0, height - 40, width, height, fill="#202228", width=0)
        for index, colour in enumerate(("#3b82f6", "#f59e0b", "#10b981", "#ef4444")):
            canvas.create_rectangle(
                12 + 44 * index, height - 34, 40 + 44 * index, height - 6, fill=colour, width=0
            )
        self._clock = canvas.create_text(
            width - 16, height - 20, anchor="e", fill="#eeeeee", font=("DejaVu Sans", 11)
        )
        self.canvas = canvas
        self._tick_clock()
        if name == "typing":
            self._editor(width, height)
        elif name == "reading":
            self._reader(width, height)
        elif name == "video":
            self._video(width, height)

    def _tick_clock(self) -> None:
        now = time.time()
        self.canvas.itemconfigure(self._clock, text=time.strftime("%H:%M:%S", time.localtime(now)))
        # Wake just after the next whole second, as a desktop clock does.
        self.root.after(int((1.0 - now % 1.0) * 1000) + 5, self._tick_clock)

    def _window(self, title: str, x: int, y: int, width: int, height: int) -> tk.Frame:
        frame = tk.Frame(self.root, bg="#ffffff", bd=1, relief="solid")
        frame.place(x=x, y=y, width=width, height=height)
        bar = tk.Label(
            frame, text=title, anchor="w", bg="#2f6fb0", fg="white", font=("DejaVu Sans", 11)
        )
        bar.pack(fill="x")
        return frame

    def _editor(self, width: int, height: int) -> None:
        frame = self._window("Essay - Writer", 260, 120, 1100, 700)
        text = tk.Text(frame, font=("DejaVu Serif", 13), wrap="word", bd=0, padx=16, pady=12)
        text.pack(fill="both", expand=True)
        text.insert("end", _TEXT * 3 + "\n\n")
        text.focus_force()
        source = iter(_TEXT * 1000)

        def type_one() -> None:
            text.insert("insert", next(source))
            text.see("insert")
            self.root.after(200, type_one)

        self.root.after(200, type_one)

    def _reader(self, width: int, height: int) -> None:
        frame = self._window("The water cycle - Reader", 300, 80, 1000, 860)
        text = tk.Text(frame, font=("DejaVu Sans", 12), wrap="word", bd=0, padx=20, pady=12)
        text.pack(fill="both", expand=True)
        for chapter in range(200):
            text.insert("end", f"Chapter {chapter + 1}\n\n" + _TEXT * 4 + "\n\n")
        text.configure(state="disabled")

        def scroll() -> None:
            text.yview_scroll(1, "units")
            self.root.after(250, scroll)

        self.root.after(250, scroll)

    def _video(self, width: int, height: int) -> None:
        frame = self._window("Volcanoes - Video", 400, 200, 660, 400)
        label = tk.Label(frame, bd=0, bg="black")
        label.pack(fill="both", expand=True)
        pictures = [tk.PhotoImage(data=data) for data in _video_frames(50, (640, 360))]
        self._pictures = pictures
        position = [0]

        def next_frame() -> None:
            label.configure(image=pictures[position[0] % len(pictures)])
            position[0] += 1
            self.root.after(100, next_frame)

        next_frame()


def _ppm(image: Image.Image) -> bytes:
    buffer = BytesIO()
    image.save(buffer, "PPM")
    return buffer.getvalue()


def main() -> None:
    name = sys.argv[1] if len(sys.argv) > 1 else "static"
    if name not in SCENES:
        raise SystemExit(f"Unknown scene {name!r}; choose one of {', '.join(SCENES)}.")
    root = tk.Tk()
    Scene(root, name)
    root.update()
    print("ready", flush=True)
    root.mainloop()


if __name__ == "__main__":
    main()
