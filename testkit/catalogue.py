"""The standard sample set: one signed (or deliberately unsigned, broken) file per case the policy decides.

Each :class:`Sample` carries the label and provenance the pipeline must produce for it. The provenance values are
what c2pa-python 0.38.1 (c2pa-rs 0.91.3) reports with the test root loaded as trust anchor; ``python -m testkit``
re-reads every sample and prints a table. ``camera.jpg`` is a v1 *claim* with a v1-style definition, but its
actions assertion is stored as v2 (see :mod:`testkit.signing`).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

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


BLANK_CANVAS = "http://c2pa.org/digitalsourcetype/empty"


def build_composition_samples(pki: TestPKI) -> list[Sample]:
    """One signed file per shape of the generated-versus-edited rule (docs/labels.md, "Generated or edited";
    :mod:`pipeline.composition`): compositions of a blank canvas, photos with and without their own credentials and
    generated images, as ingredients (c2pa-python ``Builder.add_ingredient``) placed, opened or used as input."""
    return list(_build_composition_samples(pki))


@functools.cache
def _build_composition_samples(pki: TestPKI) -> tuple[Sample, ...]:
    jpeg = "image/jpeg"
    model = {"name": "Example Image Model", "version": "2.1"}
    fill = {"name": "Example Generative Fill", "version": "1.0"}
    generated = sign(
        pki, make_jpeg(seed=21), jpeg, definition("Example Image Model", "g.jpg", [created(TRAINED_ALGORITHMIC_MEDIA)])
    )
    camera = sign(
        pki, make_jpeg(seed=22), jpeg, definition("Example Camera Firmware", "c.jpg", [created(DIGITAL_CAPTURE)])
    )
    photo = make_jpeg(seed=23)  # a photo with no credentials of its own

    def compose(name: str, actions: list[dict[str, Any]], ingredients: list[tuple[bytes, str]]) -> bytes:
        return sign(
            pki,
            make_jpeg(seed=24 + len(name)),
            jpeg,
            definition("Example Photo Editor", name, actions),
            ingredients=[(data, jpeg, relationship) for data, relationship in ingredients],
        )

    def placed(index: int, **extra: Any) -> dict[str, Any]:
        return {"action": "c2pa.placed", "parameters": {"ingredientIds": [f"ingredient-{index}"]}, **extra}

    generative_fill: dict[str, Any] = {
        "action": "c2pa.edited",
        "digitalSourceType": TRAINED_ALGORITHMIC_MEDIA,
        "softwareAgent": fill,
    }
    composite_fill: dict[str, Any] = {
        "action": "c2pa.edited",
        "digitalSourceType": COMPOSITE_WITH_TRAINED_ALGORITHMIC_MEDIA,
        "softwareAgent": fill,
    }
    canvas = created(BLANK_CANVAS)
    table: list[tuple[str, bytes, str, str]] = [
        ("generated-then-filled.jpg",
         compose("generated-then-filled.jpg", [{"action": "c2pa.opened"}, composite_fill], [(generated, "parentOf")]),
         "ai_generated",
         "Opened a generated image (parentOf, its own manifest) and filled part of it with generative AI: nothing "
         "non-synthetic is in it."),
        ("photo-then-filled.jpg",
         compose("photo-then-filled.jpg", [{"action": "c2pa.opened"}, generative_fill], [(camera, "parentOf")]),
         "ai_edited",
         "Opened a signed camera photo and added generative fill (trainedAlgorithmicMedia on c2pa.edited)."),
        ("unsigned-photo-then-filled.jpg",
         compose("unsigned-photo-then-filled.jpg", [{"action": "c2pa.opened"}, generative_fill], [(photo, "parentOf")]),
         "ai_edited",
         "Opened a photo that has no credentials of its own (parentOf, no manifest), then generative fill."),
        ("canvas-photo-and-generated.jpg",
         compose("canvas-photo-and-generated.jpg", [canvas, placed(0), placed(1)],
                 [(photo, "componentOf"), (generated, "componentOf")]),
         "ai_edited",
         "A blank canvas; a photo without credentials placed on it, then a generated image placed beside it."),
        ("canvas-signed-photo-then-filled.jpg",
         compose("canvas-signed-photo-then-filled.jpg", [canvas, placed(0), generative_fill],
                 [(camera, "componentOf")]),
         "ai_edited",
         "A blank canvas, a signed camera photo placed on it (componentOf), then generative fill."),
        ("canvas-generated-only.jpg",
         compose("canvas-generated-only.jpg", [canvas, placed(0), placed(1)],
                 [(generated, "componentOf"), (generated, "componentOf")]),
         "ai_generated",
         "A blank canvas holding only generated images (componentOf, each with its own manifest)."),
        ("generated-then-photo-placed.jpg",
         sign(pki, make_jpeg(seed=31), jpeg,
              definition("Example Image Model", "generated-then-photo-placed.jpg",
                         [created(TRAINED_ALGORITHMIC_MEDIA, softwareAgent=model), placed(0)]),
              ingredients=[(photo, jpeg, "componentOf")]),
         "ai_edited",
         "Created by a generative model, then a photo without credentials placed into it."),
        ("generated-from-photo-input.jpg",
         sign(pki, make_jpeg(seed=32), jpeg,
              definition("Example Image Model", "generated-from-photo-input.jpg",
                         [created(TRAINED_ALGORITHMIC_MEDIA, softwareAgent=model)]),
              ingredients=[(photo, jpeg, "inputTo")]),
         "ai_generated",
         "Created by a generative model given a photo as input (inputTo): the photo is not part of the result."),
        ("drawing-with-generated-reference.jpg",
         sign(pki, make_jpeg(seed=33), jpeg,
              definition("Example Paint App", "drawing-with-generated-reference.jpg", [created(DIGITAL_CREATION)]),
              ingredients=[(generated, jpeg, "inputTo")]),
         "ai_edited",
         "Drawn by a person (digitalCreation) from a generated reference image (inputTo, its own manifest)."),
        ("canvas-photos-only.jpg",
         compose("canvas-photos-only.jpg", [canvas, placed(0), placed(1)],
                 [(photo, "componentOf"), (camera, "componentOf")]),
         "no_ai_declared",
         "A blank canvas holding two photos, one signed by a camera, one without credentials: no generative AI."),
    ]  # fmt: skip
    return tuple(Sample(name, data, jpeg, label, "trusted", text) for name, data, label, text in table)
