"""Thumbnails: small, true to aspect, decodable, and skipped when nothing changed."""

from __future__ import annotations

import io
import random
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image, features

from agent.screen import SyntheticScreen
from agent.thumbnail import Thumbnail, ThumbnailEncoder, shrink

needs_webp = pytest.mark.skipif(not features.check("webp"), reason="Pillow built without WebP")


def decode(thumbnail: Thumbnail) -> Image.Image:
    image = Image.open(io.BytesIO(thumbnail.data))
    image.load()
    return image


def noise(size: tuple[int, int], seed: int = 0) -> Image.Image:
    """A picture every codec finds hard, where JPEG beats WebP."""
    return Image.frombytes("RGB", size, random.Random(seed).randbytes(size[0] * size[1] * 3))


class Clock:
    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def __call__(self) -> float:
        return self.now


def test_a_thumbnail_is_a_jpeg_no_wider_than_asked() -> None:
    encoder = ThumbnailEncoder(webp=False)
    thumbnail = encoder.encode(SyntheticScreen("Ada", seed=1).grab(), max_width=320)
    assert thumbnail is not None
    assert thumbnail.format == "jpeg"
    assert (thumbnail.width, thumbnail.height) == (320, 200)
    image = decode(thumbnail)
    assert image.format == "JPEG"
    assert image.size == (320, 200)


def test_an_unchanged_screen_gives_no_thumbnail_and_a_change_gives_one() -> None:
    clock = Clock()
    source = SyntheticScreen("Ada", seed=1, clock=clock)
    encoder = ThumbnailEncoder()
    assert encoder.encode(source.grab(), 320) is not None
    assert encoder.encode(source.grab(), 320) is None
    assert encoder.encode(source.grab(), 320) is None
    clock.now += 1.0
    assert encoder.encode(source.grab(), 320) is not None
    assert encoder.encode(source.grab(), 320) is None


def test_reset_makes_the_same_picture_count_as_new() -> None:
    picture = SyntheticScreen("Ada", seed=1, clock=Clock()).grab()
    encoder = ThumbnailEncoder()
    assert encoder.encode(picture, 320) is not None
    encoder.reset()
    assert encoder.encode(picture, 320) is not None
    assert encoder.encode(picture, 320) is None


def test_the_same_picture_at_another_size_is_new() -> None:
    picture = SyntheticScreen("Ada", seed=1, clock=Clock()).grab()
    encoder = ThumbnailEncoder()
    small = encoder.encode(picture, 320)
    large = encoder.encode(picture, 640)
    assert small is not None and large is not None
    assert (small.width, large.width) == (320, 640)


def test_two_students_never_share_the_last_picture() -> None:
    # One encoder per stream: another student's identical screen is no reason to skip.
    picture = SyntheticScreen("Ada", seed=1, clock=Clock()).grab()
    assert ThumbnailEncoder().encode(picture, 320) is not None
    assert ThumbnailEncoder().encode(picture, 320) is not None


def test_concurrent_encodes_of_one_picture_send_it_once() -> None:
    picture = SyntheticScreen("Ada", seed=1, clock=Clock()).grab()
    encoder = ThumbnailEncoder()
    start = threading.Barrier(8)

    def encode() -> Thumbnail | None:
        start.wait()
        return encoder.encode(picture, 320)

    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(lambda _: encode(), range(8)))
    assert sum(result is not None for result in results) == 1


def test_small_pictures_are_not_enlarged() -> None:
    thumbnail = ThumbnailEncoder().encode(noise((200, 100)), max_width=320)
    assert thumbnail is not None
    assert (thumbnail.width, thumbnail.height) == (200, 100)


def test_pictures_with_alpha_or_palette_are_encoded() -> None:
    encoder = ThumbnailEncoder()
    for mode in ("RGBA", "P", "L"):
        thumbnail = encoder.encode(noise((640, 400)).convert(mode), max_width=320)
        assert thumbnail is not None
        assert decode(thumbnail).size == (320, 200)


@settings(max_examples=60, deadline=None)
@given(
    width=st.integers(1, 2000),
    height=st.integers(1, 1200),
    max_width=st.integers(1, 1000),
)
def test_shrink_keeps_within_width_and_keeps_the_aspect(
    width: int, height: int, max_width: int
) -> None:
    small = shrink(Image.new("RGB", (width, height)), max_width)
    assert small.width == min(width, max_width)
    assert small.height >= 1
    # Rounded to the nearest pixel, never squashed to nothing.
    assert abs(small.height - height * small.width / width) <= 0.5 or small.height == 1


@needs_webp
def test_webp_is_chosen_where_it_is_clearly_smaller() -> None:
    flat = Image.new("RGB", (640, 400), (10, 120, 200))
    thumbnail = ThumbnailEncoder().encode(flat, 320)
    assert thumbnail is not None
    assert thumbnail.format == "webp"
    assert decode(thumbnail).format == "WEBP"


@needs_webp
def test_jpeg_is_kept_where_webp_does_not_win() -> None:
    thumbnail = ThumbnailEncoder().encode(noise((640, 400)), 320)
    assert thumbnail is not None
    assert thumbnail.format == "jpeg"


@needs_webp
def test_the_winner_is_kept_between_probes_and_rechecked_at_each_probe() -> None:
    encoder = ThumbnailEncoder(probe_every=3)
    flat = [Image.new("RGB", (640, 400), (10, 120, 200 - shade)) for shade in range(3)]
    noisy = [noise((640, 400), seed) for seed in range(3)]
    formats = []
    for picture in [flat[0], *noisy, flat[1], flat[2], flat[0]]:
        thumbnail = encoder.encode(picture, 320)
        assert thumbnail is not None
        assert decode(thumbnail).format == thumbnail.format.upper()
        formats.append(thumbnail.format)
    # Frames 1, 4 and 7 probe. In between the last winner is used even where the other
    # format would do better: that is the price of not encoding twice every frame.
    assert formats == ["webp", "webp", "webp", "jpeg", "jpeg", "jpeg", "webp"]


def test_webp_can_be_turned_off() -> None:
    flat = Image.new("RGB", (640, 400), (10, 120, 200))
    thumbnail = ThumbnailEncoder(webp=False).encode(flat, 320)
    assert thumbnail is not None
    assert thumbnail.format == "jpeg"


def test_nonsense_arguments_are_refused() -> None:
    with pytest.raises(ValueError, match="quality"):
        ThumbnailEncoder(quality=0)
    with pytest.raises(ValueError, match="probe_every"):
        ThumbnailEncoder(probe_every=0)
    with pytest.raises(ValueError, match="max_width"):
        ThumbnailEncoder().encode(noise((10, 10)), 0)
    with pytest.raises(ValueError, match="format"):
        Thumbnail(b"", 1, 1, "png")
    with pytest.raises(ValueError, match="size"):
        Thumbnail(b"", 0, 1, "jpeg")
