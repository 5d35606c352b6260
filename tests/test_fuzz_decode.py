"""Fuzzing the decode-and-identify path with Hypothesis (bounded).

Inputs: random bytes, and small valid JPEG, PNG, GIF, WebP, BMP and TIFF files mutated by
truncation, bit flips, byte overwrites, spliced random bytes and huge or zero dimensions written into
their headers (with the PNG chunk CRC fixed up, so the decoder gets past the checksum).

Properties:

* :func:`inference.preprocess.decode_image` either returns a loaded RGB image within the limits or
  raises :class:`~inference.errors.ImageRejected`; no other exception escapes, and no call hangs (the
  pixel limit is small, and every call must finish within :data:`CALL_LIMIT_S`);
* :meth:`inference.classifier.ReptileClassifier.identify` (decode, preprocess, ONNX) likewise.

Every input that ever crashed is kept in :data:`REGRESSIONS` (bytes literals, with what it broke) and
replayed by :func:`test_regressions`. The suite's runs are derandomized (the same inputs every time);
``HYPOTHESIS_PROFILE=explore FUZZ_EXAMPLES=5000`` runs a longer random campaign locally.
"""

from __future__ import annotations

import contextlib
import io
import os
import struct
import time
import zlib

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from inference.classifier import ReptileClassifier
from inference.errors import ImageRejected
from inference.preprocess import ImageLimits, decode_image

MAX_BYTES = 200_000
MAX_PIXELS = 250_000  # small: a header claiming more is rejected before decoding
LIMITS = ImageLimits(max_bytes=MAX_BYTES, max_pixels=MAX_PIXELS, min_side=16)
EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "200"))
#: A hang guard, not a speed check: the slowest call of a derandomized run (200 decodes, 50 identifies)
#: took 0.002 s to decode and 0.02 s to identify on the project's 2-core machine, so 10 s is 500x that;
#: only a decoder stuck in a loop or decoding a bomb gets near it, whatever the machine's load.
CALL_LIMIT_S = 10.0

# Broken headers make Pillow warn (skipped TIFF tags, bomb-sized dimensions): expected here.
pytestmark = pytest.mark.filterwarnings("ignore::UserWarning", "ignore::DeprecationWarning",
                                      "ignore::PIL.Image.DecompressionBombWarning")

