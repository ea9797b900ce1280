"""Benchmark media: a size mix of signed and unsigned images and videos, generated here and cached on disk.

Why generate: the pipeline's cost depends on object size (c2pa hashes every byte of a signed asset, S3 moves every
byte twice), so the benchmark needs files of realistic sizes, and signed ones need a trust chain the run controls.
Why cache: a 50 MB video or a 20 MB PNG takes a second or more to encode and sign; reruns should measure, not
generate. Files live under ``bench/out/media/<pki>/``; a file's name holds every parameter it was made from, so a
changed parameter makes a new file and an unchanged one is reused. The test PKI is kept next to them
(``pki.json``, regenerated well before its certificates expire), because a new PKI would make every cached
signature untrusted.

Pixels are seeded noise so JPEG and PNG cannot compress them to nothing. Videos are MPEG-4 Part 2 at a low
quantiser and every frame a keyframe, made with PyAV; length sets the size. Signing goes file to file through
c2pa's Builder with the test PKI (c2pa itself still buffers about twice the asset while signing a video: some
2 GB for the 1 GB one, once).
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import json
import math
import random
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from testkit.pki import TestPKI, make_test_pki
from testkit.signing import DIGITAL_CAPTURE, TRAINED_ALGORITHMIC_MEDIA

SizeClass = Literal["small", "medium", "large"]
SIZE_CLASSES: tuple[SizeClass, ...] = ("small", "medium", "large")
Variant = Literal["ai-trusted", "ai-untrusted", "camera-trusted", "unsigned"]

OUT = Path(__file__).resolve().parent / "out"
MEDIA_ROOT = OUT / "media"
GENERATOR_VERSION = 2
"""Bump when the way files are made changes, so stale cached files are not reused."""
PKI_MAX_AGE_DAYS = 300
"""The test certificates are valid for 365 days from creation; renew the cached PKI well before that."""

SMALL_BYTES = (50_000, 500_000)
MEDIUM_BYTES = (2_000_000, 20_000_000)
_BYTES_PER_PIXEL = {"image/jpeg": 0.9, "image/png": 3.0}
"""Measured for seeded RGB noise: JPEG quality 90 and PNG compress level 1."""

# Per class, the order variants are handed out in; large videos are signed first, since an unsigned video costs
# c2pa almost nothing (no manifest, no hash) and two videos should show the expensive case.
_VARIANTS: dict[SizeClass, tuple[Variant, ...]] = {
    "small": ("ai-trusted", "unsigned", "camera-trusted", "ai-untrusted"),
    "medium": ("ai-trusted", "unsigned", "camera-trusted", "ai-untrusted"),
    "large": ("ai-trusted", "camera-trusted", "unsigned", "ai-untrusted"),
}
EXPECTED: dict[Variant, tuple[str, str]] = {
    "ai-trusted": ("ai_generated", "trusted"),
    "ai-untrusted": ("ai_generated", "valid"),
    "camera-trusted": ("captured", "trusted"),
    "unsigned": ("unknown", "absent"),
}
"""(label, provenance) the pipeline must produce per variant: a run counts the records that disagree."""


@dataclass(frozen=True)
class Media:
    """One generated file and what it is."""

    path: Path
    size_class: SizeClass
    variant: Variant
    mime: str
    size: int

    @property
    def expected(self) -> tuple[str, str]:
        return EXPECTED[self.variant]


@dataclass(frozen=True)
class MixSpec:
    """How many distinct files of each class to generate (objects reuse them under different keys)."""

    small_distinct: int = 24
    medium_distinct: int = 8
    large_count: int = 2
    large_mb: int = 50
    seed: int = 5


# --------------------------------------------------------------------------------------------------
# PKI kept across runs
# --------------------------------------------------------------------------------------------------


def load_pki(root: Path = MEDIA_ROOT) -> TestPKI:
    """The cached test PKI, or a new one (saved) when there is none or it is close to expiry."""
    path = root / "pki.json"
    if path.exists():
        doc = json.loads(path.read_text())
        if time.time() - float(doc["created"]) < PKI_MAX_AGE_DAYS * 86_400:
            return TestPKI(
                root_pem=base64.b64decode(doc["root_pem"]),
                trusted_chain_pem=base64.b64decode(doc["trusted_chain_pem"]),
                trusted_key_pem=base64.b64decode(doc["trusted_key_pem"]),
                untrusted_chain_pem=base64.b64decode(doc["untrusted_chain_pem"]),
                untrusted_key_pem=base64.b64decode(doc["untrusted_key_pem"]),
                trust_config=str(doc["trust_config"]),
            )
    pki = make_test_pki()
    doc = {
        f.name: base64.b64encode(value).decode() if isinstance(value := getattr(pki, f.name), bytes) else value
        for f in dataclasses.fields(TestPKI)
    }
    root.mkdir(parents=True, exist_ok=True)
    _atomic_write_text(path, json.dumps({**doc, "created": time.time()}))
    return pki


def pki_fingerprint(pki: TestPKI) -> str:
    return hashlib.sha256(pki.root_pem + pki.untrusted_chain_pem).hexdigest()[:12]


def _atomic_write_text(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    tmp.replace(path)


# --------------------------------------------------------------------------------------------------
# The mix
# --------------------------------------------------------------------------------------------------


def build_media(spec: MixSpec, pki: TestPKI, *, progress: bool = True) -> dict[SizeClass, list[Media]]:
    """Every distinct file of the mix, generated now or taken from the cache."""
    directory = MEDIA_ROOT / f"v{GENERATOR_VERSION}-{pki_fingerprint(pki)}"
    directory.mkdir(parents=True, exist_ok=True)
    rng = random.Random(spec.seed)
    plan: list[tuple[SizeClass, int, Variant, str, int]] = []
    images: tuple[tuple[SizeClass, int, tuple[int, int]], ...] = (
        ("small", spec.small_distinct, SMALL_BYTES),
        ("medium", spec.medium_distinct, MEDIUM_BYTES),
    )
    for size_class, count, (low, high) in images:
        for index in range(count):
            variant = _VARIANTS[size_class][index % 4]
            mime = "image/png" if rng.random() < 0.3 else "image/jpeg"
            target = int(math.exp(rng.uniform(math.log(low), math.log(high))))
            plan.append((size_class, index, variant, mime, target))
    for index in range(spec.large_count):
        plan.append(("large", index, _VARIANTS["large"][index % 4], "video/mp4", spec.large_mb * 1_000_000))
    media: dict[SizeClass, list[Media]] = {c: [] for c in SIZE_CLASSES}
    started, made = time.perf_counter(), 0
    for size_class, index, variant, mime, target in plan:
        ext = {"image/jpeg": "jpg", "image/png": "png", "video/mp4": "mp4"}[mime]
        path = directory / f"{size_class}-{index:03d}-{variant}-{target}-s{spec.seed}.{ext}"
        if not path.exists():
            make_file(path, mime, target, variant, pki, seed=_stable_seed(spec.seed, size_class, index))
            made += 1
        media[size_class].append(Media(path, size_class, variant, mime, path.stat().st_size))
    if progress and made:
        print(
            f"media     generated {made} files in {time.perf_counter() - started:.1f}s under {directory}",
            file=sys.stderr,
        )
    return media


def _stable_seed(*parts: object) -> int:
    """A seed that is the same in every process (``hash()`` of a str is randomised per process)."""
    return int.from_bytes(hashlib.sha256(repr(parts).encode()).digest()[:4], "big")


def make_file(path: Path, mime: str, target_bytes: int, variant: Variant, pki: TestPKI, *, seed: int) -> None:
    """Write one file of about ``target_bytes``: plain media first, then signed into place unless unsigned."""
    raw = path.with_name(path.name + ".raw")
    try:
        if mime == "video/mp4":
            write_video(raw, target_bytes, seed=seed)
        else:
            write_image(raw, mime, target_bytes, seed=seed)
        if variant == "unsigned":
            raw.replace(path)
        else:
            partial = path.with_name(path.name + ".part")
            sign_file(raw, partial, mime, variant, pki)
            partial.replace(path)
    finally:
        raw.unlink(missing_ok=True)


def write_image(path: Path, mime: str, target_bytes: int, *, seed: int) -> None:
    """A seeded-noise RGB image whose encoded size lands near ``target_bytes`` (4:3 aspect)."""
    from PIL import Image

    pixels = max(64 * 48, int(target_bytes / _BYTES_PER_PIXEL[mime]))
    width = max(64, int(math.sqrt(pixels * 4 / 3)))
    height = max(48, pixels // width)
    noise = random.Random(seed).randbytes(width * height * 3)
    image = Image.frombytes("RGB", (width, height), noise)
    if mime == "image/png":
        image.save(path, "PNG", compress_level=1)
    else:
        image.save(path, "JPEG", quality=90)


def write_video(path: Path, target_bytes: int, *, seed: int) -> None:
    """An MPEG-4 video of about ``target_bytes``: a few noise frames encoded over and over, every one a keyframe.

    Noise at quantiser 2 makes about 1.1 MB per 720p frame (2.5 MB at 1080p, used from 200 MB up), so size is set
    by the frame count; encoding runs at ~50 frames/s, about 20 s for 1 GB. Frames are written to disk as they are
    encoded: memory stays flat whatever the size.
    """
    import av
    from PIL import Image

    width, height = (1920, 1080) if target_bytes >= 200_000_000 else (1280, 720)
    rng = random.Random(seed)
    with av.open(str(path), "w", format="mp4") as out:
        stream = out.add_stream("mpeg4", rate=25)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.gop_size = 1
        # Fixed quantiser instead of the default bitrate target; PyAV cannot set a frame's quality, so the encoder
        # uses its minimum quantiser (2): about 3x the bytes of the default, so generating is 3x faster per MB.
        stream.codec_context.qscale = True
        frames = [
            av.VideoFrame.from_image(  # type: ignore[no-untyped-call]
                Image.frombytes("RGB", (width, height), rng.randbytes(width * height * 3))
            )
            for _ in range(8)
        ]
        written, index = 0, 0
        while written < target_bytes:
            for packet in stream.encode(frames[index % len(frames)]):
                written += packet.size
                out.mux(packet)
            index += 1
        for packet in stream.encode():
            out.mux(packet)


def definition(variant: Variant, mime: str, title: str) -> dict[str, Any]:
    """A c2pa Builder definition: a generative model's output, or a camera capture."""
    action: dict[str, Any] = {"action": "c2pa.created", "digitalSourceType": DIGITAL_CAPTURE}
    generator = "Example Camera Firmware"
    if variant.startswith("ai"):
        generator = "Example Video Model" if mime.startswith("video") else "Example Image Model"
        action = {
            "action": "c2pa.created",
            "digitalSourceType": TRAINED_ALGORITHMIC_MEDIA,
            "softwareAgent": {"name": generator, "version": "2.1"},
        }
    return {
        "claim_generator_info": [{"name": generator, "version": "1.0"}],
        "title": title,
        "format": mime,
        "assertions": [{"label": "c2pa.actions.v2", "data": {"actions": [action], "allActionsIncluded": True}}],
    }


