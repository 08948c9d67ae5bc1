"""Headless Chromium for the report pages: the DOM as Chromium parsed it, and a screenshot
decoded with the standard library (PNG: zlib plus the five row filters), so tests can check
that text, plots and numbers are on the page a person opens."""

from __future__ import annotations

import shutil
import struct
import subprocess
import zlib
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path

import pytest

CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


def find_chromium() -> str | None:
    return next((path for name in CANDIDATES if (path := shutil.which(name))), None)


needs_chromium = pytest.mark.skipif(
    find_chromium() is None,
    reason="no headless Chromium on PATH (Debian: apt-get install chromium)",
)


def _run(page: Path, profile: Path, *options: str) -> subprocess.CompletedProcess[str]:
    chromium = find_chromium()
    assert chromium is not None
    return subprocess.run(
        [
            chromium,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
            f"--user-data-dir={profile}",
            *options,
            page.resolve().as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )


def dump_dom(page: Path, profile: Path) -> str:
    """The page's DOM after Chromium parsed and laid it out."""
    return _run(page, profile, "--dump-dom").stdout


@dataclass
class Image:
    width: int
    height: int
    rows: list[bytes]  # RGBA or RGB, `channels` bytes per pixel
    channels: int

    def count(self, colour: tuple[int, int, int]) -> int:
        """Pixels of exactly this colour."""
        found = 0
        step = self.channels
        for row in self.rows:
            for offset in range(0, len(row), step):
                if (row[offset], row[offset + 1], row[offset + 2]) == colour:
                    found += 1
        return found


def screenshot(page: Path, profile: Path, width: int = 1200, height: int = 4000) -> Image:
    """The page as drawn, at half scale: the layout is the same, the decoding four times
    cheaper (the decoder is pure Python)."""
    target = profile / "shot.png"
    _run(
        page,
        profile,
        f"--screenshot={target}",
        f"--window-size={width},{height}",
        "--force-device-scale-factor=0.5",
    )
    return decode_png(target.read_bytes())


def decode_png(data: bytes) -> Image:
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    position, idat = 8, b""
    width = height = channels = 0
    while position < len(data):
        (length,) = struct.unpack(">I", data[position : position + 4])
        chunk = data[position + 4 : position + 8]
        body = data[position + 8 : position + 8 + length]
        if chunk == b"IHDR":
            width, height, depth, colour_type = struct.unpack(">IIBB", body[:10])
            assert depth == 8 and colour_type in (2, 6), (depth, colour_type)
            channels = 4 if colour_type == 6 else 3
        elif chunk == b"IDAT":
            idat += body
        position += 12 + length
    raw = zlib.decompress(idat)
    stride = width * channels
    rows: list[bytes] = []
    previous = bytearray(stride)
    for y in range(height):
        start = y * (stride + 1)
        kind: int = raw[start]
        line = bytearray(raw[start + 1 : start + 1 + stride])
        for i in range(stride):
            left = line[i - channels] if i >= channels else 0
            up = previous[i]
            corner = previous[i - channels] if i >= channels else 0
            if kind == 1:
                line[i] = (line[i] + left) & 0xFF
            elif kind == 2:
                line[i] = (line[i] + up) & 0xFF
            elif kind == 3:
                line[i] = (line[i] + (left + up) // 2) & 0xFF
            elif kind == 4:
                estimate = left + up - corner
                pa, pb, pc = abs(estimate - left), abs(estimate - up), abs(estimate - corner)
                predictor = left if pa <= pb and pa <= pc else up if pb <= pc else corner
                line[i] = (line[i] + predictor) & 0xFF
        rows.append(bytes(line))
        previous = line
    return Image(width, height, rows, channels)


class PageText(HTMLParser):
    """Text of the page, the charts' value labels, and the table cells by class."""

    def __init__(self) -> None:
        super().__init__()
        self.text: list[str] = []
        self.charts = 0
        self.bar_labels: list[str] = []
        self.cells: dict[str, list[list[str]]] = {}  # table class -> rows of cell texts
        self._in_label = False
        self._table: str | None = None
        self._row: list[str] | None = None
        self._cell: list[str] | None = None
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        classes = (dict(attrs).get("class") or "").split()
        if tag in ("style", "title"):
            self._skip += 1
        if tag == "svg" and "chart" in classes:
            self.charts += 1
        if tag == "text" and "v" in classes:
            self._in_label = True
            self.bar_labels.append("")
        if tag == "table":
            self._table = classes[0] if classes else ""
            self.cells.setdefault(self._table, [])
        if tag == "tr" and self._table is not None:
            self._row = []
        if tag in ("td", "th") and self._row is not None:
            self._cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag in ("style", "title"):
            self._skip -= 1
        if tag == "text":
            self._in_label = False
        if tag in ("td", "th") and self._row is not None and self._cell is not None:
            self._row.append("".join(self._cell).strip())
            self._cell = None
        if tag == "tr" and self._table is not None and self._row is not None:
            self.cells[self._table].append(self._row)
            self._row = None
        if tag == "table":
            self._table = None

    def handle_data(self, data: str) -> None:
        if self._skip:
            return
        self.text.append(data)
        if self._in_label:
            self.bar_labels[-1] += data
        if self._cell is not None:
            self._cell.append(data)

    @property
    def all_text(self) -> str:
        return " ".join(" ".join(self.text).split())


def parse(dom: str) -> PageText:
    page = PageText()
    page.feed(dom)
    return page
