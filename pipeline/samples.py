"""Real C2PA-signed sample media, made at run time, for the tests and the ``demo`` command.

Why generate instead of checking files in: signed samples carry certificates that expire and a trust chain
the test suite has to control (a root it loads as a trust anchor, and a second root it does not), so the PKI
and the media are produced together, in-process, in well under a second. Nothing here touches the network:
there is no timestamp authority, no OCSP and no remote manifest.

* :func:`make_test_pki` — two three-level EC P-256 chains (root -> intermediate -> signer) built with
  ``cryptography``: one whose root the tests trust, one whose root nobody trusts.
* :func:`sign` — sign any asset with any manifest definition, with optional ingredients; tests use it for
  custom cases.
* :func:`build_samples` — the standard set, each :class:`Sample` carrying the label and provenance the
  pipeline must produce for it. The provenance values are what c2pa-python 0.38.1 (c2pa-rs 0.91.3) reports
  with the test root loaded as trust anchor; ``python -m pipeline.samples`` re-reads every sample and prints
  a table.

Things c2pa-rs 0.91 enforces that shape this module:

* The signer certificate is checked when the signer is *created*: an end-entity certificate whose EKUs are
  not in c2pa's accepted set (emailProtection, documentSigning, timeStamping, OCSPSigning, the C2PA and
  Microsoft signing OIDs) is refused with "the certificate is invalid", whatever ``trust_config`` says.
* Every manifest is verified right after signing. Claim v2 needs a first action ``c2pa.created`` or
  ``c2pa.opened``, and every ``c2pa.opened`` / ``c2pa.placed`` / ``c2pa.removed`` action must name its
  ingredient(s); :func:`sign` fills those references in when the caller leaves them out.
* The Builder always writes actions as ``c2pa.actions.v2``, even when the definition says ``c2pa.actions``
  (and even with ``claim_version: 1``). A genuine v1 actions assertion cannot be produced with this SDK, so
  ``camera.jpg`` is a v1 *claim* with a v1-style definition, but its actions assertion is stored as v2.
"""

from __future__ import annotations

import copy
import datetime
import functools
import io
import json
import math
import random
import struct
import wave
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import c2pa
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from PIL import Image

from pipeline.credentials.trust import TrustFiles

DIGITAL_SOURCE_TYPE = "http://cv.iptc.org/newscodes/digitalsourcetype/"
TRAINED_ALGORITHMIC_MEDIA = DIGITAL_SOURCE_TYPE + "trainedAlgorithmicMedia"
COMPOSITE_WITH_TRAINED_ALGORITHMIC_MEDIA = DIGITAL_SOURCE_TYPE + "compositeWithTrainedAlgorithmicMedia"
DIGITAL_CAPTURE = DIGITAL_SOURCE_TYPE + "digitalCapture"
DIGITAL_CREATION = DIGITAL_SOURCE_TYPE + "digitalCreation"

EKU_EMAIL_PROTECTION = "1.3.6.1.5.5.7.3.4"
EKU_DOCUMENT_SIGNING = "1.3.6.1.5.5.7.3.36"
SIGNER_EKUS: tuple[str, ...] = (EKU_EMAIL_PROTECTION, EKU_DOCUMENT_SIGNING)
"""The EKUs our end-entity certificates carry, and so the content of the trust config (``store.cfg``)."""

_EXTENSIONS = {
    "image/jpeg": "jpg",
    "image/png": "png",
    "audio/wav": "wav",
    "audio/x-wav": "wav",
    "image/webp": "webp",
    "video/mp4": "mp4",
}

# Which ingredient relationship an action that must reference ingredients points at by default.
_ACTION_RELATIONSHIP = {
    "c2pa.opened": "parentOf",
    "c2pa.placed": "componentOf",
    "c2pa.removed": "componentOf",
}
_INGREDIENT_PARAMETERS = ("ingredientIds", "ingredients", "ingredient")
_THUMBNAIL_LONG_EDGE = 64
"""c2pa scales thumbnails to a 1024 px long edge by default, even up from a 64 px image: a ~45 KB JPEG per
manifest and per ingredient. Capped here, a signed sample stays a few KB and still carries its thumbnails."""


