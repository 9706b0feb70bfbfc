"""The fleet on paper: CSV export rows and the label sheet's pages and QR codes."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import segno
from PIL import Image

from console.fleet_files import COLUMNS, ROWS, fleet_csv, label_text, write_labels
from protocol.fleet import FleetEntry, LifeState

from .test_it_snapshots import FLEET, ident


def test_one_csv_row_per_device_and_formulas_stay_text() -> None:
    hostile = FleetEntry(device_id=ident(9), name='=HYPERLINK("http://x")', group="7B")
    rows = list(csv.DictReader(io.StringIO(fleet_csv([*FLEET, hostile]))))
    assert [r["name"] for r in rows] == [e.name for e in FLEET] + ['\'=HYPERLINK("http://x")']
    spare = rows[2]
    assert spare["state"] == LifeState.ON_LOAN.value and spare["loan_for"] == FLEET[1].name
    assert rows[0]["last_seen"] == "2026-01-01 09:00" and rows[0]["online"] == "yes"


def test_labels_fill_pages_with_a_readable_qr_code_each(tmp_path: Path) -> None:
    many = [
        FleetEntry(device_id=ident(n), name=f"Laptop {n}", group="7B", asset_tag=f"HR-{n:04d}")
        for n in range(COLUMNS * ROWS + 1)
    ]
    pages = write_labels(many, tmp_path / "labels.png")
    assert [p.name for p in pages] == ["labels.png", "labels-2.png"]
    [pdf] = write_labels(many, tmp_path / "labels.pdf")
    assert pdf.read_bytes().startswith(b"%PDF")
    # The first label's code, read back module by module from the page, is segno's code.
    with Image.open(pages[0]) as page:
        assert page.size == (1240, 1754)
        grey = page.convert("L")
    code = segno.make(label_text(many[0]), error="m")
    assert label_text(many[0]) == f"homeroom:HR-0000:{ident(0)}"
    modules = len(code.matrix) + 4  # a border of two light modules around it
    side = (1754 - 80) // ROWS - 28  # as label_pages sizes it, at the label's corner (50, 50)
    for row, bits in enumerate(code.matrix):
        for column, dark in enumerate(bits):
            x = 50 + int((column + 2.5) * side / modules)
            y = 50 + int((row + 2.5) * side / modules)
            level = grey.getpixel((x, y))
            assert isinstance(level, int) and (level < 128) == bool(dark), (row, column)
