"""Read and validate C2PA Content Credentials with c2pa-python. The only module that imports ``c2pa``.

The c2pa ``Context`` (trust anchors, allowed list, EKU config, no network) is built once per process and reused:
building it parses the PEM bundles, which costs far more than reading a small image.
"""

from __future__ import annotations

import contextlib
import json
import struct
import sys
import threading
from pathlib import Path
from typing import Any, BinaryIO

import c2pa

from pipeline.adapters.credentials.bmff import xmp_packets
from pipeline.credentials.manifest import CRJSON_KEY
from pipeline.credentials.raw import RawReport, raw, report_from_raw
from pipeline.credentials.traces import (
    EXIF_IFD,
    EXIF_TAGS,
    USER_COMMENT,
    bounded_fields,
    container_fields,
    exif_text,
    iptc_fields,
    is_media_container,
    xmp_fields,
)
from pipeline.credentials.trust import TrustFiles
from pipeline.credentials.xmp import xmp_source_types
from pipeline.model import Provenance
from pipeline.ports import CredentialReport
from pipeline.remote_manifests import MAX_URL_CHARS, reference_url

_STATES: dict[str, Provenance] = {"Trusted": "trusted", "Valid": "valid", "Invalid": "invalid"}


def c2pa_settings(trust: TrustFiles) -> dict[str, Any]:
    """c2pa-rs settings: verify everything, fetch nothing (no remote manifests, no OCSP) during verification."""
    settings: dict[str, Any] = {
        "verify": {"verify_trust": True, "remote_manifest_fetch": False, "ocsp_fetch": False},
    }
    trust_section: dict[str, str] = {}
    if trust.anchors:
        trust_section["trust_anchors"] = trust.anchors.read_text()
    if trust.allowed:
        trust_section["allowed_list"] = trust.allowed.read_text()
    if trust.config:
        trust_section["trust_config"] = trust.config.read_text()
    if trust_section:
        settings["trust"] = trust_section
    return settings


class C2paCredentialReader:
    """:class:`pipeline.ports.CredentialReader` backed by c2pa-python."""

    def __init__(self, trust: TrustFiles | None = None) -> None:
        self._trust = trust or TrustFiles()
        self._lock = threading.Lock()
        self._fingerprint = self._trust.fingerprint()
        self._context = c2pa.Context.from_dict(c2pa_settings(self._trust))

    def _current_context(self) -> Any:
        """The c2pa Context, rebuilt when a trust file changed on disk (checked by mtime: one stat per file)."""
        fingerprint = self._trust.fingerprint()
        if fingerprint != self._fingerprint:
            with self._lock:
                if fingerprint != self._fingerprint:
                    self._fingerprint = fingerprint
                    try:
                        self._context = c2pa.Context.from_dict(c2pa_settings(self._trust))
                    except (OSError, c2pa.C2paError) as exc:
                        # A trust file was removed or is being replaced by hand: keep validating against the last
                        # good lists rather than failing every object; `trust refresh` replaces files atomically.
                        print(
                            f"media-ingest reader: trust files changed but cannot be loaded ({exc}); "
                            "keeping the previous trust lists",
                            file=sys.stderr,
                            flush=True,
                        )
        return self._context

    def read(self, path: Path) -> CredentialReport:
        return report_from_raw(self.read_raw(path))

    def read_raw(self, path: Path, manifest: Path | None = None) -> RawReport:
        """Read ``path``; the JSON-safe result (see :mod:`pipeline.credentials.raw`). Never raises for bad input.

        ``manifest`` is the remote manifest store the asset references, fetched by the worker: the asset is then
        validated against it (c2pa's ``Reader`` with ``manifest_data``) instead of looking for an embedded one.
        """
        if path.stat().st_size == 0:
            return raw("unreadable", "empty object (0 bytes)")
        if manifest is not None:
            return self._read_with_manifest(path, manifest.read_bytes())
        with path.open("rb") as stream:
            result = self._read_stream(stream)
        if result["provenance"] in ("absent", "unreadable", "invalid"):
            xmp, fields = _unsigned_metadata(path)
            if result["provenance"] == "absent":
                result["xmp_source_types"] = xmp
            result["metadata_fields"] = fields
        return result

    def _read_with_manifest(self, path: Path, data: bytes) -> RawReport:
        context = self._current_context()
        with path.open("rb") as stream:
            try:
                return _report(c2pa.Reader(None, stream, data, context))
            except c2pa.C2paError as exc:
                message = str(exc).strip() or type(exc).__name__
                return raw("unreadable", f"the fetched remote manifest is not a C2PA manifest store: {message}")

    def _read_stream(self, stream: BinaryIO) -> RawReport:
        context = self._current_context()
        try:
            return _report(c2pa.Reader(None, stream, None, context))
        except c2pa.C2paError.ManifestNotFound:
            return raw("absent", "no Content Credentials in the file")
        except c2pa.C2paError.NotSupported:
            hinted = _format_hint(stream)
            if hinted is None:
                return raw("unreadable", "not a format that can carry Content Credentials")
            stream.seek(0)
            try:
                return _report(c2pa.Reader(hinted, stream, None, context))
            except c2pa.C2paError.ManifestNotFound:
                return raw("absent", "no Content Credentials in the file")
            except c2pa.C2paError as exc:
                return _unreadable(exc)
        except c2pa.C2paError as exc:
            return _unreadable(exc)


