"""Generator traces outside C2PA: Pillow-made files in each generator's field layout, read by the real c2pa reader
(in process and in the reader child), labelled by the shipped policy's registry; the negatives never become AI."""

from __future__ import annotations

import io
import re
import struct
import zlib
from datetime import UTC, datetime
from pathlib import Path

import pytest
from PIL import Image

from pipeline.adapters.credentials.isolated import IsolatedCredentialReader
from pipeline.adapters.credentials.reader import C2paCredentialReader
from pipeline.credentials.raw import report_from_raw
from pipeline.credentials.traces import (
    MAX_FIELD_CHARS,
    MAX_FIELDS,
    TraceSignature,
    bounded_fields,
    exif_text,
    iptc_fields,
    is_media_container,
    match_traces,
)
from pipeline.credentials.trust import TrustFiles
from pipeline.policy import Policy, PolicyError, decide, load_policy
from pipeline.ports import CredentialReport
from pipeline.record import build_record
from pipeline.settings import DEFAULT_POLICY
from testkit.media import make_jpeg
from testkit.pki import TestPKI
from testkit.signing import DIGITAL_CAPTURE, TRAINED_ALGORITHMIC_MEDIA, created, definition, sign
from testkit.traces import (
    _TXT2IMG,
    A1111,
    TraceSample,
    container,
    container_trace_samples,
    png,
    trace_samples,
    xmp_packet,
)

SAMPLES = trace_samples() + container_trace_samples()
POSITIVES = [s for s in SAMPLES if s.label != "unknown"]
NEGATIVES = [s for s in SAMPLES if s.label == "unknown"]


@pytest.fixture(scope="module")
def policy() -> Policy:
    return load_policy(DEFAULT_POLICY)


@pytest.fixture(scope="module")
def reader(trust: TrustFiles) -> C2paCredentialReader:
    return C2paCredentialReader(trust)


def read(reader: C2paCredentialReader, tmp_path: Path, sample: TraceSample) -> CredentialReport:
    path = tmp_path / sample.name
    path.write_bytes(sample.data)
    return reader.read(path)


@pytest.mark.parametrize("sample", POSITIVES, ids=lambda s: s.name)
def test_each_generator_trace_labels_ai_with_its_generator(
    sample: TraceSample, reader: C2paCredentialReader, policy: Policy, tmp_path: Path
) -> None:
    report = read(reader, tmp_path, sample)
    decision = decide(report, policy)
    # c2pa reads no WebM: "not a format that can carry Content Credentials", and the trace still counts
    assert report.provenance == ("unreadable" if sample.name.endswith(".webm") else "absent")
    assert (decision.label, decision.generator, decision.label_source) == (
        sample.label,
        sample.generator,
        sample.label_source,
    )
    assert f"{sample.label_source} metadata field" in decision.explanation
    assert f"declares {sample.generator}" in decision.explanation


@pytest.mark.parametrize("sample", NEGATIVES, ids=lambda s: s.name)
def test_cameras_editors_screenshots_and_quoted_prompts_are_never_ai(
    sample: TraceSample, reader: C2paCredentialReader, policy: Policy, tmp_path: Path
) -> None:
    report = read(reader, tmp_path, sample)
    assert report.metadata_fields, "the negative's metadata was read, so the registry really looked at it"
    decision = decide(report, policy)
    assert (decision.label, decision.label_source, decision.generator) == ("unknown", None, None)


def test_the_fields_cross_the_pipe_from_the_reader_child(trust: TrustFiles, policy: Policy, tmp_path: Path) -> None:
    child = IsolatedCredentialReader(trust, timeout=30)
    try:
        for sample in (
            s for s in SAMPLES if s.name in ("a1111.jpg", "comfyui.png", "draw-things.png", "camera.jpg", "comfyui.mp4")
        ):
            path = tmp_path / sample.name
            path.write_bytes(sample.data)
            decision = decide(child.read(path), policy)
            assert (decision.label, decision.generator) == (sample.label, sample.generator), sample.name
    finally:
        child.close()