# --------------------------------------------------------------------------------------------------
# Test PKI
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TestPKI:
    """Two signing identities and the trust material that makes exactly one of them trusted.

    The trusted chain ends at :attr:`root_pem`, which the tests load as a c2pa trust anchor, so c2pa reports
    ``Trusted``. The untrusted chain is structurally identical but ends at a root that is in no trust list, so
    c2pa reports a good signature from an unknown signer (``Valid``). All keys are EC P-256 (ES256).
    """

    __test__: ClassVar[bool] = False  # the name starts with "Test": keep pytest from collecting it

    root_pem: bytes
    """Trusted test root CA certificate (PEM)."""
    trusted_chain_pem: bytes
    """End-entity certificate then intermediate (PEM), chaining to :attr:`root_pem`; c2pa embeds both."""
    trusted_key_pem: bytes
    """PKCS#8 PEM private key of the trusted end-entity certificate."""
    untrusted_chain_pem: bytes
    """End-entity + intermediate chaining to a different root that is in no trust list."""
    untrusted_key_pem: bytes
    trust_config: str
    """c2pa trust config (``store.cfg``): one EKU OID per line, the EKUs our end-entity certificates carry."""

    def write(self, directory: Path) -> TrustFiles:
        """Write ``anchors.pem``, an empty ``allowed.pem`` and ``store.cfg`` into ``directory``.

        The allowed list stays empty on purpose: trust must come from the anchor, as it does in production,
        not from pinning the end-entity certificate.
        """
        directory.mkdir(parents=True, exist_ok=True)
        anchors, allowed, config = directory / "anchors.pem", directory / "allowed.pem", directory / "store.cfg"
        anchors.write_bytes(self.root_pem)
        allowed.write_bytes(b"")
        config.write_text(self.trust_config)
        return TrustFiles(anchors=anchors, allowed=allowed, config=config)

    def c2pa_settings(self) -> dict[str, Any]:
        """c2pa-rs settings trusting this PKI's root, fetching nothing (the keys the reader adapter uses)."""
        return {
            "verify": {"verify_trust": True, "remote_manifest_fetch": False, "ocsp_fetch": False},
            "trust": {
                "trust_anchors": self.root_pem.decode(),
                "allowed_list": "",
                "trust_config": self.trust_config,
            },
        }


@dataclass(frozen=True)
class _Chain:
    root: x509.Certificate
    intermediate: x509.Certificate
    signer: x509.Certificate
    signer_key: ec.EllipticCurvePrivateKey

    @property
    def chain_pem(self) -> bytes:
        return _pem(self.signer) + _pem(self.intermediate)

    @property
    def key_pem(self) -> bytes:
        return self.signer_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )


def _pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "US"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "media-ingest tests"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def _key_usage(*, signer: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=signer,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=not signer,
        crl_sign=not signer,
        encipher_only=False,
        decipher_only=False,
    )


def _certificate(
    subject: str,
    key: ec.EllipticCurvePrivateKey,
    issuer: x509.Certificate | None,
    issuer_key: ec.EllipticCurvePrivateKey,
    *,
    ca: bool,
    path_length: int | None,
    now: datetime.datetime,
) -> x509.Certificate:
    """One certificate with the extensions C2PA's certificate profile asks for (self-signed: no issuer)."""
    public_key = key.public_key()
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(subject))
        .issuer_name(issuer.subject if issuer is not None else _name(subject))
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=365))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=path_length), critical=True)
        .add_extension(_key_usage(signer=not ca), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()), critical=False)
    )
    if not ca:
        ekus = [x509.ObjectIdentifier(oid) for oid in SIGNER_EKUS]
        builder = builder.add_extension(x509.ExtendedKeyUsage(ekus), critical=False)
    return builder.sign(issuer_key, hashes.SHA256())


def _make_chain(prefix: str, now: datetime.datetime) -> _Chain:
    root_key, intermediate_key, signer_key = (ec.generate_private_key(ec.SECP256R1()) for _ in range(3))
    root = _certificate(f"{prefix} Root CA", root_key, None, root_key, ca=True, path_length=None, now=now)
    intermediate = _certificate(
        f"{prefix} Intermediate CA", intermediate_key, root, root_key, ca=True, path_length=0, now=now
    )
    signer = _certificate(
        f"{prefix} Signer", signer_key, intermediate, intermediate_key, ca=False, path_length=None, now=now
    )
    return _Chain(root=root, intermediate=intermediate, signer=signer, signer_key=signer_key)


@functools.cache
def make_test_pki(common_name_prefix: str = "media-ingest test") -> TestPKI:
    """Build the trusted and the untrusted chain (cached per process: one PKI serves every test).

    Certificates are valid from a day ago for a year, so a sample signed now validates despite clock skew.
    """
    now = datetime.datetime.now(datetime.UTC).replace(microsecond=0)
    trusted = _make_chain(common_name_prefix, now)
    untrusted = _make_chain(f"{common_name_prefix} untrusted", now)
    return TestPKI(
        root_pem=_pem(trusted.root),
        trusted_chain_pem=trusted.chain_pem,
        trusted_key_pem=trusted.key_pem,
        untrusted_chain_pem=untrusted.chain_pem,
        untrusted_key_pem=untrusted.key_pem,
        trust_config="".join(f"{oid}\n" for oid in SIGNER_EKUS),
    )


