"""Photo files for the feedback tests: a real photo with a GPS position in its EXIF, and
hostile uploads (SVG, HTML and ZIP polyglots, decompression bombs, oversize, truncated)."""

from __future__ import annotations

import io
import struct
import zlib

from PIL import Image

GPS_IFD = 0x8825


def photo_with_gps(size=(640, 480), orientation: int | None = None) -> bytes:
    """A JPEG with a camera model, a GPS position (Beilun) and a comment in its metadata."""
    im = Image.new("RGB", size, (30, 120, 200))
    for x in range(0, size[0], 40):
        im.paste((250, 200, 40), (x, 0, x + 20, size[1] // 2))
    exif = Image.Exif()
    exif[0x010F] = "PhoneMaker"
    exif[0x0110] = "Phone 12"
    if orientation is not None:
        exif[0x0112] = orientation
    gps = exif.get_ifd(GPS_IFD)
    gps.update({1: "N", 2: (29.0, 54.0, 12.5), 3: "E", 4: (121.0, 50.0, 30.25)})
    out = io.BytesIO()
    im.save(out, "JPEG", exif=exif, comment=b"taken by someone")
    return out.getvalue()


def png(size=(64, 48), mode="RGBA") -> bytes:
    im = Image.new(mode, size, (200, 0, 0, 128) if mode == "RGBA" else 128)
    out = io.BytesIO()
    im.save(out, "PNG")
    return out.getvalue()


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_bomb(side: int = 20_000) -> bytes:
    """A greyscale PNG of ``side`` x ``side`` pixels of zeros: a few hundred kB on disk,
    ``side**2`` bytes once decoded (400 MB for the default)."""
    comp = zlib.compressobj(9)
    row = b"\x00" * (side + 1)  # filter byte + one byte per pixel
    body = b"".join(comp.compress(row) for _ in range(side)) + comp.flush()
    ihdr = struct.pack(">IIBBBBB", side, side, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", body) + _chunk(b"IEND", b"")
    )


SVG = (
    b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg" width="10" height="10">'
    b'<script>alert(1)</script><rect width="10" height="10"/></svg>'
)
HTML = b"<!doctype html><html><body><script>alert(1)</script></body></html>"


def jpeg_html_polyglot() -> bytes:
    """A valid JPEG whose comment segment is a web page (opens as HTML if sniffed)."""
    im = Image.new("RGB", (32, 32), (0, 0, 0))
    out = io.BytesIO()
    im.save(out, "JPEG", comment=b"<html><script>alert(document.cookie)</script></html>")
    return out.getvalue()


def gif_js_polyglot() -> bytes:
    """The classic GIF/JavaScript polyglot header (``GIF89a=...``): not a format taken."""
    return b"GIF89a/*\x01\x00\x01\x00\x00\x00\x00*/=alert(1)//;" + b"\x00" * 32


def jpeg_zip_polyglot() -> bytes:
    """A JPEG with a ZIP archive appended (opens as either)."""
    import zipfile

    im = Image.new("RGB", (32, 32), (0, 0, 0))
    out = io.BytesIO()
    im.save(out, "JPEG")
    z = io.BytesIO()
    with zipfile.ZipFile(z, "w") as f:
        f.writestr("evil.txt", "payload")
    return out.getvalue() + z.getvalue()


def truncated_jpeg() -> bytes:
    data = photo_with_gps()
    return data[: len(data) // 2]
