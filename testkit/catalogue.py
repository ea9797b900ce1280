"""The standard sample set: one signed (or deliberately unsigned, broken) file per case the policy decides.

Each :class:`Sample` carries the label and provenance the pipeline must produce for it. The provenance values are
what c2pa-python 0.38.1 (c2pa-rs 0.91.3) reports with the test root loaded as trust anchor; ``python -m testkit``
re-reads every sample and prints a table. ``camera.jpg`` is a v1 *claim* with a v1-style definition, but its
actions assertion is stored as v2 (see :mod:`testkit.signing`).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

from testkit.media import corrupt_jpeg_scan, make_jpeg, make_png, make_wav
from testkit.pki import TestPKI
from testkit.signing import (
    COMPOSITE_WITH_TRAINED_ALGORITHMIC_MEDIA,
    DIGITAL_CAPTURE,
    DIGITAL_CREATION,
    TRAINED_ALGORITHMIC_MEDIA,
    created,
    definition,
    sign,
)


@dataclass(frozen=True)
class Sample:
    """One sample object and what the pipeline must conclude about it."""

    name: str
    """File name with extension, e.g. ``ai-generated.jpg``; also a good object key."""
    data: bytes
    content_type: str
    """MIME type an uploader would send."""
    expect_label: str
    """``ai_generated``, ``ai_edited``, ``captured``, ``no_ai_declared`` or ``unknown``."""
    expect_provenance: str
    """``trusted``, ``valid``, ``invalid``, ``absent`` or ``unreadable``: what c2pa reports with the PKI's
    root loaded as trust anchor (absent = no manifest found, unreadable = c2pa could not parse the file)."""
    description: str


def build_samples(pki: TestPKI) -> list[Sample]:
    """The standard sample set signed by ``pki`` (cached per PKI: bytes are immutable, the list is a copy)."""
    return list(_build_samples(pki))


@functools.cache
def _build_samples(pki: TestPKI) -> tuple[Sample, ...]:
    jpeg, png = "image/jpeg", "image/png"
    image_model = {"name": "Example Image Model", "version": "2.1"}

    ai_definition = definition(
        "Example Image Model",
        "ai-generated.jpg",
        [created(TRAINED_ALGORITHMIC_MEDIA, softwareAgent=image_model)],
        all_actions_included=True,
    )
    ai_generated = sign(pki, make_jpeg(seed=1), jpeg, ai_definition)
    ai_untrusted = sign(pki, make_jpeg(seed=1), jpeg, ai_definition, trusted=False)
    camera = sign(
        pki,
        make_jpeg(seed=2),
        jpeg,
        # v1-style definition and a v1 claim, as older camera firmware writes; c2pa-rs stores actions as v2.
        definition(
            "Example Camera Firmware",
            "camera.jpg",
            [created(DIGITAL_CAPTURE)],
            label="c2pa.actions",
            claim_version=1,
        ),
    )
    camera_resized = sign(
        pki,
        make_jpeg(32, 24, seed=2),
        jpeg,
        definition(
            "Example Photo Editor",
            "camera-resized.jpg",
            [{"action": "c2pa.opened"}, {"action": "c2pa.resized.proportional"}],
        ),
        ingredients=[(camera, jpeg, "parentOf")],
    )
    ai_edited = sign(
        pki,
        make_jpeg(seed=3),
        jpeg,
        definition(
            "Example Photo Editor",
            "ai-edited.jpg",
            [
                {"action": "c2pa.opened"},
                {
                    "action": "c2pa.edited",
                    "digitalSourceType": COMPOSITE_WITH_TRAINED_ALGORITHMIC_MEDIA,
                    "softwareAgent": {"name": "Example Generative Fill", "version": "1.0"},
                },
            ],
        ),
        ingredients=[(camera, jpeg, "parentOf")],
    )
    ai_converted = sign(
        pki,
        make_png(seed=1),
        png,
        definition(
            "Example Format Converter",
            "ai-converted.png",
            [{"action": "c2pa.opened"}, {"action": "c2pa.converted"}],
        ),
        ingredients=[(ai_generated, jpeg, "parentOf")],
    )
    human_edit = sign(
        pki,
        make_jpeg(seed=4),
        jpeg,
        definition("Example Paint App", "human-edit.jpg", [created(DIGITAL_CREATION), {"action": "c2pa.edited"}]),
    )
    ai_voice = sign(
        pki,
        make_wav(),
        "audio/wav",
        definition(
            "Example Voice Model",
            "ai-voice.wav",
            [created(TRAINED_ALGORITHMIC_MEDIA, softwareAgent={"name": "Example Voice Model"})],
        ),
    )

    # Bing Image Creator's pattern: c2pa.created with no digital source type, from a known generative-AI generator.
    known_generator = sign(
        pki,
        make_jpeg(seed=9),
        jpeg,
        definition(
            "Microsoft Responsible AI Image Provenance",
            "known-generator.jpg",
            [{"action": "c2pa.created", "description": "AI Generated Image"}],
            label="c2pa.actions",
            claim_version=1,  # a v2 claim must name a source type for c2pa.created; Bing's v1 claims do not
        ),
    )
    xmp_only = make_jpeg(seed=10, xmp_source_type=TRAINED_ALGORITHMIC_MEDIA)

    wav, text = "audio/wav", "text/plain"
    table: list[tuple[str, bytes, str, str, str, str]] = [
        # (name, data, content type, expected label, expected provenance, description)
        ("ai-generated.jpg", ai_generated, jpeg, "ai_generated", "trusted",
         "Made by a generative model (trainedAlgorithmicMedia), signed by the trusted test signer."),
        ("ai-generated-untrusted.jpg", ai_untrusted, jpeg, "ai_generated", "valid",
         "Same claim signed by a chain to an unknown root: the signature verifies, the signer is not "
         "trusted (c2pa: Valid + signingCredential.untrusted). A signed AI claim still labels."),
        ("camera.jpg", camera, jpeg, "captured", "trusted",
         "Camera capture (digitalCapture): a v1 claim from a v1-style c2pa.actions definition."),
        ("camera-resized.jpg", camera_resized, jpeg, "captured", "trusted",
         "Opened the signed camera.jpg (parentOf ingredient) and resized it proportionally: non-editorial."),
        ("ai-edited.jpg", ai_edited, jpeg, "ai_edited", "trusted",
         "Opened a signed camera photo, then generative fill (compositeWithTrainedAlgorithmicMedia)."),
        ("ai-converted.png", ai_converted, png, "ai_generated", "trusted",
         "ai-generated.jpg converted to PNG: the active manifest holds only opened + converted; the AI "
         "source type is in the parent ingredient's manifest."),
        ("human-edit.jpg", human_edit, jpeg, "no_ai_declared", "trusted",
         "Drawn in a paint app (digitalCreation) then edited: no generative source type anywhere."),
        ("tampered.jpg", corrupt_jpeg_scan(ai_generated), jpeg, "ai_generated", "invalid",
         "ai-generated.jpg with image bytes flipped after signing: manifest intact, data hash mismatch. "
         "A broken signed AI claim can only over-label, so it still labels ai_generated."),
        ("plain.jpg", make_jpeg(seed=5), jpeg, "unknown", "absent",
         "An ordinary JPEG with no Content Credentials."),
        ("empty.jpg", b"", jpeg, "unknown", "unreadable",
         "A zero-byte object."),
        ("notes.txt", b"Shopping list: milk, eggs, bread.\n", text, "unknown", "unreadable",
         "Plain text: not a format that carries Content Credentials."),
        ("truncated.jpg", ai_generated[: len(ai_generated) // 2], jpeg, "unknown", "unreadable",
         "First half of ai-generated.jpg, cut inside the JUMBF manifest: c2pa cannot parse the JPEG."),
        ("ai-voice.wav", ai_voice, wav, "ai_generated", "trusted",
         "Synthetic voice (trainedAlgorithmicMedia) in a WAV file."),
        ("known-generator.jpg", known_generator, jpeg, "ai_generated", "trusted",
         "c2pa.created with no source type, signed by a generator in the known-generators registry."),
        ("ai-xmp-only.jpg", xmp_only, jpeg, "ai_generated", "absent",
         "No manifest; unsigned IPTC XMP DigitalSourceType trainedAlgorithmicMedia."),
    ]  # fmt: skip
    return tuple(Sample(*row) for row in table)
