"""Decoding untrusted bytes and building model inputs (synthetic images only, built in memory)."""

from __future__ import annotations

import io
import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from inference.errors import ImageRejected, RejectReason
from inference.preprocess import ImageLimits, decode_image, to_model_input

LIMITS = ImageLimits()


def decode(data: bytes, **kw) -> Image.Image:
    args = {"max_bytes": LIMITS.max_bytes, "max_pixels": LIMITS.max_pixels, "min_side": 16}
    args.update(kw)
    return decode_image(data, **args)


def encode(img: Image.Image, fmt: str, **kw) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format=fmt, **kw)
    return buf.getvalue()


def gradient(w: int = 64, h: int = 48) -> Image.Image:
    """A left-to-right red gradient with a blue bottom half: orientation is visible in pixels."""
    arr = np.zeros((h, w, 3), np.uint8)
    arr[..., 0] = np.linspace(0, 255, w, dtype=np.uint8)[None, :]
    arr[h // 2 :, :, 2] = 255
    return Image.fromarray(arr, "RGB")


def rejected(data: bytes, **kw) -> RejectReason:
    with pytest.raises(ImageRejected) as info:
        decode(data, **kw)
    return info.value.reason


# --- accepted inputs -------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "BMP", "TIFF", "WEBP", "GIF"])
def test_common_formats_decode_to_rgb_of_the_same_size(fmt: str) -> None:
    img = decode(encode(gradient(), fmt))
    assert img.mode == "RGB"
    assert img.size == (64, 48)


@pytest.mark.parametrize("mode", ["L", "1", "P", "RGB", "CMYK", "YCbCr", "I", "F", "LA", "RGBA"])
def test_every_pillow_mode_becomes_rgb(mode: str) -> None:
    src = gradient().convert(mode)
    fmt = "TIFF" if mode in ("CMYK", "YCbCr", "I", "F") else "PNG"
    if mode == "YCbCr":
        fmt = "JPEG"
    out = decode(encode(src, fmt))
    assert out.mode == "RGB" and out.size == (64, 48)


def test_cmyk_jpeg_keeps_its_colours() -> None:
    red = Image.new("RGB", (32, 32), (220, 20, 20)).convert("CMYK")
    out = np.asarray(decode(encode(red, "JPEG", quality=95)))
    r, g, b = out.reshape(-1, 3).mean(axis=0)
    assert r > 150 and g < 80 and b < 80


def test_transparent_rgba_is_composited_on_white() -> None:
    img = Image.new("RGBA", (32, 32), (0, 0, 0, 0))
    img.paste((0, 128, 0, 255), (0, 0, 16, 32))  # left half opaque green
    out = np.asarray(decode(encode(img, "PNG")))
    assert tuple(out[5, 5]) == (0, 128, 0)
    assert tuple(out[5, 25]) == (255, 255, 255)


def test_palette_with_transparency_index_is_composited_on_white() -> None:
    img = Image.new("P", (32, 32), 0)
    img.putpalette([0, 0, 0, 200, 0, 0] + [0] * (256 * 3 - 6))
    img.paste(1, (0, 0, 16, 32))
    data = encode(img, "PNG", transparency=0)
    out = np.asarray(decode(data))
    assert tuple(out[5, 5]) == (200, 0, 0)
    assert tuple(out[5, 25]) == (255, 255, 255)


def test_la_mode_transparency_on_white() -> None:
    img = Image.new("LA", (32, 32), (0, 0))
    img.paste((50, 255), (0, 0, 16, 32))
    out = np.asarray(decode(encode(img, "PNG")))
    assert tuple(out[5, 5]) == (50, 50, 50)
    assert tuple(out[5, 25]) == (255, 255, 255)


def test_16_bit_greyscale_is_scaled_not_clipped() -> None:
    arr = np.full((32, 32), 32768, dtype=np.uint16)  # mid-grey in 16 bits
    img = Image.fromarray(arr)
    assert img.mode.startswith("I;16")
    out = np.asarray(decode(encode(img, "PNG")))
    assert 120 <= out.mean() <= 135  # clipping would give 255


def test_exif_orientation_is_applied() -> None:
    src = gradient(64, 48)
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 CW to display"
    out = decode(encode(src, "JPEG", exif=exif.tobytes(), quality=95))
    assert out.size == (48, 64)
    arr = np.asarray(out).astype(int)
    # After a 90-degree clockwise rotation, the source's blue bottom half is on the left.
    assert arr[:, :10, 2].mean() > 200 and arr[:, -10:, 2].mean() < 50


def test_gif_first_frame_is_used() -> None:
    frames = [Image.new("RGB", (32, 32), c) for c in [(255, 0, 0), (0, 0, 255)]]
    buf = io.BytesIO()
    frames[0].save(buf, format="GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)
    out = np.asarray(decode(buf.getvalue()))
    assert out[..., 0].mean() > 200 and out[..., 2].mean() < 50


def test_animated_webp_first_frame_is_used() -> None:
    frames = [Image.new("RGB", (32, 32), c) for c in [(0, 255, 0), (255, 0, 255)]]
    buf = io.BytesIO()
    frames[0].save(buf, format="WEBP", save_all=True, append_images=frames[1:], lossless=True)
    out = np.asarray(decode(buf.getvalue()))
    assert out[..., 1].mean() > 200 and out[..., 0].mean() < 50


def test_heic_is_decoded() -> None:
    pytest.importorskip("pillow_heif")
    data = encode(Image.new("RGB", (64, 48), (200, 30, 30)), "HEIF")
    out = decode(data)
    assert out.size == (64, 48)
    assert np.asarray(out)[..., 0].mean() > 150


def test_big_jpeg_is_draft_decoded_but_keeps_enough_pixels() -> None:
    data = encode(gradient(2048, 1536), "JPEG", quality=80)
    out = decode(data, draft_size=256)
    assert min(out.size) >= 256
    assert out.size[0] < 2048  # libjpeg scaled the decode down
    full = decode(data, draft_size=None)
    assert full.size == (2048, 1536)


# --- rejected inputs --------------------------------------------------------------------------------


def test_empty_input() -> None:
    assert rejected(b"") is RejectReason.EMPTY


def test_too_many_bytes() -> None:
    data = encode(gradient(), "PNG")
    assert rejected(data, max_bytes=len(data) - 1) is RejectReason.TOO_LARGE


@pytest.mark.parametrize(
    "data",
    [
        b"hello, this is a text file pretending to be a photo.jpg\n" * 10,
        b"<!DOCTYPE html><html><body><img src='x.jpg'></body></html>",
        b"%PDF-1.7\n1 0 obj << /Type /Catalog >> endobj\n" + b"0" * 200,
        b"\x00\x00\x00\x20ftypisom\x00\x00\x02\x00isomiso2avc1mp41" + b"\x00" * 200,  # MP4 video
    ],
    ids=["text", "html", "pdf", "mp4"],
)
def test_non_images_are_not_an_image(data: bytes) -> None:
    assert rejected(data) is RejectReason.NOT_AN_IMAGE


def test_svg_is_unsupported() -> None:
    svg = b'<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"/>'
    assert rejected(svg) is RejectReason.UNSUPPORTED


def test_other_pillow_format_is_unsupported() -> None:
    data = encode(Image.new("RGB", (32, 32)), "ICO")
    assert rejected(data) is RejectReason.UNSUPPORTED


def test_truncated_jpeg_is_corrupt() -> None:
    data = encode(gradient(256, 256), "JPEG", quality=90)
    assert rejected(data[: len(data) // 2]) is RejectReason.CORRUPT


def test_truncated_png_is_corrupt() -> None:
    noise = np.random.default_rng(0).integers(0, 255, (128, 128, 3), dtype=np.uint8)
    data = encode(Image.fromarray(noise), "PNG")
    assert rejected(data[: len(data) // 2]) is RejectReason.CORRUPT


def test_garbage_after_a_jpeg_header_is_corrupt_or_not_an_image() -> None:
    data = encode(gradient(), "JPEG")[:20] + bytes(range(256)) * 4
    assert rejected(data) in (RejectReason.CORRUPT, RejectReason.NOT_AN_IMAGE)


def _png_header_only(width: int, height: int) -> bytes:
    """A PNG whose IHDR claims width x height, with a tiny (invalid) IDAT: cheap to build."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(
        b"IEND", b""
    )


def test_decompression_bomb_header_is_refused_without_decoding() -> None:
    assert rejected(_png_header_only(30000, 30000)) is RejectReason.TOO_MANY_PIXELS


def test_pixel_limit_below_pillows_is_enforced() -> None:
    data = _png_header_only(5000, 5000)  # 25 Mpx: fine for Pillow, above our limit
    assert rejected(data, max_pixels=20_000_000) is RejectReason.TOO_MANY_PIXELS


def test_real_image_above_pixel_limit() -> None:
    data = encode(gradient(400, 300), "PNG")
    assert rejected(data, max_pixels=400 * 300 - 1) is RejectReason.TOO_MANY_PIXELS


@pytest.mark.parametrize("size", [(1, 1), (15, 200)])
def test_tiny_images_are_too_small(size: tuple[int, int]) -> None:
    assert rejected(encode(Image.new("RGB", size), "PNG")) is RejectReason.TOO_SMALL


def test_no_other_exception_escapes_random_bytes() -> None:
    rng = np.random.default_rng(1)
    base = encode(gradient(), "PNG")
    for i in range(200):
        noisy = bytearray(base)
        for pos in rng.integers(0, len(noisy), size=8):
            noisy[pos] = int(rng.integers(0, 256))
        data = bytes(noisy[: int(rng.integers(1, len(noisy) + 1))] if i % 2 else noisy)
        try:
            out = decode(data)
        except ImageRejected as exc:  # the only exception allowed out
            assert isinstance(exc.reason, RejectReason)
        else:
            assert out.mode == "RGB"


# --- model input ------------------------------------------------------------------------------------


def test_model_input_shape_dtype_and_range() -> None:
    x = to_model_input(gradient(640, 480), size=224, resize=256)
    assert x.shape == (1, 3, 224, 224) and x.dtype == np.float32
    assert x.min() >= -127 / 128 - 1e-6 and x.max() <= 128 / 128 + 1e-6


def test_model_input_normalisation_is_lite_recipe() -> None:
    x = to_model_input(Image.new("RGB", (300, 300), (255, 127, 0)), size=224)
    assert np.allclose(x[0, 0], (255 - 127) / 128)
    assert np.allclose(x[0, 1], 0.0)
    assert np.allclose(x[0, 2], -127 / 128)


def test_model_input_is_a_centre_crop_of_the_short_side() -> None:
    # A wide image: the outer left/right thirds are red, the middle is green. After resizing the
    # short side to 256 and cropping 224 in the centre only green remains.
    img = Image.new("RGB", (900, 300), (255, 0, 0))
    img.paste((0, 255, 0), (300, 0, 600, 300))
    x = to_model_input(img, size=224, resize=256)
    assert np.allclose(x[0, 1], (255 - 127) / 128, atol=0.05)


def test_model_input_channels_are_rgb_order() -> None:
    x = to_model_input(Image.new("RGB", (64, 64), (255, 0, 0)), size=32, resize=40)
    assert x[0, 0].mean() > 0.9 and x[0, 2].mean() < -0.9