# Derandomized and without an example database by the suite's Hypothesis profile (tests/conftest.py):
# every CI run tries the same inputs. ``HYPOTHESIS_PROFILE=explore FUZZ_EXAMPLES=5000`` is the random
# campaign; whatever it finds goes into REGRESSIONS below.
FUZZ = settings(max_examples=EXAMPLES, deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def _encode(fmt: str, size: tuple[int, int] = (40, 30), mode: str = "RGB", **kw) -> bytes:
    w, h = size
    img = Image.new(mode, size)
    if mode in ("RGB", "RGBA"):
        img.putdata([((x * 13) % 256, (y * 17) % 256, (x * y) % 256, 200)[: len(mode)]
                     for y in range(h) for x in range(w)])
    buf = io.BytesIO()
    img.save(buf, format=fmt, **kw)
    return buf.getvalue()


def _exif_rotated() -> bytes:
    exif = Image.Exif()
    exif[0x0112] = 6  # Orientation: rotate 90
    return exif.tobytes()


def _animated(fmt: str) -> bytes:
    frames = [Image.new("RGB", (40, 30), (i * 60, 255 - i * 60, 90)) for i in range(3)]
    buf = io.BytesIO()
    frames[0].save(buf, format=fmt, save_all=True, append_images=frames[1:], duration=100, loop=0)
    return buf.getvalue()


SEEDS: dict[str, bytes] = {
    "jpeg": _encode("JPEG", quality=80),
    "progressive_jpeg": _encode("JPEG", progressive=True),
    "png": _encode("PNG"),
    "png_rgba": _encode("PNG", mode="RGBA"),
    "png_palette": _encode("PNG", mode="P"),
    "gif": _encode("GIF", mode="P"),
    "webp": _encode("WEBP", quality=70),
    "webp_lossless": _encode("WEBP", lossless=True),
    "bmp": _encode("BMP"),
    "tiff": _encode("TIFF"),
    "tiff_lzw": _encode("TIFF", compression="tiff_lzw"),
    "tiff_float": _encode("TIFF", mode="F"),
    "tiff_int32": _encode("TIFF", mode="I"),
    "png_16bit": _encode("PNG", mode="I;16"),
    "png_la": _encode("PNG", mode="LA"),
    "jpeg_cmyk": _encode("JPEG", mode="CMYK"),
    "jpeg_exif_rotated": _encode("JPEG", exif=_exif_rotated()),
    "gif_animated": _animated("GIF"),
    "webp_animated": _animated("WEBP"),
}
with contextlib.suppress(Exception):  # HEIF encoding needs pillow-heif's encoder
    SEEDS["heif"] = _encode("HEIF", quality=50)


# ---------------------------------------------------------------------------------------------- mutators
def _png_fix_ihdr(data: bytes, w: int, h: int) -> bytes:
    # PNG: 8-byte signature, then the IHDR chunk: length(4) "IHDR" width(4) height(4) ... crc(4).
    ihdr = bytearray(data[12:29])
    ihdr[4:12] = struct.pack(">II", w, h)
    crc = struct.pack(">I", zlib.crc32(bytes(ihdr)) & 0xFFFFFFFF)
    return data[:12] + bytes(ihdr) + crc + data[33:]


def _jpeg_dims(data: bytes, w: int, h: int) -> bytes:
    out = bytearray(data)
    for marker in (b"\xff\xc0", b"\xff\xc2"):  # SOF0 / SOF2: len(2) precision(1) height(2) width(2)
        i = out.find(marker)
        if i >= 0:
            out[i + 5:i + 9] = struct.pack(">HH", h & 0xFFFF, w & 0xFFFF)
    return bytes(out)


def _gif_dims(data: bytes, w: int, h: int) -> bytes:
    out = bytearray(data)
    out[6:10] = struct.pack("<HH", w & 0xFFFF, h & 0xFFFF)  # logical screen
    i = out.find(b"\x2c", 13)  # image descriptor: left, top, width, height
    if i >= 0:
        out[i + 5:i + 9] = struct.pack("<HH", w & 0xFFFF, h & 0xFFFF)
    return bytes(out)


def _bmp_dims(data: bytes, w: int, h: int) -> bytes:
    out = bytearray(data)
    out[18:26] = struct.pack("<ii", _i32(w), _i32(h))
    return bytes(out)


def _webp_dims(data: bytes, w: int, h: int) -> bytes:
    out = bytearray(data)
    i = out.find(b"VP8 ")
    if i >= 0:  # lossy: after the 3-byte frame tag and the start code 9d 01 2a: 14-bit width, height
        j = out.find(b"\x9d\x01\x2a", i)
        if j >= 0:
            out[j + 3:j + 7] = struct.pack("<HH", w & 0x3FFF, h & 0x3FFF)
    i = out.find(b"VP8L")
    if i >= 0:  # lossless: signature 0x2f, then 14-bit (width-1) and (height-1)
        bits = ((w - 1) & 0x3FFF) | (((h - 1) & 0x3FFF) << 14)
        out[i + 9:i + 13] = struct.pack("<I", bits)
    return bytes(out)


def _i32(v: int) -> int:
    return (v + 2**31) % 2**32 - 2**31


_DIMS = {"png": _png_fix_ihdr, "png_rgba": _png_fix_ihdr, "png_palette": _png_fix_ihdr,
         "jpeg": _jpeg_dims, "progressive_jpeg": _jpeg_dims, "gif": _gif_dims, "bmp": _bmp_dims,
         "webp": _webp_dims, "webp_lossless": _webp_dims}

_EDGE_DIMENSIONS = [0, 1, 15, 16, 17, 500, 501, 65535, 2**16, 2**24, 2**31 - 1, 2**32 - 1]
dimension = st.one_of(st.sampled_from(_EDGE_DIMENSIONS), st.integers(0, 2**32 - 1))


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    name = draw(st.sampled_from(sorted(SEEDS)))
    data = SEEDS[name]
    for _ in range(draw(st.integers(1, 4))):
        op = draw(st.sampled_from(["truncate", "flip", "overwrite", "splice", "dims", "dims"]))
        if op == "dims" and name in _DIMS:
            data = _DIMS[name](data, draw(dimension), draw(dimension))
        elif op == "truncate" and len(data) > 1:
            data = data[: draw(st.integers(1, len(data) - 1))]
        elif op == "flip":
            pos = draw(st.integers(0, len(data) - 1))
            data = data[:pos] + bytes([data[pos] ^ (1 << draw(st.integers(0, 7)))]) + data[pos + 1:]
        elif op == "overwrite":
            pos = draw(st.integers(0, len(data) - 1))
            chunk = draw(st.binary(min_size=1, max_size=8))
            data = data[:pos] + chunk + data[pos + len(chunk):]
        elif op == "splice":
            pos = draw(st.integers(0, len(data)))
            data = data[:pos] + draw(st.binary(max_size=64)) + data[pos:]
    return data


inputs = st.one_of(st.binary(max_size=2048), mutated(), mutated())


def check_decode(data: bytes) -> None:
    start = time.monotonic()
    try:
        img = decode_image(data, max_bytes=MAX_BYTES, max_pixels=MAX_PIXELS, min_side=16)
    except ImageRejected:
        pass
    else:
        assert img.mode == "RGB"
        w, h = img.size
        assert w * h <= MAX_PIXELS and min(w, h) >= 1
    assert time.monotonic() - start < CALL_LIMIT_S


# ---------------------------------------------------------------------------------------------- tests
@pytest.fixture(scope="module")
def classifier() -> ReptileClassifier:
    return ReptileClassifier(limits=LIMITS)


def test_seeds_are_valid_images() -> None:
    for name, data in SEEDS.items():
        size = decode_image(data, max_bytes=MAX_BYTES, max_pixels=MAX_PIXELS).size
        assert size == ((30, 40) if "rotated" in name else (40, 30)), name


@FUZZ
@given(inputs)
def test_decode_image_only_rejects(data: bytes) -> None:
    check_decode(data)


@settings(FUZZ, max_examples=max(20, EXAMPLES // 4))
@given(mutated())
def test_identify_only_rejects(classifier: ReptileClassifier, data: bytes) -> None:
    start = time.monotonic()
    try:
        ident = classifier.identify(data)
    except ImageRejected:
        return
    assert 0.0 <= ident.reptile_probability <= 1.0
    assert time.monotonic() - start < CALL_LIMIT_S


#: Inputs that once made decoding raise something other than ImageRejected (or hang): what they
#: broke, and the bytes. Found by this file's fuzzing; fixed in inference/preprocess.py.
REGRESSIONS: dict[str, bytes] = {}


@pytest.mark.parametrize("data", list(REGRESSIONS.values()) or [b""], ids=list(REGRESSIONS) or ["none"])
def test_regressions(data: bytes) -> None:
    check_decode(data)
