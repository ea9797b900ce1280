"""Generator traces in real third-party files (sd-parsers' test resources, MIT; see the SOURCES.md beside them):
every AI-traced file is labelled AI with the right generator; the two out-of-reach layouts stay ``unknown``."""

from __future__ import annotations

import pytest

from pipeline.adapters.credentials.reader import C2paCredentialReader
from pipeline.credentials.trust import TrustFiles
from pipeline.policy import Policy, decide, load_policy
from pipeline.settings import DEFAULT_POLICY
from tests.conftest import ROOT

FILES = ROOT / "tests" / "fixtures" / "third_party" / "sd-parsers"
A1111 = "AUTOMATIC1111 Stable Diffusion web UI"
EXPECTED: dict[str, tuple[str, str | None, str | None]] = {
    "automatic1111_cropped.png": ("ai_generated", A1111, "png-text"),
    "automatic1111_cropped.jpg": ("ai_generated", A1111, "exif"),
    "img2img_cropped.png": ("ai_edited", "ComfyUI", "png-text"),
    "night_evening_day_morning_cropped.png": ("ai_generated", "ComfyUI", "png-text"),
    "noisy_latents_3_subjects_cropped.png": ("ai_generated", "ComfyUI", "png-text"),
    "unclip_2pass_cropped.png": ("ai_generated", "ComfyUI", "png-text"),
    "fooocus1_cropped.png": ("ai_generated", "Fooocus", "png-text"),
    "invokeai_dream1.png": ("ai_generated", "InvokeAI", "png-text"),
    "invokeai_imeta1.png": ("ai_generated", "InvokeAI", "png-text"),
    "invokeai_sdmeta1.png": ("ai_generated", "InvokeAI", "png-text"),
    "novelai1_cropped.png": ("ai_generated", "NovelAI", "png-text"),
    "automatic1111_stealth.png": ("unknown", None, None),
    "text_after_idat.png": ("unknown", None, None),
}


@pytest.fixture(scope="module")
def policy() -> Policy:
    return load_policy(DEFAULT_POLICY)


def test_every_file_is_listed() -> None:
    assert sorted(p.name for p in FILES.iterdir() if p.suffix in (".png", ".jpg")) == sorted(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_third_party_generator_files(name: str, trust: TrustFiles, policy: Policy) -> None:
    report = C2paCredentialReader(trust).read(FILES / name)
    decision = decide(report, policy)
    assert report.provenance == "absent"
    assert (decision.label, decision.generator, decision.label_source) == EXPECTED[name]