def test_the_record_names_the_family_the_field_and_the_generator(
    reader: C2paCredentialReader, policy: Policy, tmp_path: Path
) -> None:
    sample = next(s for s in SAMPLES if s.name == "a1111-img2img.png")
    report = read(reader, tmp_path, sample)
    decision = decide(report, policy)
    record = build_record(
        report=report, decision=decision, policy_version=policy.version, duration_ms=1.0, now=datetime.now(UTC)
    )
    assert (record.label, record.provenance, record.label_source, record.generator) == (
        "ai_edited",
        "absent",
        "png-text",
        A1111,
    )
    assert record.explanation == (
        "No usable Content Credentials (no Content Credentials in the file); unsigned png-text metadata field "
        f"'parameters' declares {A1111}."
    )
    assert record.signer is None and record.digital_source_types == []


def _corrupt_idat(data: bytes) -> bytes:
    at = data.index(b"IDAT") + 8
    return data[:at] + bytes([data[at] ^ 0xFF]) + data[at + 1 :]


def test_invalid_credentials_without_an_ai_claim_are_labelled_by_the_trace(
    pki: TestPKI, reader: C2paCredentialReader, policy: Policy, tmp_path: Path
) -> None:
    signed = sign(
        pki, png({"parameters": _TXT2IMG}), "image/png", definition("Camera", "x", [created(DIGITAL_CAPTURE)])
    )
    path = tmp_path / "tampered.png"
    path.write_bytes(_corrupt_idat(signed))
    report = reader.read(path)
    decision = decide(report, policy)
    assert report.provenance == "invalid"
    assert (decision.label, decision.label_source, decision.generator) == ("ai_generated", "png-text", A1111)
    assert decision.signer and decision.failures
    assert "fail validation" in decision.explanation and "'parameters'" in decision.explanation


def test_unreadable_credentials_are_labelled_by_the_trace(
    reader: C2paCredentialReader, policy: Policy, tmp_path: Path
) -> None:
    base = png({"parameters": _TXT2IMG})
    at = base.index(b"IDAT") - 4
    broken = base[:at] + _png_chunk(b"caBX", b"\x00\x00\x00\x10jumb" + b"\x07" * 40) + base[at:]
    report = read(reader, tmp_path, TraceSample("broken-manifest.png", broken, "ai_generated"))
    decision = decide(report, policy)
    assert report.provenance == "unreadable" and report.reason and report.reason.startswith("malformed")
    assert (decision.label, decision.label_source, decision.generator) == ("ai_generated", "png-text", A1111)


def test_valid_credentials_decide_and_the_trace_is_not_used(
    pki: TestPKI, reader: C2paCredentialReader, policy: Policy, tmp_path: Path
) -> None:
    signed = sign(
        pki, png({"parameters": _TXT2IMG}), "image/png", definition("Camera", "x", [created(DIGITAL_CAPTURE)])
    )
    path = tmp_path / "signed.png"
    path.write_bytes(signed)
    report = reader.read(path)
    assert report.provenance == "trusted" and not report.metadata_fields
    assert decide(report, policy).label == "captured"


def test_a_signed_ai_claim_in_invalid_credentials_keeps_the_c2pa_label(
    pki: TestPKI, reader: C2paCredentialReader, policy: Policy, tmp_path: Path
) -> None:
    manifest = definition("Gen", "x", [created(TRAINED_ALGORITHMIC_MEDIA)])
    path = tmp_path / "tampered-ai.png"
    path.write_bytes(_corrupt_idat(sign(pki, png({"parameters": _TXT2IMG}), "image/png", manifest)))
    decision = decide(reader.read(path), policy)
    assert (decision.label, decision.label_source) == ("ai_generated", "c2pa")


def test_iptc_digital_source_type_comes_before_a_trace(
    reader: C2paCredentialReader, policy: Policy, tmp_path: Path
) -> None:
    sample = TraceSample("both.jpg", make_jpeg(xmp_source_type=TRAINED_ALGORITHMIC_MEDIA), "ai_generated")
    assert decide(read(reader, tmp_path, sample), policy).label_source == "iptc-xmp"


