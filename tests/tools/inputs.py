"""Awkward inputs for the hardening tests and ``make selftest``, all generated in memory.

Every generator returns the file's bytes; nothing is read from disk, so the selftest runs from an
installed checkout. Images are small (a few kB) except where size is the point.
"""

from __future__ import annotations

import io
import struct
import zlib
from collections.abc import Callable

from PIL import Image

try:
    from pillow_heif import register_heif_opener

    register_heif_opener()  # lets Pillow *write* HEIC too (pillow-heif ships an x265 encoder)
except ImportError:  # pragma: no cover - pillow-heif is a runtime dependency
    pass


def scene(size: tuple[int, int] = (320, 240), mode: str = "RGB") -> Image.Image:
    """A deterministic colourful picture (gradients and stripes), so encoders keep some detail."""
    w, h = size
    img = Image.new("RGB", size)
    img.putdata([((x * 255) // max(1, w - 1), (y * 255) // max(1, h - 1), ((x // 8 + y // 8) % 2) * 200)
                 for y in range(h) for x in range(w)])
    return img if mode == "RGB" else img.convert(mode)


def encode(img: Image.Image, fmt: str, **params: object) -> bytes:
    """``img`` saved as ``fmt`` into bytes."""
    buf = io.BytesIO()
    img.save(buf, fmt, **params)
    return buf.getvalue()


def jpeg(size: tuple[int, int] = (320, 240)) -> bytes:
    """A normal baseline JPEG."""
    return encode(scene(size), "JPEG", quality=85)


def png(size: tuple[int, int] = (320, 240)) -> bytes:
    """A normal RGB PNG."""
    return encode(scene(size), "PNG")


def truncated(data: bytes, keep: float = 0.5) -> bytes:
    """The first ``keep`` fraction of ``data`` (a download cut off half-way)."""
    return data[: max(1, int(len(data) * keep))]


def corrupted(data: bytes, header: int = 64) -> bytes:
    """``data`` with everything after the first ``header`` bytes overwritten by a byte pattern."""
    body = bytes((i * 131 + 7) % 256 for i in range(len(data) - header))
    return data[:header] + body


def png_16bit() -> bytes:
    """A 16-bit greyscale PNG."""
    img = Image.new("I;16", (256, 192))
    img.putdata([(x * 256 + y * 80) % 65536 for y in range(192) for x in range(256)])
    return encode(img, "PNG")


def cmyk_jpeg() -> bytes:
    """A CMYK JPEG (as written by print workflows)."""
    return encode(scene(mode="CMYK"), "JPEG", quality=85)


def exif_rotated_jpeg() -> bytes:
    """A portrait photo stored landscape with EXIF Orientation = 6 (rotate 90° clockwise to view)."""
    img = scene((320, 240))
    exif = Image.Exif()
    exif[0x0112] = 6
    return encode(img, "JPEG", quality=85, exif=exif.tobytes())


def palette_png_transparent() -> bytes:
    """A palette (P mode) PNG with a transparent colour."""
    img = scene().convert("P", palette=Image.Palette.ADAPTIVE, colors=32)
    return encode(img, "PNG", transparency=0)


def _frames(n: int = 4) -> list[Image.Image]:
    return [scene().rotate(i * 15) for i in range(n)]


def animated_gif() -> bytes:
    """A 4-frame animated GIF."""
    first, *rest = _frames()
    return encode(first, "GIF", save_all=True, append_images=rest, duration=100, loop=0)


def animated_webp() -> bytes:
    """A 4-frame animated WebP."""
    first, *rest = _frames()
    return encode(first, "WEBP", save_all=True, append_images=rest, duration=100, loop=0)


def heic() -> bytes:
    """An HEIC photo (iPhone format)."""
    return encode(scene(), "HEIF", quality=70)


def one_pixel() -> bytes:
    """A 1×1 PNG."""
    return encode(Image.new("RGB", (1, 1), (10, 200, 10)), "PNG")


def png_bomb(side: int = 30_000) -> bytes:
    """A ``side``×``side`` 1-bit PNG of zeros: ~110 kB on disk, 900 Mpx (2.7 GB as RGB) decoded.

    Written chunk by chunk with zlib so building it never holds the raw pixels in memory.
    """

    def chunk(kind: bytes, payload: bytes) -> bytes:
        return (struct.pack(">I", len(payload)) + kind + payload
                + struct.pack(">I", zlib.crc32(kind + payload) & 0xFFFFFFFF))

    row = b"\x00" * (1 + (side + 7) // 8)  # filter byte + packed bits
    comp = zlib.compressobj(9)
    rows_per_piece = 1000
    piece = row * rows_per_piece
    idat = bytearray()
    for _ in range(side // rows_per_piece):
        idat += comp.compress(piece)
    idat += comp.compress(row * (side % rows_per_piece))
    idat += comp.flush()
    ihdr = struct.pack(">IIBBBBB", side, side, 1, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", bytes(idat)) + chunk(b"IEND", b"")


SVG = (b'<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg" width="100" height="100">'
       b'<circle cx="50" cy="50" r="40" fill="green"/></svg>\n')
HTML = (b"<!DOCTYPE html>\n<html><head><title>Lizards</title></head>"
        b"<body><h1>Lizards</h1><img src=x onerror=alert(1)></body></html>\n")
PDF = (b"%PDF-1.4\n1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj\n"
       b"2 0 obj << /Type /Pages /Kids [] /Count 0 >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n")
TEXT = b"Dear diary, today I saw a lizard on the wall.\n" * 20
#: The start of an MP4 file (ftyp box): what a video sent as a document looks like.
MP4 = b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom" + b"\x00" * 200

#: Name → generator, for reports.
GENERATORS: dict[str, Callable[[], bytes]] = {
    "jpeg": jpeg,
    "png": png,
    "png_16bit": png_16bit,
    "cmyk_jpeg": cmyk_jpeg,
    "exif_rotated_jpeg": exif_rotated_jpeg,
    "palette_png_transparent": palette_png_transparent,
    "animated_gif": animated_gif,
    "animated_webp": animated_webp,
    "heic": heic,
    "one_pixel": one_pixel,
    "png_bomb": png_bomb,
}