def _report(reader: Any) -> RawReport:
    with reader:
        doc = json.loads(reader.json())
        # The rubric signals need crJSON: json() relabels v1 actions as v2 and drops manifests it cannot load.
        with contextlib.suppress(c2pa.C2paError):
            doc[CRJSON_KEY] = json.loads(reader.crjson())
        state = reader.get_validation_state() or doc.get("validation_state")
    doc["validation_state"] = state
    return raw(_STATES.get(str(state), "invalid"), None, doc)


def _unreadable(exc: Exception) -> RawReport:
    message = str(exc).strip() or type(exc).__name__
    if message.startswith("Remote:") or "remote manifest" in message.lower():
        # The URL comes from the upload (its XMP dcterms:provenance), through c2pa's message: used only if it is one.
        reference = message.rsplit(" ", 1)[-1]
        url = reference_url(reference)
        if url is None:  # not echoed: it may be megabytes, or carry credentials
            return raw(
                "unreadable",
                f"remote manifest reference refused: not a usable http(s) URL ({len(reference)} characters; "
                f"at most {MAX_URL_CHARS}, no credentials, whitespace or control characters)",
            )
        return {**raw("unreadable", f"remote manifest not fetched ({url})"), "manifest_url": url}
    return raw("unreadable", f"malformed: {message}")


def _unsigned_metadata(path: Path) -> tuple[list[str], list[list[str]]]:
    """IPTC DigitalSourceType and the generator-trace fields (PNG text, EXIF, XMP, IPTC-IIM) of an image Pillow can
    open (JPEG, PNG, WebP, TIFF, GIF).

    Pillow reads headers and metadata chunks without decoding pixels (the XMP packet parsed with defusedxml, PNG
    text chunks up to ``PngImagePlugin.MAX_TEXT_CHUNK`` each and ``MAX_TEXT_MEMORY`` in all); the fields are then
    capped (:func:`pipeline.credentials.traces.bounded_fields`). Anything it cannot open simply has no unsigned
    metadata, including a header that claims more pixels than Pillow's decompression-bomb limit (it refuses those
    in ``open``, before reading any chunk). PNG text and ``eXIf`` chunks after the image data are not read: finding
    them would mean decoding the pixels. A file Pillow does not recognise may be a video or audio container
    (:func:`_container_metadata`).
    """
    from PIL import Image, IptcImagePlugin, UnidentifiedImageError

    try:
        with Image.open(path) as image:
            packet = image.getxmp()
            fields: list[tuple[object, object, object]] = []
            if image.format == "PNG":
                fields += [("png-text", key, value) for key, value in image.info.items() if isinstance(value, str)]
            fields += _exif_fields(image)
            fields += xmp_fields(packet)
            fields += iptc_fields(IptcImagePlugin.getiptcinfo(image))
            return xmp_source_types(packet), [list(f) for f in bounded_fields(fields)]
    except UnidentifiedImageError:
        return _container_metadata(path)
    except (Image.DecompressionBombError, OSError, ValueError, SyntaxError, struct.error, EOFError, KeyError,
            TypeError):  # fmt: skip
        return [], []


PROBE_BYTES = 1 << 20
"""Most bytes FFmpeg reads to recognise a container and its streams (``probesize``); with ``analyzeduration`` 0 it
decodes nothing to guess stream parameters. Tags live in the headers (MP4's ``moov``, which FFmpeg finds by seeking
past ``mdat`` when it comes last; Matroska's ``Tags``; the ID3 header)."""


