"""Real PNG pictures for the emulated product images, drawn on demand and cached."""

from __future__ import annotations

import hashlib
import io
from functools import lru_cache

from PIL import Image, ImageDraw

IMAGE_SIZE = 300  # Evotor serves product images as 300x300 PNG

# Muted shop-label colours; picked by a hash so one key always gives the same picture.
_PALETTE = (
    (0xE5, 0x73, 0x73),
    (0xF0, 0x62, 0x92),
    (0xBA, 0x68, 0xC8),
    (0x79, 0x86, 0xCB),
    (0x4F, 0xC3, 0xF7),
    (0x4D, 0xB6, 0xAC),
    (0x81, 0xC7, 0x84),
    (0xDC, 0xE7, 0x75),
    (0xFF, 0xD5, 0x4F),
    (0xFF, 0x8A, 0x65),
    (0xA1, 0x88, 0x7F),
    (0x90, 0xA4, 0xAE),
)


@lru_cache(maxsize=512)
def render_png(key: str, size: int = IMAGE_SIZE) -> bytes:
    """A deterministic ``size``x``size`` PNG for ``key``: a coloured card with a shape on it.

    Different keys give different bytes (a digest-driven pattern is drawn), so uploads of two
    products' pictures never look identical to a deduplicating receiver.
    """
    digest = hashlib.sha256(key.encode()).digest()
    background = _PALETTE[digest[0] % len(_PALETTE)]
    foreground = _PALETTE[(digest[1] + 5) % len(_PALETTE)]
    image = Image.new("RGB", (size, size), background)
    draw = ImageDraw.Draw(image)
    margin = size // 6
    box = (margin, margin, size - margin, size - margin)
    if digest[2] % 3 == 0:
        draw.ellipse(box, fill=foreground)
    elif digest[2] % 3 == 1:
        draw.rectangle(box, fill=foreground)
    else:
        corners = [(size // 2, margin), (size - margin, size - margin), (margin, size - margin)]
        draw.polygon(corners, fill=foreground)
    # An 8x8 grid of dots from the digest bits makes every key's picture unique.
    cell = size // 10
    for bit in range(64):
        if digest[4 + bit // 8] >> (bit % 8) & 1:
            x = cell + (bit % 8) * cell
            y = cell + (bit // 8) * cell
            draw.rectangle((x, y, x + cell // 3, y + cell // 3), fill=(255, 255, 255))
    out = io.BytesIO()
    image.save(out, format="PNG", optimize=False)
    return out.getvalue()


def png_size(data: bytes) -> tuple[int, int]:
    """Width and height read from a PNG header (raises ValueError when it is not a PNG)."""
    if len(data) < 24 or data[:8] != b"\x89PNG\r\n\x1a\n" or data[12:16] != b"IHDR":
        raise ValueError("not a PNG file")
    return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
