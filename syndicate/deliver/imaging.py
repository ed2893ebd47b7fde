"""An image made fit to attach to a social post: upright, small enough, and telling nothing of where it was taken.

:func:`fit_image` promises that its result:

* is a new encoding (JPEG, or PNG when the image has transparency and the PNG fits): nothing of the
  original's metadata survives, EXIF (GPS position, camera serial), XMP, comments, ICC profile — the
  pixels are converted to sRGB first, so the colours stay what the author saw;
* is upright: the EXIF orientation is applied to the pixels, since the tag that said it is gone;
* is never larger than the original in either dimension, keeps its aspect ratio, and fits
  ``max_side``, ``max_pixels`` and ``max_bytes`` (JPEG quality 85 → 50 first, then smaller);
* comes from one of the formats syndicate posts (JPEG, PNG, GIF, WebP, AVIF; an animation's first
  frame), decoded within :data:`MAX_PIXELS` — a bigger image is refused before its pixels are read;
* or fails with :class:`ImageRejected` only, whose ``str()`` is one line, whatever Pillow raised or warned.
"""

from __future__ import annotations

import functools
import io
import math
import struct
import warnings
from dataclasses import dataclass

from PIL import Image, ImageCms, UnidentifiedImageError

from ..errors import SyndicateError

__all__ = ["INPUT_FORMATS", "MAX_PIXELS", "Fitted", "ImageRejected", "fit_image"]

MAX_PIXELS = 50_000_000  # decoding more is a decompression bomb: 200 MB of RGBA for a 50 MP image
INPUT_FORMATS = ("JPEG", "PNG", "GIF", "WEBP", "AVIF")  # the types of sniff.IMAGE_TYPES, as Pillow names them
QUALITIES = (85, 75, 65, 55, 50)  # JPEG qualities tried in turn before the image is made smaller
SHRINK = 0.8  # each step of making it smaller keeps at most this much of each side

# What Pillow's decoders raise on bad input (its own fuzzers find all of these), and a warning turned error.
_PILLOW_ERRORS: tuple[type[BaseException], ...] = (
    OSError,  # UnidentifiedImageError, "image file is truncated", decoder errors
    ValueError,
    TypeError,
    SyntaxError,  # some decoders' "not a … file"
    EOFError,
    struct.error,
    IndexError,
    KeyError,
    ZeroDivisionError,
    OverflowError,
    Image.DecompressionBombError,
    Image.DecompressionBombWarning,
)
_CMS_ERRORS: tuple[type[BaseException], ...] = (ImageCms.PyCMSError, *_PILLOW_ERRORS)
_TRANSPOSE = {  # EXIF orientation → what makes the stored pixels upright (as ImageOps.exif_transpose)
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}
_ORIENTATION = 0x0112


class ImageRejected(SyndicateError):
    """An image that cannot be posted (not an image, broken, too many pixels); ``str()`` is one line."""


@dataclass(frozen=True)
class Fitted:
    """The re-encoded image, its type and its size in pixels (Bluesky's ``aspectRatio``)."""

    data: bytes
    mime_type: str  # "image/jpeg" or "image/png"
    width: int
    height: int


def fit_image(data: bytes, *, max_bytes: int, max_pixels: int | None = None, max_side: int | None = None) -> Fitted:
    """``data`` re-encoded, upright and without metadata, within ``max_bytes`` (and ``max_pixels``, ``max_side``)."""
    for name, limit in (("max_bytes", max_bytes), ("max_pixels", max_pixels), ("max_side", max_side)):
        if limit is not None and limit < 1:
            raise ValueError(f"{name} must be at least 1, not {limit}")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "Corrupt EXIF data" and the like: the pixels are what matters
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            return _fit(data, max_bytes, max_pixels, max_side)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
        raise ImageRejected("too many pixels (decompression bomb)") from e
    except UnidentifiedImageError as e:
        raise ImageRejected("not an image Pillow can read (JPEG, PNG, GIF, WebP or AVIF)") from e
    except MemoryError as e:
        raise ImageRejected("too big to decode in memory") from e
    except _PILLOW_ERRORS as e:
        reason = " ".join(str(e).split())[:120] or type(e).__name__
        raise ImageRejected(f"a broken image: {reason}") from e