def sign_file(source: Path, dest: Path, mime: str, variant: Variant, pki: TestPKI) -> None:
    """Sign ``source`` into ``dest`` with the trusted or untrusted test identity, streaming both files.

    Unlike :func:`testkit.signing.sign` (bytes in, bytes out), Python never holds the asset; c2pa's Builder does
    buffer it (measured: 640 MB peak signing a 256 MB MP4). Images get a thumbnail, as real generators and cameras
    embed one, capped at a 256 px long edge: c2pa's default 1024 px, scaled up from noise, would weigh more than a
    small image itself, where a real photo's is some tens of KB.
    """
    import c2pa

    trusted = variant != "ai-untrusted"
    chain, key = (
        (pki.trusted_chain_pem, pki.trusted_key_pem) if trusted else (pki.untrusted_chain_pem, pki.untrusted_key_pem)
    )
    info = c2pa.C2paSignerInfo(c2pa.C2paSigningAlg.ES256, chain, key, None)
    with (
        c2pa.Context.from_dict({**pki.c2pa_settings(), "builder": {"thumbnail": {"long_edge": 256}}}) as context,
        c2pa.Signer.from_info(info) as signer,
        c2pa.Builder(definition(variant, mime, dest.name), context) as builder,
        source.open("rb") as src,
        dest.open("w+b") as dst,
    ):
        builder.sign(signer, mime, src, dst)