def test_reading_is_bounded_in_fields_and_characters(reader: C2paCredentialReader, tmp_path: Path) -> None:
    many = {f"note{i}": "x" * 20_000 for i in range(MAX_FIELDS + 40)}
    report = read(reader, tmp_path, TraceSample("many.png", png(many), "unknown"))
    assert len(report.metadata_fields) == MAX_FIELDS
    assert all(len(text) == MAX_FIELD_CHARS for _, _, text in report.metadata_fields)


def _png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def test_a_header_claiming_a_huge_image_is_not_read(
    reader: C2paCredentialReader, policy: Policy, tmp_path: Path
) -> None:
    """Pillow refuses a decompression bomb in ``open``, before any text chunk: no trace, no pixel decoded."""
    ihdr = struct.pack(">IIBBBBB", 100_000, 100_000, 8, 2, 0, 0, 0)
    data = (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", ihdr)
        + _png_chunk(b"tEXt", b"parameters\0" + _TXT2IMG.encode())
        + _png_chunk(b"IDAT", zlib.compress(b"\0" * 64))
        + _png_chunk(b"IEND", b"")
    )
    report = read(reader, tmp_path, TraceSample("bomb.png", data, "unknown"))
    assert report.metadata_fields == () and decide(report, policy).label == "unknown"


def test_text_chunks_after_the_image_data_are_not_read(reader: C2paCredentialReader, tmp_path: Path) -> None:
    """Finding them would mean decoding the pixels; documented as out of reach."""
    base = png()
    end = base.index(b"IEND") - 4
    data = base[:end] + _png_chunk(b"tEXt", b"parameters\0" + _TXT2IMG.encode()) + base[end:]
    with Image.open(io.BytesIO(data)) as image:
        image.load()
        assert "parameters" in image.info  # a full decode would find it
    assert read(reader, tmp_path, TraceSample("late.png", data, "unknown")).metadata_fields == ()


# The pure parts: the matcher, the caps, the EXIF text decoding and the registry's validation.


def sig(field: str, pattern: str, label: str = "ai_generated", unless: str | None = None) -> TraceSignature:
    return TraceSignature(
        "png-text", field, re.compile(pattern), f"gen-{label}", label, re.compile(unless) if unless else None
    )


def test_the_first_signature_in_registry_order_decides_and_unless_vetoes() -> None:
    fields = [("png-text", "Parameters", "Steps: 20, Denoising strength: 0.5, Hires upscale: 2")]
    edited = sig("parameters", "Denoising", "ai_edited", unless="Hires upscale")
    general = sig("parameters", "Steps")
    assert match_traces(fields, [edited, general]) == match_traces(fields, [general])
    match = match_traces(fields, [general])
    assert match and (match.field, match.label) == ("parameters", "ai_generated")
    assert match_traces(fields, [sig("Comment", "Steps")]) is None
    assert match_traces([("exif", "parameters", "Steps")], [general]) is None


def test_bounded_fields_drops_what_is_not_a_field_and_caps_the_rest() -> None:
    kept = bounded_fields([["png-text", "a", "b"], ["elf", "a", "b"], ["exif", 3, "b"], ["xmp", "a"], "x", None])
    assert kept == (("png-text", "a", "b"),)
    assert bounded_fields("not a list") == ()
    many = bounded_fields([["xmp", "n" * 500, "t" * 100_000]] * 500)
    assert len(many) == MAX_FIELDS and len(many[0][1]) == 80 and len(many[0][2]) == MAX_FIELD_CHARS
    report = report_from_raw({"provenance": "absent", "metadata_fields": [["png-text", "k", "v"], ["png-text"]]})
    assert report.metadata_fields == (("png-text", "k", "v"),)


def test_exif_text_decodes_user_comment_charsets() -> None:
    assert exif_text(b"UNICODE\0" + "Steps: 1 灯".encode("utf-16-be")) == "Steps: 1 灯"
    assert exif_text(b"UNICODE\0" + "Steps: 1".encode("utf-16-le")) == "Steps: 1"
    assert exif_text(b"ASCII\0\0\0Steps: 1\0") == "Steps: 1"
    assert exif_text(b"Steps: 1") == "Steps: 1"
    assert exif_text(b"ASCII\0\0\0" + b"\0" * 8) == ""
    assert exif_text(7) is None