def _fit(data: bytes, max_bytes: int, max_pixels: int | None, max_side: int | None) -> Fitted:
    Image.init()  # every plugin registered (once), so the formats this Pillow lacks (AVIF before 11.3) are known
    opened = Image.open(io.BytesIO(data), formats=[name for name in INPUT_FORMATS if name in Image.OPEN])
    width, height = opened.size
    if width * height > MAX_PIXELS:
        raise ImageRejected(f"too many pixels ({width}x{height}, over {MAX_PIXELS // 1_000_000} megapixels)")
    orientation = _orientation(opened)
    turned = orientation >= 5  # 5 to 8 swap width and height
    upright = (height, width) if turned else (width, height)
    target = _target_size(upright, max_pixels, max_side)
    if target != upright:  # a JPEG decodes at 1/2, 1/4 or 1/8 of its size at once (and in as much memory)
        opened.draft(None, (target[1], target[0]) if turned else target)
    opened.load()
    image: Image.Image = opened
    if orientation in _TRANSPOSE:
        image = image.transpose(_TRANSPOSE[orientation])
    image = _normalize(image)
    if image.size != target:
        image = image.resize(target, Image.Resampling.LANCZOS, reducing_gap=3.0)
    return _encode(image, max_bytes)


def _orientation(image: Image.Image) -> int:
    """The EXIF orientation (1 to 8; 1 when absent or unreadable: a broken EXIF block does not reject the pixels)."""
    try:
        value = image.getexif().get(_ORIENTATION, 1)
    except _PILLOW_ERRORS:
        return 1
    return value if isinstance(value, int) and 1 <= value <= 8 else 1


def _target_size(size: tuple[int, int], max_pixels: int | None, max_side: int | None) -> tuple[int, int]:
    """``size`` shrunk, aspect ratio kept, to fit ``max_side`` and ``max_pixels``; never enlarged."""
    width, height = size
    scale = 1.0
    if max_side is not None:
        scale = min(scale, max_side / max(width, height))
    if max_pixels is not None:
        scale = min(scale, math.sqrt(max_pixels / (width * height)))
    if scale >= 1.0:
        return size
    new_width = max(1, min(width, int(width * scale + 1e-9)))
    new_height = max(1, min(height, int(height * scale + 1e-9)))
    if max_side is not None:
        new_width, new_height = min(new_width, max_side), min(new_height, max_side)
    while max_pixels is not None and new_width * new_height > max_pixels:  # rounding up by a pixel, at most
        if new_width >= new_height:
            new_width -= 1
        else:
            new_height -= 1
    return new_width, new_height


def _normalize(image: Image.Image) -> Image.Image:
    """``image`` as sRGB ``RGB``, ``RGBA`` (only when some pixel is not opaque) or ``L``, with no metadata left."""
    icc = image.info.get("icc_profile")
    transparent = image.mode in ("RGBA", "RGBa", "LA", "La", "PA") or "transparency" in image.info
    if image.mode.startswith("I"):  # 16-bit grey PNG: keep the high byte (convert("L") would clip at 255)
        image = image.convert("I")
        high = image.getextrema()[1]
        if isinstance(high, int | float) and high > 255:
            image = image.point(lambda value: value / 256)
        result = image.convert("L")
    elif image.mode in ("1", "L") and not transparent:
        result = image.convert("L")
    elif image.mode == "CMYK":
        result = _to_srgb(image, icc, "RGB") or image.convert("RGB")
    else:
        rgba = image.convert("RGBA") if transparent else None
        alpha = rgba.getchannel("A") if rgba is not None else None
        if alpha is None or alpha.getextrema()[0] == 255:  # every pixel opaque: a JPEG will do
            alpha = None
        rgb = (image if rgba is None else rgba).convert("RGB")
        result = _to_srgb(rgb, icc, "RGB") or rgb
        if alpha is not None:
            result.putalpha(alpha)
    result.info = {}  # EXIF, XMP, comments, ICC, transparency: the encoders read some of these from info
    return result