# --------------------------------------------------------------------------------------------------
# Plain media
# --------------------------------------------------------------------------------------------------


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

    PyAV is a test dependency (the ``dev`` extra), not a runtime one: the demo's samples are images and audio.
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


# --------------------------------------------------------------------------------------------------
# Signing
# --------------------------------------------------------------------------------------------------


def _actions(definition: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
    for assertion in definition.get("assertions", ()):
        if str(assertion.get("label", "")).startswith("c2pa.actions"):
            yield from assertion.get("data", {}).get("actions", ())


def _link_ingredients(definition: dict[str, Any], ids_by_relationship: Mapping[str, list[str]]) -> None:
    """Point each opened/placed/removed action that names no ingredient at the ingredients it must reference.

    c2pa-rs refuses to sign such an action without an ingredient reference; tests should not have to spell out
    the ``ingredientIds`` plumbing for the common case.
    """
    for action in _actions(definition):
        relationship = _ACTION_RELATIONSHIP.get(str(action.get("action")))
        if relationship is None:
            continue
        parameters = action.setdefault("parameters", {})
        if any(key in parameters for key in _INGREDIENT_PARAMETERS):
            continue
        ids = ids_by_relationship.get(relationship, [])
        if ids:
            parameters["ingredientIds"] = list(ids)


def sign(
    pki: TestPKI,
    data: bytes,
    mime: str,
    manifest: Mapping[str, Any],
    *,
    trusted: bool = True,
    ingredients: Sequence[tuple[bytes, str, str]] = (),
) -> bytes:
    """Embed a C2PA manifest built from ``manifest`` (a c2pa Builder definition) in ``data``, return that.

    ``ingredients`` are ``(bytes, mime, relationship)`` tuples (relationship ``parentOf``, ``componentOf``
    or ``inputTo``); their own credentials, if any, are carried into the new manifest store. Ingredient
    ``i`` gets the label ``ingredient-{i}``, which actions may reference as
    ``"parameters": {"ingredientIds": [...]}``; an opened/placed/removed action that references nothing is
    linked to the parentOf/componentOf ingredients.

    The trusted or untrusted identity of ``pki`` signs with ES256 and no timestamp authority. The Builder runs
    with the PKI's trust settings, so the validation results c2pa records for each ingredient say "trusted"
    exactly when the ingredient was signed by the trusted chain. Thumbnails are capped at a 64 px long edge.
    """
    definition = copy.deepcopy(dict(manifest))
    definition.setdefault("format", mime)
    ids_by_relationship: dict[str, list[str]] = {}
    for index, (_, _, relationship) in enumerate(ingredients):
        ids_by_relationship.setdefault(relationship, []).append(f"ingredient-{index}")
    _link_ingredients(definition, ids_by_relationship)

    if trusted:
        chain, key = pki.trusted_chain_pem, pki.trusted_key_pem
    else:
        chain, key = pki.untrusted_chain_pem, pki.untrusted_key_pem
    info = c2pa.C2paSignerInfo(c2pa.C2paSigningAlg.ES256, chain, key, None)
    output = io.BytesIO()
    settings = {**pki.c2pa_settings(), "builder": {"thumbnail": {"long_edge": _THUMBNAIL_LONG_EDGE}}}
    with (
        c2pa.Context.from_dict(settings) as context,
        c2pa.Signer.from_info(info) as signer,
        c2pa.Builder(definition, context) as builder,
    ):
        for index, (ingredient, ingredient_mime, relationship) in enumerate(ingredients):
            extension = _EXTENSIONS.get(ingredient_mime, "bin")
            builder.add_ingredient(
                {
                    "title": f"ingredient-{index}.{extension}",
                    "relationship": relationship,
                    "label": f"ingredient-{index}",
                },
                ingredient_mime,
                io.BytesIO(ingredient),
            )
        builder.sign(signer, mime, io.BytesIO(data), output)
    return output.getvalue()


def _definition(
    generator: str,
    title: str,
    actions: Sequence[Mapping[str, Any]],
    *,
    label: str = "c2pa.actions.v2",
    claim_version: int | None = None,
    all_actions_included: bool | None = None,
) -> dict[str, Any]:
    data: dict[str, Any] = {"actions": [dict(a) for a in actions]}
    if all_actions_included is not None:
        data["allActionsIncluded"] = all_actions_included
    definition: dict[str, Any] = {
        "claim_generator_info": [{"name": generator, "version": "1.0"}],
        "title": title,
        "assertions": [{"label": label, "data": data}],
    }
    if claim_version is not None:
        definition["claim_version"] = claim_version
    return definition


def _created(source_type: str, **extra: Any) -> dict[str, Any]:
    return {"action": "c2pa.created", "digitalSourceType": source_type, **extra}


def _corrupt_jpeg_scan(jpeg: bytes) -> bytes:
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


# --------------------------------------------------------------------------------------------------
# The standard sample set
# --------------------------------------------------------------------------------------------------


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

    ai_definition = _definition(
        "Example Image Model",
        "ai-generated.jpg",
        [_created(TRAINED_ALGORITHMIC_MEDIA, softwareAgent=image_model)],
        all_actions_included=True,
    )
    ai_generated = sign(pki, make_jpeg(seed=1), jpeg, ai_definition)
    ai_untrusted = sign(pki, make_jpeg(seed=1), jpeg, ai_definition, trusted=False)
    camera = sign(
        pki,
        make_jpeg(seed=2),
        jpeg,
        # v1-style definition and a v1 claim, as older camera firmware writes; c2pa-rs stores actions as v2.
        _definition(
            "Example Camera Firmware",
            "camera.jpg",
            [_created(DIGITAL_CAPTURE)],
            label="c2pa.actions",
            claim_version=1,
        ),
    )
    camera_resized = sign(
        pki,
        make_jpeg(32, 24, seed=2),
        jpeg,
        _definition(
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
        _definition(
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
        _definition(
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
        _definition("Example Paint App", "human-edit.jpg", [_created(DIGITAL_CREATION), {"action": "c2pa.edited"}]),
    )
    ai_voice = sign(
        pki,
        make_wav(),
        "audio/wav",
        _definition(
            "Example Voice Model",
            "ai-voice.wav",
            [_created(TRAINED_ALGORITHMIC_MEDIA, softwareAgent={"name": "Example Voice Model"})],
        ),
    )

    # Bing Image Creator's pattern: c2pa.created with no digital source type, from a known generative-AI generator.
    known_generator = sign(
        pki,
        make_jpeg(seed=9),
        jpeg,
        _definition(
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
        ("tampered.jpg", _corrupt_jpeg_scan(ai_generated), jpeg, "ai_generated", "invalid",
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


# --------------------------------------------------------------------------------------------------
# Checking by eye: python -m pipeline.samples
# --------------------------------------------------------------------------------------------------


def _observe(context: Any, data: bytes) -> tuple[str, list[str], list[str], list[str]]:
    """(provenance, active source types, ingredient source types, failure codes) as c2pa sees ``data``."""
    try:
        with c2pa.Reader(None, io.BytesIO(data), None, context) as reader:
            document = json.loads(reader.json())
            state = reader.get_validation_state()
    except c2pa.C2paError.ManifestNotFound:
        return "absent", [], [], []
    except c2pa.C2paError as exc:
        return "unreadable", [], [], [str(exc).splitlines()[0][:60]]
    active_label = document.get("active_manifest")
    active: list[str] = []
    others: list[str] = []
    for label, manifest in document.get("manifests", {}).items():
        for action in _actions(manifest):
            source_type = action.get("digitalSourceType")
            if source_type:
                short = str(source_type).rsplit("/", 1)[-1]
                (active if label == active_label else others).append(short)
    results = document.get("validation_results") or {}
    failures = [f["code"] for f in results.get("activeManifest", {}).get("failure", [])]
    return str(state).lower(), active, others, failures


def _main() -> int:
    import tempfile
    import time

    started = time.perf_counter()
    pki = make_test_pki()
    samples = build_samples(pki)
    elapsed = time.perf_counter() - started
    with tempfile.TemporaryDirectory() as tmp:
        files = pki.write(Path(tmp))
        paths = (files.anchors, files.allowed, files.config)
        written = ", ".join(f"{path.name} ({path.stat().st_size} B)" for path in paths if path)
    print(f"PKI + {len(samples)} samples built in {elapsed:.2f}s; trust files: {written}")
    row = "{:<27} {:>6}  {:<11}{:<25}{:<58}{}"
    columns = ("name", "bytes", "c2pa", "expected", "source types (active | ingredients)", "failures")
    header = row.format(*columns)
    print(header)
    print("-" * len(header))
    mismatches = 0
    with c2pa.Context.from_dict(pki.c2pa_settings()) as context:
        for sample in samples:
            provenance, active, others, failures = _observe(context, sample.data)
            ok = provenance == sample.expect_provenance
            mismatches += not ok
            expected = f"{sample.expect_label}/{sample.expect_provenance}" + ("" if ok else " MISMATCH")
            types = f"{','.join(active) or '-'} | {','.join(others) or '-'}"
            failed = ",".join(failures) or "-"
            print(row.format(sample.name, len(sample.data), provenance, expected, types, failed))
    return 1 if mismatches else 0


if __name__ == "__main__":
    raise SystemExit(_main())
