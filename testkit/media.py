"""Small real media files made at run time: the assets the tests sign, and the unsigned ones they read."""

from __future__ import annotations

import io
import math
import random
import struct
import wave
from typing import Any

from PIL import Image


def _image(width: int, height: int, seed: int) -> Image.Image:
    """A gradient with seeded noise: different seeds give different pixels (and so different hashes)."""
    rng = random.Random(seed)
    base = (rng.randrange(256), rng.randrange(256), rng.randrange(256))
    pixels = bytearray()
    for y in range(height):
        for x in range(width):
            pixels += bytes(
                (
                    (base[0] + 4 * x + rng.randrange(16)) % 256,
                    (base[1] + 4 * y + rng.randrange(16)) % 256,
                    (base[2] + 2 * (x + y) + rng.randrange(16)) % 256,
                )
            )
    return Image.frombytes("RGB", (width, height), bytes(pixels))


def make_jpeg(width: int = 64, height: int = 48, seed: int = 0, *, xmp_source_type: str | None = None) -> bytes:
    """A small baseline JPEG, with no metadata unless an IPTC DigitalSourceType is asked for (as XMP)."""
    buffer = io.BytesIO()
    extra: dict[str, Any] = {}
    if xmp_source_type:
        extra["xmp"] = (
            '<?xpacket begin="" id="W5M0MpCehiHzreSzNTczkc9d"?><x:xmpmeta xmlns:x="adobe:ns:meta/">'
            '<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"><rdf:Description rdf:about="" '
            'xmlns:Iptc4xmpExt="http://iptc.org/std/Iptc4xmpExt/2008-02-29/">'
            f"<Iptc4xmpExt:DigitalSourceType>{xmp_source_type}</Iptc4xmpExt:DigitalSourceType>"
            '</rdf:Description></rdf:RDF></x:xmpmeta><?xpacket end="w"?>'
        ).encode()
    _image(width, height, seed).save(buffer, "JPEG", quality=85, **extra)
    return buffer.getvalue()


def make_png(width: int = 64, height: int = 48, seed: int = 0) -> bytes:
    """A small RGB PNG with no metadata; the same arguments always give the same bytes."""
    buffer = io.BytesIO()
    _image(width, height, seed).save(buffer, "PNG")
    return buffer.getvalue()


def make_mp4(frames: int = 10, width: int = 64, height: int = 48) -> bytes:
    """A tiny MPEG-4 video (ISO BMFF) made with PyAV, which ships its own FFmpeg.

    PyAV is a runtime dependency now (the reader child reads container tags with it); the demo's samples are still
    images and audio.
    """
    import av

    buffer = io.BytesIO()
    with av.open(buffer, "w", format="mp4") as out:
        stream = out.add_stream("mpeg4", rate=10)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        for i in range(frames):
            frame = av.VideoFrame.from_image(  # type: ignore[no-untyped-call]
                Image.new("RGB", (width, height), (i * 20 % 256, 100, 200))
            )
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return buffer.getvalue()


def make_wav(seconds: float = 0.2, *, rate: int = 16_000, frequency: float = 440.0) -> bytes:
    """A mono 16-bit PCM sine tone (stdlib ``wave``): the smallest real audio c2pa can sign."""
    frames = int(seconds * rate)
    samples = (int(8000 * math.sin(2 * math.pi * frequency * i / rate)) for i in range(frames))
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(b"".join(struct.pack("<h", s) for s in samples))
    return buffer.getvalue()


def corrupt_jpeg_scan(jpeg: bytes) -> bytes:
    """Flip a few bytes of entropy-coded image data, leaving every marker segment (APP11/JUMBF too) intact.

    Only bytes that are neither 0xFF nor preceded by 0xFF are touched and none becomes 0xFF, so the file still
    parses as a JPEG and the manifest still reads: only the data hash stops matching.
    """
    if jpeg[:2] != b"\xff\xd8":
        raise ValueError("not a JPEG")
    offset = 2
    while offset + 4 <= len(jpeg):
        if jpeg[offset] != 0xFF:
            raise ValueError(f"JPEG marker expected at {offset}")
        marker = jpeg[offset + 1]
        length = int.from_bytes(jpeg[offset + 2 : offset + 4], "big")
        if marker == 0xDA:  # start of scan: entropy-coded data follows the header
            scan_start = offset + 2 + length
            break
        offset += 2 + length
    else:
        raise ValueError("no start-of-scan segment")
    scan_end = jpeg.rfind(b"\xff\xd9")
    corrupted = bytearray(jpeg)
    flipped = 0
    position = scan_start + (scan_end - scan_start) // 2
    while flipped < 4 and position < scan_end - 1:
        byte, previous = corrupted[position], corrupted[position - 1]
        if byte != 0xFF and previous != 0xFF and byte ^ 0x5A != 0xFF:
            corrupted[position] = byte ^ 0x5A
            flipped += 1
            position += 7
        else:
            position += 1
    if not flipped:
        raise ValueError("no scan byte could be flipped")
    return bytes(corrupted)