# --------------------------------------------------------------------------------------------------
# Object plans: which file goes under which key, in which order
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Planned:
    """One object to upload: its key and the file that becomes its body."""

    key: str
    media: Media


def plan_objects(
    media: dict[SizeClass, list[Media]], counts: dict[SizeClass, int], *, prefix: str, seed: int
) -> list[Planned]:
    """``counts[c]`` objects of each class, cycling through that class's files, shuffled together (seeded).

    Shuffling interleaves sizes the way independent uploaders would, so a burst is not "all small, then all large".
    """
    chosen = [m for size_class in SIZE_CLASSES for m in _take(media[size_class], counts.get(size_class, 0))]
    random.Random(seed).shuffle(chosen)
    return [Planned(f"{prefix}/{i:06d}-{m.path.name}", m) for i, m in enumerate(chosen)]


def _take(files: Sequence[Media], count: int) -> Iterator[Media]:
    if count and not files:
        raise ValueError("asked for objects of a class with no files")
    for i in range(count):
        yield files[i % len(files)]


def cycle_plan(plan: Sequence[Planned], count: int, *, prefix: str) -> list[Planned]:
    """The first ``count`` objects of ``plan`` repeated as needed, under fresh keys (a new upload each)."""
    return [
        Planned(f"{prefix}/{i:06d}-{plan[i % len(plan)].media.path.name}", plan[i % len(plan)].media)
        for i in range(count)
    ]


def describe(media: dict[SizeClass, list[Media]]) -> dict[str, Any]:
    """Sizes and variants of the distinct files, for the report."""
    out: dict[str, Any] = {}
    for size_class, files in media.items():
        if files:
            sizes = [m.size for m in files]
            out[size_class] = {
                "distinct_files": len(files),
                "min_bytes": min(sizes),
                "max_bytes": max(sizes),
                "mean_bytes": round(sum(sizes) / len(sizes)),
                "variants": {
                    v: sum(m.variant == v for m in files) for v in EXPECTED if any(m.variant == v for m in files)
                },
                "formats": sorted({m.mime for m in files}),
            }
    return out
