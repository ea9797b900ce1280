"""XMP packets of an MP4/MOV/M4A (ISO BMFF) file, found by a minimal, bounded walk over its box headers.

Where generators and editors put XMP in these files: a ``uuid`` box with the XMP user type
``BE7ACFCB-97A9-42E8-9C71-999491E3AFAC`` (the XMP specification, part 3; at the top level or in ``moov``/``trak``/
``udta``), and QuickTime's ``XMP_`` box in ``udta``. FFmpeg reports neither as a tag unless its mov demuxer's
``export_xmp`` option is set, and then it reads the whole box into memory whatever its size (``mov_read_uuid``
allocates the box's length), which is not a bound a crafted upload should get; nor does any other maintained
library the project uses expose them. So this walk reads them itself, and only them:

* box headers only (8 or 16 bytes, plus the 16-byte user type of a ``uuid`` box), skipping every payload by seeking
  (``mdat`` is never read), descending only into ``moov``, ``trak``, ``udta`` and ``meta``;
* at most :data:`MAX_BOXES` headers, :data:`MAX_DEPTH` levels, :data:`MAX_PACKETS` packets, each read only when it
  is at most :data:`MAX_XMP_BYTES` (a larger one is skipped, not truncated: half an XML document parses as nothing).

The text tags of ``udta`` (``©too``, ``©cmt``, ...) and ``meta``/``ilst`` stay FFmpeg's (PyAV's container tags).
"""

from __future__ import annotations

import os
import struct
from typing import BinaryIO

XMP_UUID = bytes.fromhex("be7acfcb97a942e89c71999491e3afac")
CONTAINERS = frozenset({b"moov", b"trak", b"udta", b"meta"})
MAX_BOXES = 4096
MAX_DEPTH = 4
MAX_PACKETS = 2
MAX_XMP_BYTES = 1 << 20
"""Largest XMP packet read (1 MiB); an Adobe packet with history is tens of KB."""


def xmp_packets(stream: BinaryIO) -> list[bytes]:
    """The XMP packets of the ISO BMFF file open in ``stream`` (binary, seekable), in file order."""
    size = stream.seek(0, os.SEEK_END)
    found: list[bytes] = []
    budget = [MAX_BOXES]
    _walk(stream, 0, size, 0, found, budget)
    return found


def _walk(stream: BinaryIO, start: int, end: int, depth: int, found: list[bytes], budget: list[int]) -> None:
    offset = start
    while offset + 8 <= end and budget[0] > 0 and len(found) < MAX_PACKETS:
        budget[0] -= 1
        stream.seek(offset)
        header = stream.read(8)
        if len(header) < 8:
            return
        length, kind = struct.unpack(">I4s", header)
        header_length = 8
        if length == 1:
            large = stream.read(8)
            if len(large) < 8:
                return
            (length,) = struct.unpack(">Q", large)
            header_length = 16
        elif length == 0:
            length = end - offset  # to the end of its parent
        if length < header_length or offset + length > end:
            return  # a box that does not fit: the rest of this level is not trusted
        body, body_end = offset + header_length, offset + length
        if kind == b"uuid" and body + 16 <= body_end:
            if stream.read(16) == XMP_UUID:
                _take(stream, body + 16, body_end, found)
        elif kind == b"XMP_":
            _take(stream, body, body_end, found)
        elif kind in CONTAINERS and depth < MAX_DEPTH:
            if kind == b"meta" and _is_full_box(stream, body, body_end):
                body += 4  # ISO's meta is a FullBox (version, flags); QuickTime's is not
            _walk(stream, body, body_end, depth + 1, found, budget)
        offset = body_end


def _is_full_box(stream: BinaryIO, body: int, end: int) -> bool:
    """ISO ``meta`` starts with 4 bytes of version and flags (zero); QuickTime's starts with a child box's size."""
    stream.seek(body)
    return body + 4 <= end and stream.read(4) == b"\0\0\0\0"


def _take(stream: BinaryIO, start: int, end: int, found: list[bytes]) -> None:
    if 0 < end - start <= MAX_XMP_BYTES:
        stream.seek(start)
        found.append(stream.read(end - start))