@functools.cache
def _srgb() -> ImageCms.ImageCmsProfile:
    return ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB"))


def _to_srgb(image: Image.Image, icc: object, mode: str) -> Image.Image | None:
    """``image``'s pixels converted from its ICC profile to sRGB; None if the profile is unusable (or absent)."""
    if not isinstance(icc, bytes) or not icc:
        return None
    try:
        source = ImageCms.ImageCmsProfile(io.BytesIO(icc))
        return ImageCms.profileToProfile(image, source, _srgb(), outputMode=mode)
    except _CMS_ERRORS:  # a profile for another colour space, or a broken one
        return None


def _encode(image: Image.Image, max_bytes: int) -> Fitted:
    """PNG if transparent and it fits, else JPEG at falling quality, then ever smaller, until ``max_bytes``."""
    if image.mode == "RGBA":
        data = _save(image, "PNG")
        if len(data) <= max_bytes:
            return Fitted(data, "image/png", *image.size)
        flat = Image.new("RGB", image.size, (255, 255, 255))
        flat.paste(image, mask=image.getchannel("A"))
        image = flat
    for quality in QUALITIES:
        data = _save(image, "JPEG", quality=quality)
        if len(data) <= max_bytes:
            return _jpeg(image, quality, data)
    return _shrink(image, max_bytes, len(data))


def _shrink(image: Image.Image, max_bytes: int, full_size: int) -> Fitted:
    """The largest JPEG at the lowest quality that fits: steps of ``SHRINK``, then 2 halvings of the last step."""
    quality = QUALITIES[-1]
    too_big, scale, length = 1.0, 1.0, full_size
    fitted: tuple[Image.Image, bytes] | None = None
    while fitted is None:
        # If bytes went with pixels, sqrt(max_bytes / length) would fit; they fall faster (shrinking smooths
        # the image), so go half of that way (in log), and at least one step, to get there from above.
        scale *= min(SHRINK, (max_bytes / length) ** 0.25)
        smaller = _scaled(image, scale)
        if smaller is None:  # 1x1 and still too big
            raise ImageRejected(f"cannot be made as small as {max_bytes:,} bytes")
        data = _save(smaller, "JPEG", quality=quality)
        if len(data) <= max_bytes:
            fitted = smaller, data
        else:
            too_big, length = scale, len(data)
    fits = scale
    for _ in range(2):  # bytes per pixel fall as an image shrinks (a photo's noise goes): take back some size
        middle = (fits + too_big) / 2
        candidate = _scaled(image, middle)
        if candidate is None or candidate.size == fitted[0].size:
            break
        data = _save(candidate, "JPEG", quality=quality)
        if len(data) <= max_bytes:
            fits, fitted = middle, (candidate, data)
        else:
            too_big = middle
    return _jpeg(fitted[0], quality, fitted[1])


def _scaled(image: Image.Image, scale: float) -> Image.Image | None:
    """``image`` resized by ``scale`` (aspect ratio kept); None when that leaves less than 1x1 to shrink."""
    width, height = image.size
    size = (max(1, int(width * scale)), max(1, int(height * scale)))
    if size == (1, 1) and scale * max(width, height) < 0.5:
        return None
    return image.resize(size, Image.Resampling.LANCZOS, reducing_gap=3.0)


def _jpeg(image: Image.Image, quality: int, data: bytes) -> Fitted:
    """The JPEG that fitted, encoded once more with optimized Huffman tables (a few % smaller, 3x slower)."""
    optimized = _save(image, "JPEG", quality=quality, optimize=True)
    return Fitted(min(optimized, data, key=len), "image/jpeg", *image.size)


def _save(image: Image.Image, format: str, **options: int | bool) -> bytes:
    out = io.BytesIO()
    image.save(out, format, **options)
    return out.getvalue()