def _policy_with(tmp_path: Path, extra: str) -> Path:
    path = tmp_path / "policy.toml"
    path.write_text(DEFAULT_POLICY.read_text().split("[traces]")[0] + extra)
    return path


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        (
            'family = "id3"',
            "traces.signatures[0].family must be one of png-text, exif, xmp, iptc, container-metadata, not 'id3'",
        ),
        ('label = "captured"', "traces.signatures[0].label must be one of ai_generated, ai_edited, not 'captured'"),
        ("pattern = '(unclosed'", "traces.signatures[0].pattern is not a regular expression"),
        ('generator = ""', "traces.signatures[0].generator must be a non-empty string"),
        ("unless = '['", "traces.signatures[0].unless is not a regular expression"),
    ],
)
def test_the_registry_is_validated_when_the_policy_loads(tmp_path: Path, entry: str, message: str) -> None:
    fields = {"family": '"png-text"', "field": '"parameters"', "pattern": "'Steps'", "generator": '"G"'}
    fields["label"] = '"ai_generated"'
    key = entry.split(" = ")[0]
    lines = [f"{k} = {v}" for k, v in fields.items() if k != key] + [entry]
    path = _policy_with(tmp_path, "[[traces.signatures]]\n" + "\n".join(lines) + "\n")
    with pytest.raises(PolicyError, match=re.escape(message)):
        load_policy(path)


def test_the_registry_can_be_turned_off_or_extended_without_a_release(tmp_path: Path) -> None:
    assert load_policy(_policy_with(tmp_path, "")).trace_signatures == ()
    off = DEFAULT_POLICY.read_text().replace("enabled = true", "enabled = false")
    (tmp_path / "off.toml").write_text(off)
    assert load_policy(tmp_path / "off.toml").trace_signatures == ()
    added = _policy_with(
        tmp_path,
        '[[traces.signatures]]\nfamily = "xmp"\nfield = "CreatorTool"\npattern = \'\\ANewGen\\b\'\n'
        'generator = "NewGen"\nlabel = "ai_generated"\n',
    )
    report = CredentialReport("absent", metadata_fields=(("xmp", "CreatorTool", "NewGen 1.0"),))
    decision = decide(report, load_policy(added))
    assert (decision.label, decision.generator, decision.label_source) == ("ai_generated", "NewGen", "xmp")


def test_the_shipped_registry_compiles_and_only_gives_ai_labels(policy: Policy) -> None:
    assert len(policy.trace_signatures) >= 20
    assert {s.label for s in policy.trace_signatures} == {"ai_generated", "ai_edited"}
    assert xmp_packet(xmp_CreatorTool="x").startswith("<?xpacket")


def test_iptc_fields_reads_the_named_datasets_as_text() -> None:
    info = {(2, 110): b"Made with Google AI", (2, 80): [b"Jane", b" "], (2, 5): b"Title", (2, 115): 3}
    assert iptc_fields(info) == [("iptc", "By-line", "Jane"), ("iptc", "Credit", "Made with Google AI")]
    assert iptc_fields(None) == []


def test_container_tags_are_bounded_and_only_containers_reach_ffmpeg(
    reader: C2paCredentialReader, tmp_path: Path
) -> None:
    tags = {f"tag{i}": "y" * 20_000 for i in range(MAX_FIELDS + 20)}
    report = read(reader, tmp_path, TraceSample("many.webm", container("webm", tags), "unknown"))
    assert len(report.metadata_fields) == MAX_FIELDS
    assert all(len(text) <= MAX_FIELD_CHARS for _, _, text in report.metadata_fields)
    assert is_media_container(b"\x00\x00\x00\x18ftypmp42") and is_media_container(b"RIFF\x00\x00\x00\x00WAVE")
    assert not is_media_container(b"RIFF\x00\x00\x00\x00WEBP") and not is_media_container(b"prompt: {}")
    text = tmp_path / "notes.txt"
    text.write_text('{"3": {"inputs": {}, "class_type": "KSampler"}}')
    assert reader.read(text).metadata_fields == ()
