"""Generator traces outside C2PA: the fields generators write about themselves, and the registry that reads them. Pure.

The reader child extracts a bounded list of metadata fields (:data:`MetadataField`: family, field name, text) from
files without a usable manifest; :func:`match_traces` applies the policy file's ``[[traces.signatures]]`` to them.
A signature names one family and one field exactly and a regular expression searched in that field's text only,
never in the whole file, so a camera's ``Make``, an editor's ``Software`` or a prompt quoted in a caption cannot
match unless a signature names that field.

Families: ``png-text`` (PNG tEXt/iTXt/zTXt chunks by keyword), ``exif`` (EXIF/TIFF tags by Pillow's tag name:
``Software``, ``ImageDescription``, ``UserComment``, ``Artist``, ``Copyright``), ``xmp`` (XMP properties by local
name, e.g. ``CreatorTool``, ``Credit``), ``iptc`` (IPTC-IIM datasets in a JPEG's Photoshop APP13 block or a TIFF's
IPTC tag, by dataset name: ``Credit``, ``Source``, ``By-line``, ``OriginatingProgram``), ``container-metadata``
(the format and stream tags FFmpeg reports for MP4/MOV, WebM/Matroska, MP3 ID3, WAV/AVI RIFF INFO, Ogg, FLAC, by
tag name as FFmpeg gives it: ``prompt``, ``comment``, ``encoder``, ...).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

FAMILIES = ("png-text", "exif", "xmp", "iptc", "container-metadata")
TRACE_LABELS = ("ai_generated", "ai_edited")
"""A trace is an unsigned declaration: it can only make a label AI, never ``captured`` or anything weaker."""

MAX_FIELDS = 64
"""Most fields the reader child sends per file (a PNG may carry any number of text chunks)."""
MAX_FIELD_CHARS = 8192
"""Longest text kept per field, in characters: a ComfyUI ``workflow`` can be 100 KB, and every signature matches
in its first few hundred characters."""
MAX_NAME_CHARS = 80
"""Longest field name kept (PNG keywords are at most 79 bytes)."""

MetadataField = tuple[str, str, str]
"""``(family, field name, text)``."""


@dataclass(frozen=True)
class TraceSignature:
    """One registry entry: the text of ``field`` in ``family`` matches ``pattern`` (and not ``unless``)."""

    family: str
    field: str
    pattern: re.Pattern[str]
    generator: str
    label: str
    unless: re.Pattern[str] | None = None


@dataclass(frozen=True)
class TraceMatch:
    family: str
    field: str
    generator: str
    label: str


def bounded_fields(fields: object) -> tuple[MetadataField, ...]:
    """The fields as the report keeps them (from the child's JSON): known families, strings, capped in count and
    length; anything else is dropped."""
    kept: list[MetadataField] = []
    for entry in fields if isinstance(fields, list | tuple) else ():
        if len(kept) >= MAX_FIELDS:
            break
        if not isinstance(entry, list | tuple) or len(entry) != 3:
            continue
        family, name, text = entry
        if family in FAMILIES and isinstance(name, str) and isinstance(text, str) and name:
            kept.append((str(family), name[:MAX_NAME_CHARS], text[:MAX_FIELD_CHARS]))
    return tuple(kept)


def match_traces(fields: Iterable[MetadataField], signatures: Iterable[TraceSignature]) -> TraceMatch | None:
    """The first signature, in registry order, that one of the fields matches; None if none does.

    Field names compare ignoring case (PNG keywords are case-sensitive, but no two generators differ only by case).
    Registry order decides: an entry that says "edited" (img2img parameters) comes before the general one.
    """
    by_key: dict[tuple[str, str], list[str]] = {}
    for family, name, text in fields:
        by_key.setdefault((family, name.lower()), []).append(text)
    for signature in signatures:
        for text in by_key.get((signature.family, signature.field.lower()), ()):
            if signature.pattern.search(text) and not (signature.unless and signature.unless.search(text)):
                return TraceMatch(signature.family, signature.field, signature.generator, signature.label)
    return None


EXIF_TAGS = {
    0x010E: "ImageDescription",
    0x010F: "Make",
    0x0110: "Model",
    0x0131: "Software",
    0x013B: "Artist",
    0x8298: "Copyright",
}
"""IFD0 tags read as traces, by Pillow's tag names (``PIL.ExifTags.Base``). ``Make`` and ``Model`` only because
ComfyUI's animated WebP puts ``workflow:{...}`` and ``prompt:{...}`` there; no signature matches a camera's name."""
EXIF_IFD = 0x8769
USER_COMMENT = 0x9286
"""``UserComment`` in the Exif IFD: where AUTOMATIC1111 writes its parameters in JPEG and WebP."""
_CHARSETS = {b"ASCII\0\0\0": "ascii", b"JIS\0\0\0\0\0": "shift_jis", b"\0\0\0\0\0\0\0\0": "utf-8"}


IPTC_DATASETS = {(2, 65): "OriginatingProgram", (2, 80): "By-line", (2, 110): "Credit", (2, 115): "Source"}
"""IPTC-IIM datasets read as traces (record 2), by their IIM names: Google writes "Made with Google AI" in Credit."""


def iptc_fields(info: object) -> list[MetadataField]:
    """The :data:`IPTC_DATASETS` of what ``PIL.IptcImagePlugin.getiptcinfo`` returns, as UTF-8 text."""
    if not isinstance(info, dict):
        return []
    found: list[MetadataField] = []
    for key, name in IPTC_DATASETS.items():
        value = info.get(key)
        for item in value if isinstance(value, list) else [value]:
            if isinstance(item, bytes) and (text := item[:MAX_FIELD_CHARS].decode("utf-8", "replace").strip()):
                found.append(("iptc", name, text))
    return found


CONTAINER_MAGIC = (b"\x1aE\xdf\xa3", b"ID3", b"OggS", b"fLaC")
"""Leading bytes of the containers whose tags are read (Matroska/WebM, MP3 with ID3, Ogg, FLAC); ISO BMFF
(MP4, MOV, M4A) is recognised by ``ftyp`` at offset 4 and RIFF (WAV, AVI) by its form type."""


def is_media_container(head: bytes) -> bool:
    """Whether the first 12 bytes of a file are a container :func:`container tags <container_fields>` are read from."""
    return (
        head.startswith(CONTAINER_MAGIC)
        or head[4:8] == b"ftyp"
        or (head[:4] == b"RIFF" and head[8:12] in (b"WAVE", b"AVI "))
    )


def container_fields(tags: Iterable[tuple[object, object]]) -> list[MetadataField]:
    """Container tags (name, value) as ``container-metadata`` fields; values that are not text are left out."""
    return [("container-metadata", str(name), value) for name, value in tags if isinstance(value, str) and value]


def exif_text(value: object) -> str | None:
    """An EXIF value as text: ASCII tags as Pillow gives them, ``UserComment`` bytes by their 8-byte charset code
    (``UNICODE`` is UTF-16: big-endian as piexif writes it, or little-endian when the bytes say so)."""
    if isinstance(value, str):
        return value.strip("\0 ")
    if not isinstance(value, bytes):
        return None
    head, body = value[:8], value[8 : MAX_FIELD_CHARS * 2 + 8]
    if head == b"UNICODE\0":
        little = len(body) >= 2 and body[0] != 0 and body[1] == 0
        return body.decode("utf-16-le" if little else "utf-16-be", "replace").strip("\0 ")
    if head in _CHARSETS:
        return body.decode(_CHARSETS[head], "replace").strip("\0 ")
    return value[:MAX_FIELD_CHARS].decode("utf-8", "replace").strip("\0 ")


def xmp_fields(packet: object) -> list[MetadataField]:
    """Every text leaf of an XMP packet as Pillow's ``getxmp()`` returns it, named by its property's local name
    (``CreatorTool``, ``Credit``, ``UserComment``); ``rdf:Alt``/``rdf:li`` wrappers are looked through."""
    found: list[MetadataField] = []

    def walk(node: object, name: str) -> None:
        if len(found) >= MAX_FIELDS:
            return
        if isinstance(node, str):
            if name and node.strip():
                found.append(("xmp", name, node.strip()))
        elif isinstance(node, dict):
            for key, value in node.items():
                wrapper = key in ("li", "Alt", "Bag", "Seq", "text", "Description", "RDF", "xmpmeta")
                walk(value, name if wrapper else str(key))
        elif isinstance(node, list):
            for item in node:
                walk(item, name)

    walk(packet, "")
    return found
