"""Safe image decoding and EfficientNet-Lite preprocessing.

Two steps, each a pure function of its input:

* :func:`decode_image` turns untrusted bytes into an RGB :class:`PIL.Image.Image`, or raises
  :class:`~inference.errors.ImageRejected`; no other exception escapes.
* :func:`to_model_input` turns an RGB image into the (1, 3, S, S) float32 tensor the ONNX model
  expects (bicubic short-side resize, centre crop, ``(x - 127) / 128``).
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

try:  # HEIC/HEIF from iPhones. Registering is idempotent and only adds a Pillow plugin.
    from pillow_heif import register_heif_opener

    register_heif_opener()
except ImportError:  # pragma: no cover - pillow-heif is a runtime dependency
    pass

from inference.errors import ImageRejected, RejectReason

#: Still-image formats we decode (Pillow format names). MPO is the multi-picture JPEG some phones
#: write; only its first picture is used. Anything else Pillow recognises (EPS, PSD, ICO, ...) is
#: rejected as UNSUPPORTED; anything it does not recognise as NOT_AN_IMAGE.
Image.init()  # load every Pillow plugin so the format names below resolve
ALLOWED_FORMATS: tuple[str, ...] = tuple(
    f for f in ("JPEG", "MPO", "PNG", "GIF", "WEBP", "BMP", "TIFF", "HEIF", "AVIF") if f in Image.OPEN
)

#: Lite normalisation: ``(x - 127) / 128`` for x in [0, 255]. Source: TF
#: ``efficientnet/lite/efficientnet_lite_builder.py`` (MEAN_RGB = STDDEV_RGB's 127 / 128).
LITE_MEAN = 127.0
LITE_STD = 128.0

#: Defaults for EfficientNet-Lite0 (224 crop from a 256 short side = TF CROP_PADDING 32).
DEFAULT_SIZE = 224
DEFAULT_RESIZE = 256

_WHITE = (255, 255, 255)


@dataclass(frozen=True, slots=True)
class ImageLimits:
    """Limits applied by :func:`decode_image` to untrusted input.

    Attributes:
        max_bytes: largest accepted file, in bytes (default 20 MB; Telegram photos are <= 10 MB,
            Discord attachments up to 25 MB on free servers).
        max_pixels: largest accepted ``width * height`` (default 40 Mpx: more than a 48 Mpx-class
            phone's default 12 Mpx output, far below Pillow's 89.5 Mpx bomb limit).
        min_side: smallest accepted shorter side, in pixels (default 16).
    """

    max_bytes: int = 20_000_000
    max_pixels: int = 40_000_000
    min_side: int = 16


def _sniff_unsupported(head: bytes) -> bool:
    """True when the first bytes look like SVG (XML text with an ``<svg`` element)."""
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    return text.startswith(b"<svg") or (text.startswith(b"<?xml") and b"<svg" in text)


def _open(data: bytes) -> Image.Image:
    """Open (header only, no pixel decode) with the allowed formats; map failures to rejections."""
    try:
        return Image.open(io.BytesIO(data), formats=list(ALLOWED_FORMATS))
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        # The warning is only raised as an exception when the process turned it into an error.
        raise ImageRejected(RejectReason.TOO_MANY_PIXELS, str(exc)[:200]) from None
    except UnidentifiedImageError:
        pass
    except Exception as exc:  # a recognised header whose fields are broken
        raise ImageRejected(RejectReason.CORRUPT, f"{type(exc).__name__}: {str(exc)[:200]}") from None
    # Not one of ours: is it a (different) image format Pillow knows, or not an image at all?
    try:
        with Image.open(io.BytesIO(data)) as other:
            fmt = other.format
    except Exception:
        raise ImageRejected(RejectReason.NOT_AN_IMAGE, "unrecognised data") from None
    raise ImageRejected(RejectReason.UNSUPPORTED, f"format {fmt}")


def _to_rgb(img: Image.Image) -> Image.Image:
    """Convert any Pillow mode to RGB; transparency is composited on white.

    16-bit greyscale (I;16*) is scaled by 1/257 to 8 bits; 32-bit integer ("I") and float ("F")
    images are min-max stretched to [0, 255].
    """
    mode = img.mode
    if mode == "RGB" and "transparency" not in img.info:
        return img
    if mode.startswith("I;16") or mode in ("I", "F"):
        arr = np.asarray(img, dtype=np.float64)
        if mode.startswith("I;16"):
            arr = arr / 257.0
        else:
            lo, hi = float(arr.min()), float(arr.max())
            arr = (arr - lo) * (255.0 / (hi - lo)) if hi > lo else np.zeros_like(arr)
        grey = Image.fromarray(np.clip(np.rint(arr), 0, 255).astype(np.uint8), mode="L")
        return grey.convert("RGB")
    has_alpha = mode in ("RGBA", "LA", "PA", "RGBa", "La") or "transparency" in img.info
    if has_alpha:
        rgba = img.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (*_WHITE, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    if mode in ("CMYK", "YCbCr", "L", "1", "P", "RGBX", "HSV"):
        return img.convert("RGB")
    if mode == "LAB":
        from PIL import ImageCms

        return ImageCms.applyTransform(
            img, ImageCms.buildTransform(ImageCms.createProfile("LAB"), ImageCms.createProfile("sRGB"),
                                         "LAB", "RGB")
        )
    return img.convert("RGB")


def decode_image(
    data: bytes,
    *,
    max_bytes: int,
    max_pixels: int,
    min_side: int = 16,
    draft_size: int | None = DEFAULT_RESIZE,
) -> Image.Image:
    """Decode untrusted image bytes into an upright RGB image.

    Args:
        data: the raw file bytes (JPEG, PNG, GIF, WebP, BMP, TIFF, HEIC/HEIF, MPO; AVIF when the
            installed Pillow supports it). Only the first frame of animations is used.
        max_bytes: reject inputs longer than this many bytes (``TOO_LARGE``).
        max_pixels: reject images whose header declares more than ``width * height`` pixels
            (``TOO_MANY_PIXELS``), checked before any pixel is decoded. Pillow's own
            ``Image.MAX_IMAGE_PIXELS`` (about 89.5 Mpx by default) caps it: an image Pillow warns
            about (``DecompressionBombWarning``) or refuses (``DecompressionBombError``) is
            rejected too. (No warnings filter is changed: ``warnings.catch_warnings`` is not
            thread-safe and decoding runs in worker threads.)
        min_side: reject images whose shorter side is below this many pixels (``TOO_SMALL``).
        draft_size: for JPEG, let libjpeg decode at 1/2, 1/4 or 1/8 scale as long as both sides stay
            >= this many pixels (much faster for phone photos). ``None`` decodes at full size.
            Use the model's resize size (256 for Lite0) so no detail the model sees is lost.

    Returns:
        A loaded ``PIL.Image.Image`` in mode ``"RGB"``, EXIF orientation applied, transparency
        composited on white.

    Raises:
        ImageRejected: with reason EMPTY, TOO_LARGE, NOT_AN_IMAGE, UNSUPPORTED (e.g. SVG, EPS),
            TOO_MANY_PIXELS, TOO_SMALL or CORRUPT (truncated or broken data). No other exception
            escapes (``MemoryError`` during decoding becomes TOO_MANY_PIXELS).
    """
    if not data:
        raise ImageRejected(RejectReason.EMPTY, "0 bytes")
    if len(data) > max_bytes:
        raise ImageRejected(RejectReason.TOO_LARGE, f"{len(data)} bytes > {max_bytes}")
    if _sniff_unsupported(data[:1024]):
        raise ImageRejected(RejectReason.UNSUPPORTED, "SVG (vector) image")

    img = opened = _open(data)
    try:
        width, height = img.size
        pixel_limit = min(max_pixels, int(Image.MAX_IMAGE_PIXELS or max_pixels))
        if width * height > pixel_limit:
            raise ImageRejected(
                RejectReason.TOO_MANY_PIXELS, f"{width}x{height} > {pixel_limit} pixels"
            )
        if min(width, height) < min_side:
            raise ImageRejected(RejectReason.TOO_SMALL, f"{width}x{height} < {min_side} px")
        try:
            if draft_size and img.format in ("JPEG", "MPO"):
                img.draft("RGB", (draft_size, draft_size))
            img.load()
            img = ImageOps.exif_transpose(img) or img
            rgb = _to_rgb(img)
            rgb.load()
        except ImageRejected:
            raise
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
            raise ImageRejected(RejectReason.TOO_MANY_PIXELS, str(exc)[:200]) from None
        except MemoryError:
            raise ImageRejected(RejectReason.TOO_MANY_PIXELS, "out of memory while decoding") from None
        except Exception as exc:  # truncated streams, bad Huffman tables, broken EXIF, ...
            raise ImageRejected(
                RejectReason.CORRUPT, f"{type(exc).__name__}: {str(exc)[:200]}"
            ) from None
    except BaseException:
        opened.close()
        raise
    if rgb is not opened:
        opened.close()  # frees the source (and, for animations, its remaining frames)
    return rgb


def to_model_input(
    img: Image.Image, size: int = DEFAULT_SIZE, resize: int | None = None
) -> np.ndarray:
    """Turn an RGB image into an EfficientNet-Lite input tensor.

    Recipe (TF EfficientNet-Lite eval preprocessing): bicubic resize so the *shorter* side is
    ``resize`` pixels (aspect ratio kept), centre crop ``size x size``, then ``(x - 127) / 128``.

    Args:
        img: an RGB image (any other mode is converted first), any size >= 1x1.
        size: crop side in pixels (224 for Lite0, 260 for Lite2).
        resize: short side after resizing; default ``size + 32`` (TF ``CROP_PADDING = 32``:
            256 for Lite0, 292 for Lite2).

    Returns:
        ``np.ndarray`` of shape (1, 3, size, size), dtype float32, channel order RGB, values in
        [-127/128, 1] (about [-0.992, 0.992]).
    """
    if resize is None:
        resize = size + 32
    if resize < size:
        raise ValueError(f"resize ({resize}) must be >= size ({size})")
    if img.mode != "RGB":
        img = _to_rgb(img)
    width, height = img.size
    if width <= height:
        new_w, new_h = resize, max(resize, round(height * resize / width))
    else:
        new_w, new_h = max(resize, round(width * resize / height)), resize
    resized = img.resize((new_w, new_h), Image.Resampling.BICUBIC, reducing_gap=3.0)
    left = (new_w - size) // 2
    top = (new_h - size) // 2
    crop = resized.crop((left, top, left + size, top + size))
    arr = np.asarray(crop, dtype=np.float32)  # (H, W, 3) in [0, 255]
    arr = (arr - LITE_MEAN) / LITE_STD
    return np.ascontiguousarray(arr.transpose(2, 0, 1)[None, ...])