def _container_metadata(path: Path) -> tuple[list[str], list[list[str]]]:
    """IPTC DigitalSourceType and the trace fields of an MP4/MOV, WebM/Matroska, MP3, WAV/AVI, Ogg or FLAC file:
    its format and stream tags, with PyAV (FFmpeg), and for ISO BMFF (MP4, MOV, M4A) the XMP packets of its
    ``uuid``/``XMP_`` boxes, found by a bounded walk over box headers (:mod:`.bmff`: FFmpeg reads those only whole).

    Only files whose first bytes name one of those containers are opened, never arbitrary bytes; FFmpeg reads the
    headers, no frame is decoded. MP4 tags written with ``movflags=use_metadata_tags`` (ComfyUI's ``prompt``,
    ``workflow``) come back under their own names, Matroska's in upper case (names compare ignoring case).
    """
    with path.open("rb") as stream:
        head = stream.read(12)
        if not is_media_container(head):
            return [], []
        packets = [_parse_xmp(p) for p in xmp_packets(stream)] if head[4:8] == b"ftyp" else []
    import av

    tags: list[tuple[object, object]] = []
    try:
        options = {"probesize": str(PROBE_BYTES), "analyzeduration": "0"}
        with av.open(str(path), options=options, metadata_errors="ignore") as container:
            tags = list(container.metadata.items())
            for media in container.streams:
                tags += list(media.metadata.items())
    except (av.FFmpegError, OSError, ValueError, UnicodeDecodeError):
        tags = []
    fields: list[tuple[object, object, object]] = [*container_fields(tags)]
    source_types: set[str] = set()
    for packet in packets:
        fields += xmp_fields(packet)
        source_types.update(xmp_source_types(packet))
    return sorted(source_types), [list(f) for f in bounded_fields(fields)]


def _parse_xmp(packet: bytes) -> dict[str, Any]:
    """An XMP packet parsed as Pillow parses an image's (``Image.getxmp``: defusedxml, namespaces dropped); ``{}``
    for one that is not well-formed XML or declares entities."""
    from PIL import Image

    holder = Image.new("1", (1, 1))
    holder.info["xmp"] = packet.strip(b"\x00 \t\r\n")
    try:
        return holder.getxmp()
    except (SyntaxError, ValueError, RecursionError):  # ParseError; defusedxml's EntitiesForbidden; deep nesting
        return {}


def _exif_fields(image: Any) -> list[tuple[object, object, object]]:
    from PIL import Image

    if image.format == "PNG":  # PngImageFile.getexif() decodes the image to look for an eXIf chunk after IDAT
        if "exif" not in image.info:
            return []
        exif = Image.Exif()
        exif.load(image.info["exif"])
    else:
        exif = image.getexif()
    values = [(name, exif.get(tag)) for tag, name in EXIF_TAGS.items()]
    values.append(("UserComment", exif.get_ifd(EXIF_IFD).get(USER_COMMENT)))
    return [("exif", name, text) for name, value in values if (text := exif_text(value))]


def _format_hint(stream: BinaryIO) -> str | None:
    """The two containers c2pa does not detect from bytes alone: SVG (XML text) and a JUMBF sidecar ``.c2pa``."""
    stream.seek(0)
    head = stream.read(4096)
    if head[4:8] == b"jumb":
        return "application/c2pa"
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    if text.startswith((b"<?xml", b"<svg", b"<!DOCTYPE svg")) and b"<svg" in head:
        return "image/svg+xml"
    return None


def check_trust(trust: TrustFiles) -> None:
    """Build the Context a reader builds from ``trust``; raise UnloadableTrust naming the file c2pa refuses.

    A bundle that parses as PEM can still be one c2pa cannot load (a byte-order mark, an indented block, an empty
    anchors file), and then every reader child exits at start. ``media-ingest trust refresh`` and the start-up
    settings check run this in a short child (:func:`pipeline.credentials.trust.check_with_c2pa`).
    """
    from pipeline.credentials.trust import UnloadableTrust

    try:
        c2pa.Context.from_dict(c2pa_settings(trust))
    except (OSError, ValueError, c2pa.C2paError) as exc:
        for path, alone in (
            (trust.anchors, TrustFiles(anchors=trust.anchors)),
            (trust.allowed, TrustFiles(allowed=trust.allowed)),
            (trust.config, TrustFiles(config=trust.config)),
        ):
            if path is None:
                continue
            try:
                c2pa.Context.from_dict(c2pa_settings(alone))
            except (OSError, ValueError, c2pa.C2paError) as alone_exc:
                raise UnloadableTrust(path, f"c2pa cannot load it ({alone_exc})") from None
        raise UnloadableTrust(None, f"c2pa cannot load these trust files together ({exc})") from None


def check_trust_main(argv: list[str]) -> int:
    """The check child: ANCHORS ALLOWED CONFIG (empty for unset) in, exit 0 or one JSON line ``{file, error}``."""
    from pipeline.credentials.trust import UnloadableTrust

    anchors, allowed, config = (Path(a) if a else None for a in [*argv, "", "", ""][:3])
    try:
        check_trust(TrustFiles(anchors, allowed, config))
    except UnloadableTrust as exc:
        print(json.dumps({"file": str(exc.path) if exc.path else None, "error": exc.message}), flush=True)
        return 1
    return 0
