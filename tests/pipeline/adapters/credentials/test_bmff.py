"""The bounded ISO BMFF walk that finds XMP packets in MP4/MOV: where it looks, and what it never reads."""

from __future__ import annotations

import io
from pathlib import Path

from pipeline.adapters.credentials.bmff import MAX_BOXES, MAX_XMP_BYTES, XMP_UUID, xmp_packets
from testkit.traces import container, with_udta_xmp, with_xmp_uuid


def box(kind: bytes, payload: bytes = b"") -> bytes:
    return (8 + len(payload)).to_bytes(4, "big") + kind + payload


class CountingStream(io.BytesIO):
    """Counts the bytes actually read (seeks are free)."""

    def __init__(self, data: bytes) -> None:
        super().__init__(data)
        self.bytes_read = 0

    def read(self, size: int | None = -1) -> bytes:
        chunk = super().read(size)
        self.bytes_read += len(chunk)
        return chunk


FTYP = box(b"ftyp", b"isom\0\0\x02\0isomiso2")


def test_a_top_level_uuid_packet_and_a_quicktime_udta_packet_are_found() -> None:
    assert xmp_packets(io.BytesIO(with_xmp_uuid(container("mp4", {}), "<x:xmpmeta/>"))) == [b"<x:xmpmeta/>"]
    assert xmp_packets(io.BytesIO(with_udta_xmp(container("mov", {}), "<x:xmpmeta/>"))) == [b"<x:xmpmeta/>"]
    assert xmp_packets(io.BytesIO(container("mp4", {}))) == []


def test_packets_in_trak_udta_and_an_iso_meta_full_box() -> None:
    in_trak = box(b"moov", box(b"trak", box(b"udta", box(b"uuid", XMP_UUID + b"<trak/>"))))
    iso_meta = box(b"moov", box(b"meta", b"\0\0\0\0" + box(b"hdlr", b"\0" * 24) + box(b"XMP_", b"<meta/>")))
    assert xmp_packets(io.BytesIO(FTYP + in_trak)) == [b"<trak/>"]
    assert xmp_packets(io.BytesIO(FTYP + iso_meta)) == [b"<meta/>"]


def test_the_media_payload_is_skipped_not_read() -> None:
    """A 20 MB ``mdat`` before the packet: only box headers and the packet are read."""
    mdat = box(b"mdat", b"\0" * 20_000_000)
    stream = CountingStream(FTYP + mdat + box(b"moov", box(b"mvhd", b"\0" * 100)) + box(b"uuid", XMP_UUID + b"<x/>"))
    assert xmp_packets(stream) == [b"<x/>"]
    assert stream.bytes_read < 100


def test_a_64_bit_box_size_is_followed() -> None:
    large = (1).to_bytes(4, "big") + b"mdat" + (16 + 1000).to_bytes(8, "big") + b"\0" * 1000
    assert xmp_packets(io.BytesIO(FTYP + large + box(b"uuid", XMP_UUID + b"<x/>"))) == [b"<x/>"]


def test_an_oversized_packet_is_skipped_and_other_uuids_ignored() -> None:
    big = box(b"uuid", XMP_UUID + b"x" * (MAX_XMP_BYTES + 1))
    other = box(b"uuid", b"\x11" * 16 + b"<not xmp/>")
    stream = CountingStream(FTYP + big + other + box(b"uuid", XMP_UUID + b"<x/>"))
    assert xmp_packets(stream) == [b"<x/>"]
    assert stream.bytes_read < 200


def test_crafted_sizes_end_the_walk() -> None:
    truncated = FTYP + (1000).to_bytes(4, "big") + b"uuid" + XMP_UUID + b"<x/>"  # claims more than the file has
    assert xmp_packets(io.BytesIO(truncated)) == []
    too_small = FTYP + (4).to_bytes(4, "big") + b"free" + box(b"uuid", XMP_UUID + b"<x/>")
    assert xmp_packets(io.BytesIO(too_small)) == []
    zero = FTYP + (0).to_bytes(4, "big") + b"uuid" + XMP_UUID + b"<to the end/>"  # size 0: to the end of the file
    assert xmp_packets(io.BytesIO(zero)) == [b"<to the end/>"]


def test_the_walk_is_bounded_in_boxes_and_depth() -> None:
    many = FTYP + box(b"free") * (MAX_BOXES + 10) + box(b"uuid", XMP_UUID + b"<late/>")
    stream = CountingStream(many)
    assert xmp_packets(stream) == []
    assert stream.bytes_read <= 8 * MAX_BOXES
    nested = box(b"uuid", XMP_UUID + b"<deep/>")
    for _ in range(6):
        nested = box(b"udta", nested)
    assert xmp_packets(io.BytesIO(FTYP + box(b"moov", nested))) == []


def test_a_packet_that_is_not_safe_xml_gives_no_fields(tmp_path: Path) -> None:
    """Entities (defusedxml refuses them), broken XML: the container's tags are still read, no XMP field comes."""
    from pipeline.adapters.credentials.reader import C2paCredentialReader

    reader = C2paCredentialReader()
    for name, packet in (
        (
            "entity.mp4",
            '<!DOCTYPE x [<!ENTITY a "Made with Google AI">]><x:xmpmeta xmlns:x="adobe:ns:meta/">&a;</x:xmpmeta>',
        ),
        ("broken.mp4", "<x:xmpmeta><rdf:RDF"),
        ("deep.mp4", "<a>" * 5000 + "</a>" * 5000),
    ):
        path = tmp_path / name
        path.write_bytes(with_xmp_uuid(container("mp4", {}), packet))
        report = reader.read(path)
        assert report.provenance == "absent", name
        assert {family for family, _, _ in report.metadata_fields} == {"container-metadata"}, name


def test_an_iptc_digital_source_type_in_a_video_xmp_labels_it(tmp_path: Path) -> None:
    from pipeline.adapters.credentials.reader import C2paCredentialReader
    from pipeline.policy import decide, load_policy
    from pipeline.settings import DEFAULT_POLICY

    packet = (
        '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
        '<rdf:Description rdf:about="" xmlns:Iptc4xmpExt="http://iptc.org/std/Iptc4xmpExt/2008-02-29/" '
        'Iptc4xmpExt:DigitalSourceType="http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia"/>'
        "</rdf:RDF></x:xmpmeta>"
    )
    path = tmp_path / "iptc.mp4"
    path.write_bytes(with_xmp_uuid(container("mp4", {}), packet))
    report = C2paCredentialReader().read(path)
    assert report.xmp_source_types == ("trainedAlgorithmicMedia",)
    decision = decide(report, load_policy(DEFAULT_POLICY))
    assert (decision.label, decision.label_source) == ("ai_generated", "iptc-xmp")
