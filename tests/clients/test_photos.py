"""prepare_product_image turns any picture into a photo VK Market accepts (square JPEG, >= 400x400)."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from evosync.clients.photos import ImageError, prepare_product_image

WHITE = (255, 255, 255)


def _encode(image: Image.Image, fmt: str, **kwargs) -> bytes:
    out = io.BytesIO()
    image.save(out, fmt, **kwargs)
    return out.getvalue()


def _decode(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


def _close(pixel, expected, tolerance=12) -> bool:
    return all(abs(a - b) <= tolerance for a, b in zip(pixel, expected, strict=True))


def test_evotor_300px_png_becomes_400px_jpeg():
    """Evotor's 300x300 PNG images come out as 400x400 RGB JPEG, colour kept."""
    data = _encode(Image.new("RGB", (300, 300), (200, 30, 40)), "PNG")
    result = _decode(prepare_product_image(data))
    assert result.format == "JPEG"
    assert result.mode == "RGB"
    assert result.size == (400, 400)
    assert _close(result.getpixel((200, 200)), (200, 30, 40))
    assert _close(result.getpixel((5, 5)), (200, 30, 40))  # upscaled to fill, not padded


def test_transparent_rgba_is_laid_over_white():
    """Transparent pixels become white, not black (what a bare RGB convert would give)."""
    image = Image.new("RGBA", (500, 500), (0, 0, 0, 0))
    image.paste((10, 120, 10, 255), (200, 200, 300, 300))
    result = _decode(prepare_product_image(_encode(image, "PNG")))
    assert result.size == (500, 500)
    assert _close(result.getpixel((20, 20)), WHITE)
    assert _close(result.getpixel((250, 250)), (10, 120, 10))


def test_palette_image_with_transparency_is_laid_over_white():
    """A GIF-style palette image with a transparent index also gets a white background."""
    image = Image.new("P", (400, 400), 0)
    image.putpalette([0, 0, 0, 250, 0, 0] + [0, 0, 0] * 254)
    image.paste(1, (100, 100, 300, 300))
    data = _encode(image, "GIF", transparency=0)
    result = _decode(prepare_product_image(data))
    assert _close(result.getpixel((10, 10)), WHITE)
    assert _close(result.getpixel((200, 200)), (250, 0, 0))


def test_tiny_image_is_upscaled_to_minimum():
    """A 1x1 image becomes 400x400."""
    result = _decode(prepare_product_image(_encode(Image.new("RGB", (1, 1), (0, 0, 255)), "PNG")))
    assert result.size == (400, 400)
    assert _close(result.getpixel((200, 200)), (0, 0, 255))


def test_wide_image_is_padded_white_to_a_square_keeping_aspect():
    """A 600x300 picture sits centred in a 600x600 white square, not stretched."""
    result = _decode(prepare_product_image(_encode(Image.new("RGB", (600, 300), (30, 30, 200)), "PNG")))
    assert result.size == (600, 600)
    assert _close(result.getpixel((300, 50)), WHITE)  # band above
    assert _close(result.getpixel((300, 550)), WHITE)  # band below
    assert _close(result.getpixel((300, 300)), (30, 30, 200))
    assert _close(result.getpixel((5, 300)), (30, 30, 200))


def test_small_wide_image_is_upscaled_keeping_aspect_then_padded():
    """200x100 is scaled to 400x200 (not 400x400) and padded to 400x400."""
    result = _decode(prepare_product_image(_encode(Image.new("RGB", (200, 100), (250, 200, 0)), "PNG")))
    assert result.size == (400, 400)
    assert _close(result.getpixel((200, 50)), WHITE)
    assert _close(result.getpixel((200, 200)), (250, 200, 0))


def test_exif_orientation_is_applied():
    """A landscape JPEG tagged "rotate 90" (orientation 6) is treated as the portrait picture it shows."""
    image = Image.new("RGB", (800, 400), (220, 0, 0))
    exif = Image.Exif()
    exif[0x0112] = 6
    result = _decode(prepare_product_image(_encode(image, "JPEG", exif=exif.tobytes())))
    assert result.size == (800, 800)
    assert _close(result.getpixel((400, 20)), (220, 0, 0))  # portrait: colour reaches the top
    assert _close(result.getpixel((20, 400)), WHITE)  # and the side bands are white


def test_huge_image_is_capped_so_sides_sum_to_14000():
    """An image longer than 7000 px is scaled down so the square's w + h <= 14000."""
    result = _decode(prepare_product_image(_encode(Image.new("RGB", (9000, 20), (0, 0, 0)), "PNG")))
    assert result.size == (7000, 7000)


def test_cmyk_jpeg_is_converted_to_rgb():
    """Print-shop CMYK JPEGs come out RGB."""
    result = _decode(prepare_product_image(_encode(Image.new("CMYK", (500, 500), (0, 255, 255, 0)), "JPEG")))
    assert result.mode == "RGB"
    assert _close(result.getpixel((250, 250)), (255, 0, 0), tolerance=30)


@pytest.mark.parametrize(
    "data",
    [b"", b"definitely not an image", b"\x89PNG\r\n\x1a\n" + b"\x00" * 40, b"<html>502 Bad Gateway</html>"],
    ids=["empty", "text", "broken-png", "html"],
)
def test_garbage_raises_image_error(data):
    """Bytes that are not a readable image raise our ImageError, not a Pillow exception."""
    with pytest.raises(ImageError):
        prepare_product_image(data)


def test_truncated_image_raises_image_error():
    """A PNG cut short in the middle of its pixel data is refused."""
    data = _encode(Image.effect_noise((300, 300), 60).convert("RGB"), "PNG")
    with pytest.raises(ImageError):
        prepare_product_image(data[: len(data) // 2])
