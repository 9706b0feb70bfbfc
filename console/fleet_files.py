"""The fleet on paper: a CSV export of the fleet table and a printable sheet of asset labels."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

import segno
from PIL import Image, ImageDraw, ImageFont

from protocol.fleet import FleetEntry

from .printable import printable

#: The columns of an export, in order; `homeroom-hub devices import` reads the same names.
CSV_COLUMNS = (
    "name",
    "asset_tag",
    "student",
    "state",
    "loan_for",
    "group",
    "online",
    "last_seen",
    "os",
    "model",
    "serial",
    "agent_version",
    "battery",
    "disk_free",
    "device_id",
)
# A spreadsheet runs a cell that starts like a formula: a device may name itself "=cmd|..."
# (CSV injection), so such cells are written with a leading apostrophe, shown as text.
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")

# A4 at 150 dots per inch, three labels across and eight down, as on common label stock.
PAGE = (1240, 1754)
COLUMNS, ROWS = 3, 8
MARGIN = 40
_Font = ImageFont.FreeTypeFont | ImageFont.ImageFont


def when(seconds: int) -> str:
    """A time as IT reads it in tables and exports: UTC, to the minute; "never" for 0."""
    if not seconds:
        return "never"
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%d %H:%M")


def fleet_csv(entries: Sequence[FleetEntry]) -> str:
    """The fleet table as CSV text: a header line, then one line per device."""
    names = {e.device_id: e.name for e in entries}
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for e in entries:
        row = {
            "name": e.name,
            "asset_tag": e.asset_tag,
            "student": e.student,
            "state": e.state.value,
            "loan_for": names.get(e.loan_for, e.loan_for) if e.loan_for else "",
            "group": e.group,
            "online": "yes" if e.online else "no",
            "last_seen": when(e.last_seen),
            "os": e.os,
            "model": e.model,
            "serial": e.serial,
            "agent_version": e.agent_version,
            "battery": e.battery,
            "disk_free": e.disk_free,
            "device_id": e.device_id,
        }
        writer.writerow([_cell(row[column]) for column in CSV_COLUMNS])
    return out.getvalue()


def _cell(value: str) -> str:
    value = printable(value)
    return "'" + value if value.startswith(_FORMULA_STARTS) else value


def label_text(entry: FleetEntry) -> str:
    """What a label's QR code holds: enough for IT's phone to name the device."""
    return f"homeroom:{entry.asset_tag or '-'}:{entry.device_id}"


def label_pages(entries: Sequence[FleetEntry]) -> list[Image.Image]:
    """Pages of labels, each with a QR code, the asset tag, the device's name and student."""
    width = (PAGE[0] - 2 * MARGIN) // COLUMNS
    height = (PAGE[1] - 2 * MARGIN) // ROWS
    big = ImageFont.load_default(size=32)
    small = ImageFont.load_default(size=22)
    pages: list[Image.Image] = []
    for start in range(0, len(entries), COLUMNS * ROWS):
        page = Image.new("RGB", PAGE, "white")
        draw = ImageDraw.Draw(page)
        for slot, entry in enumerate(entries[start : start + COLUMNS * ROWS]):
            left = MARGIN + (slot % COLUMNS) * width
            top = MARGIN + (slot // COLUMNS) * height
            draw.rectangle((left, top, left + width - 8, top + height - 8), outline="#999999")
            code = _qr(label_text(entry), height - 28)
            page.paste(code, (left + 10, top + 10))
            text_left = left + 20 + code.width
            lines = [
                (entry.asset_tag or "(no tag)", big),
                (printable(entry.name), small),
                (printable(entry.student), small),
            ]
            y = top + 20
            for text, font in lines:
                draw.text(
                    (text_left, y), _clip(draw, text, font, width - code.width - 40), "black", font
                )
                y += 44
        pages.append(page)
    return pages


def _qr(text: str, size: int) -> Image.Image:
    buffer = io.BytesIO()
    segno.make(text, error="m").save(buffer, kind="png", scale=4, border=2)
    buffer.seek(0)
    with Image.open(buffer) as code:
        return code.convert("RGB").resize((size, size), Image.Resampling.NEAREST)


def _clip(
    draw: ImageDraw.ImageDraw,
    text: str,
    font: ImageFont.FreeTypeFont | ImageFont.ImageFont,
    room: int,
) -> str:
    while len(text) > 1 and draw.textlength(text, font=font) > room:
        text = text[:-2] + "…"
    return text


def write_labels(entries: Sequence[FleetEntry], path: Path) -> list[Path]:
    """Write the label sheet: all pages in one PDF, or one PNG per page (NAME-2.png...)."""
    pages = label_pages(entries) or [Image.new("RGB", PAGE, "white")]
    if path.suffix.lower() == ".pdf":
        pages[0].save(path, "PDF", resolution=150, save_all=True, append_images=pages[1:])
        return [path]
    written = []
    for number, page in enumerate(pages, start=1):
        target = path if number == 1 else path.with_name(f"{path.stem}-{number}{path.suffix}")
        page.save(target, "PNG")
        written.append(target)
    return written
