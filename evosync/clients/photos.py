"""Turn any image into a photo VK Market accepts: RGB JPEG, square, at least 400x400, w+h <= 14000, < 50 MB.

VK's requirements: https://dev.vk.com/en/method/market.getProductPhotoUploadServer (see vk-api.md).
"""

from __future__ import annotations

import io
import logging
import warnings

from PIL import Image, ImageOps, UnidentifiedImageError

from evosync.clients.errors import ImageError

log = logging.getLogger(__name__)

MIN_SIDE = 400
MAX_SIDE = 7000  # a square with w + h <= 14000
MAX_BYTES = 50 * 1024 * 1024
BACKGROUND = (255, 255, 255)
JPEG_QUALITIES = (90, 80, 65)

__all__ = ["ImageError", "prepare_product_image"]


def prepare_product_image(data: bytes) -> bytes:
    """JPEG bytes of ``data`` as a white-padded square VK accepts; ImageError if it is not an image."""
    image = _open(data)
    image = _to_rgb(ImageOps.exif_transpose(image))
    image = _fit(image)
    side = max(image.size)
    canvas = Image.new("RGB", (side, side), BACKGROUND)
    canvas.paste(image, ((side - image.width) // 2, (side - image.height) // 2))
    return _encode_jpeg(canvas)


def _open(data: bytes) -> Image.Image:
    if not data:
        raise ImageError("empty image")
    try:
        with warnings.catch_warnings():
            # A decompression-bomb warning is a reason to refuse, not to go on.
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
            image.load()
    except (
        UnidentifiedImageError,
        OSError,
        ValueError,
        SyntaxError,
        Image.DecompressionBombError,
        Image.DecompressionBombWarning,
    ) as exc:
        raise ImageError(f"not a readable image: {exc}") from exc
    if image.width < 1 or image.height < 1:
        raise ImageError("image has no pixels")
    return image


def _to_rgb(image: Image.Image) -> Image.Image:
    """RGB, with any transparency laid over white (not black, as a bare convert would give)."""
    if (image.mode == "P" and "transparency" in image.info) or image.mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        rgba = image.convert("RGBA")
        flat = Image.new("RGB", rgba.size, BACKGROUND)
        flat.paste(rgba, mask=rgba.getchannel("A"))
        return flat
    if image.mode in ("I;16", "I;16B", "I;16L", "I"):
        # 16/32-bit greyscale: scale down to 8 bits before RGB, or it all clips to white.
        image = image.point(lambda v: v / 256).convert("L")
    return image.convert("RGB")


def _fit(image: Image.Image) -> Image.Image:
    """Scale so the longer side is at least MIN_SIDE and at most MAX_SIDE, keeping the aspect ratio."""
    longer = max(image.size)
    if MIN_SIDE <= longer <= MAX_SIDE:
        return image
    target = MIN_SIDE if longer < MIN_SIDE else MAX_SIDE
    scale = target / longer
    size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
    return image.resize(size, Image.Resampling.LANCZOS)


def _encode_jpeg(image: Image.Image) -> bytes:
    """JPEG under MAX_BYTES: lower the quality, then the size, until it fits."""
    while True:
        for quality in JPEG_QUALITIES:
            out = io.BytesIO()
            image.save(out, "JPEG", quality=quality, optimize=True)
            if out.tell() < MAX_BYTES:
                return out.getvalue()
        side = max(MIN_SIDE, int(image.width * 0.7))
        if side == image.width:
            raise ImageError("cannot encode the image under the size limit")
        log.info("product photo still over %d bytes, shrinking to %d px", MAX_BYTES, side)
        image = image.resize((side, side), Image.Resampling.LANCZOS)
