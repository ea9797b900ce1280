"""Credentials -> AIGC label (pipeline.policy), one test per rule, with the shipped policy file."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from pipeline.credentials.manifest import parse_store
from pipeline.policy import Policy, PolicyError, decide, load_policy
from pipeline.ports import CredentialReport
from pipeline.settings import DEFAULT_POLICY
from pipeline.signals import NON_EDITORIAL_ACTIONS

IPTC = "http://cv.iptc.org/newscodes/digitalsourcetype/"
C2PA = "http://c2pa.org/digitalsourcetype/"

SIGNER = "Example Inc."
STATE = {"trusted": "Trusted", "valid": "Valid", "invalid": "Invalid"}


@pytest.fixture(scope="module")
def policy() -> Policy:
    return load_policy(DEFAULT_POLICY)


def act(action: str, source: str | None = None, agent: Any = None, **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"action": action, **extra}
    if source is not None:
        body["digitalSourceType"] = source if "://" in source else IPTC + source
    if agent is not None:
        body["softwareAgent"] = agent
    return body


def manifest(
    label: str,
    *action_list: dict[str, Any],
    parents: tuple[str, ...] = (),
    components: tuple[str, ...] = (),
    inputs: tuple[str, ...] = (),
    generator: str = "Example App",
    extra_assertions: tuple[dict[str, Any], ...] = (),
) -> dict[str, Any]:
    ingredients = [
        {"title": f"{target}.jpg", "relationship": relationship, "active_manifest": target}
        for relationship, targets in (("parentOf", parents), ("componentOf", components), ("inputTo", inputs))
        for target in targets
    ]
    assertions = [*extra_assertions]
    if action_list:
        assertions.append({"label": "c2pa.actions.v2", "data": {"actions": list(action_list)}})
    return {
        "label": label,
        "claim_generator_info": [{"name": generator, "version": "1.0"}],
        "assertions": assertions,
        "ingredients": ingredients,
        "signature_info": {"alg": "Es256", "issuer": SIGNER, "common_name": "Example Signer", "time": None},
    }


def report(provenance: str, *manifests: dict[str, Any], failures: tuple[str, ...] = ()) -> CredentialReport:
    """Active manifest first."""
    doc = {
        "active_manifest": manifests[0]["label"],
        "manifests": {m["label"]: m for m in manifests},
        "validation_state": STATE[provenance],
        "validation_status": [{"code": code, "url": "self#jumbf=/c2pa"} for code in failures],
    }
    return CredentialReport(provenance, store=parse_store(doc))  # type: ignore[arg-type]


def single(provenance: str, *action_list: dict[str, Any], **kwargs: Any) -> CredentialReport:
    failures = kwargs.pop("failures", ())
    return report(provenance, manifest("urn:uuid:active", *action_list, **kwargs), failures=failures)


def label(r: CredentialReport, p: Policy) -> str:
    return decide(r, p).label


# --------------------------------------------------------------------------------------------------
# The shipped policy file
# --------------------------------------------------------------------------------------------------


def test_shipped_policy(policy):
    assert policy.version == "2026.12-2"
    assert policy.ai_generated == {"trainedAlgorithmicMedia", "trainedAlgorithmicData", "c2pa:trainedAlgorithmicData"}
    assert policy.ai_edited == {"compositeWithTrainedAlgorithmicMedia", "compositeSynthetic"}
    assert policy.generative == policy.ai_generated | policy.ai_edited
    assert policy.captured == {"digitalCapture", "computationalCapture"}
    # The shipped policy's non-editorial actions are exactly the C2PA rubric's nonEditorial set.
    assert policy.non_editorial == NON_EDITORIAL_ACTIONS
    assert "c2pa.resized.proportional" in policy.non_editorial and "c2pa.resized" not in policy.non_editorial
    assert (policy.ai_claim_needs_valid_signature, policy.invalid_without_ai, policy.captured_requires) == (
        False,
        "unknown",
        "trusted",
    )


# --------------------------------------------------------------------------------------------------
# Rule 1: nothing usable -> unknown
# --------------------------------------------------------------------------------------------------


def test_absent_credentials_are_unknown(policy):
    decision = decide(CredentialReport("absent", reason="no Content Credentials in the file"), policy)
    assert (decision.label, decision.explanation) == (
        "unknown",
        "No usable Content Credentials (no Content Credentials in the file): provenance unknown.",
    )
    assert (decision.signer, decision.generator, decision.digital_source_types, decision.failures) == (
        None,
        None,
        (),
        (),
    )


def test_unreadable_credentials_are_unknown(policy):
    decision = decide(CredentialReport("unreadable", reason="malformed: Could not parse input JPEG"), policy)
    assert (decision.label, decision.explanation) == (
        "unknown",
        "No usable Content Credentials (malformed: Could not parse input JPEG): could not be read.",
    )


def test_store_without_active_manifest_is_unknown(policy):
    empty = CredentialReport("unreadable", store=parse_store({"manifests": {}}))
    decision = decide(empty, policy)
    assert (decision.label, decision.explanation) == (
        "unknown",
        "No usable Content Credentials (no Content Credentials): could not be read.",
    )


# --------------------------------------------------------------------------------------------------
# Rule 2: generative AI in the asset's lineage or ingredients
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("provenance", ["trusted", "valid", "invalid"])
def test_trained_algorithmic_media_is_ai_generated_whatever_the_validation(policy, provenance):
    r = single(provenance, act("c2pa.created", "trainedAlgorithmicMedia"))
    assert label(r, policy) == "ai_generated"


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        (IPTC + "trainedAlgorithmicMedia", "ai_generated"),
        ("https://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia", "ai_generated"),
        (" https://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia ", "ai_generated"),
        (IPTC + "trainedAlgorithmicData", "ai_generated"),
        (C2PA + "trainedAlgorithmicData", "ai_generated"),
        (IPTC + "compositeWithTrainedAlgorithmicMedia", "ai_edited"),
        (IPTC + "compositeSynthetic", "ai_edited"),
        (IPTC + "algorithmicMedia", "no_ai_declared"),
        (IPTC + "digitalCreation", "no_ai_declared"),
        (C2PA + "empty", "no_ai_declared"),
        ("https://example.com/types/trainedAlgorithmicMedia", "no_ai_declared"),
    ],
    ids=lambda v: v.rsplit("/", 1)[-1].strip() if "/" in v else v,
)
def test_source_types(policy, source, expected):
    assert label(single("trusted", act("c2pa.created", source)), policy) == expected


def test_ai_parent_converted_is_ai_generated(policy):
    r = report(
        "trusted",
        manifest("converted", act("c2pa.opened"), act("c2pa.converted"), parents=("model",)),
        manifest("model", act("c2pa.created", "trainedAlgorithmicMedia", agent={"name": "Example Image Model"})),
    )
    decision = decide(r, policy)
    assert decision.label == "ai_generated"
    assert decision.explanation == "Signed by Example Inc. (trusted): created with generative AI (Example Image Model)."
    assert decision.digital_source_types == ("trainedAlgorithmicMedia",)


def test_ai_grandparent_is_still_ai_generated(policy):
    r = report(
        "trusted",
        manifest("resized", act("c2pa.opened"), act("c2pa.resized"), parents=("converted",)),
        manifest("converted", act("c2pa.opened"), act("c2pa.converted"), parents=("model",)),
        manifest("model", act("c2pa.created", "trainedAlgorithmicMedia")),
    )
    assert label(r, policy) == "ai_generated"


@pytest.mark.parametrize("relationship", ["components", "inputs"])
def test_ai_only_in_a_component_or_input_is_ai_edited(policy, relationship):
    r = report(
        "trusted",
        manifest(
            "collage",
            act("c2pa.created", "digitalCapture"),
            act("c2pa.placed"),
            components=("sticker",) if relationship == "components" else (),
            inputs=("sticker",) if relationship == "inputs" else (),
        ),
        manifest("sticker", act("c2pa.created", "trainedAlgorithmicMedia", agent="Example Sticker Model")),
    )
    decision = decide(r, policy)
    assert decision.label == "ai_edited"
    assert decision.explanation == (
        "Signed by Example Inc. (trusted): edited or composited with generative AI (Example Sticker Model)."
    )
    assert decision.digital_source_types == ("digitalCapture", "trainedAlgorithmicMedia")


def test_composite_in_the_parent_is_ai_edited(policy):
    r = report(
        "trusted",
        manifest("export", act("c2pa.opened"), act("c2pa.converted"), parents=("edit",)),
        manifest("edit", act("c2pa.opened"), act("c2pa.edited", "compositeWithTrainedAlgorithmicMedia"), parents=()),
    )
    assert label(r, policy) == "ai_edited"


LEGACY = {"label": "com.adobe.generative-ai", "data": {"description": "Generative Fill"}}


def test_legacy_adobe_assertion_without_parent_is_ai_generated(policy):
    r = single("valid", extra_assertions=(LEGACY,), generator="Adobe Firefly")
    decision = decide(r, policy)
    assert decision.label == "ai_generated"
    assert decision.explanation == "Signed by Example Inc. (valid): created with generative AI (Adobe Firefly)."


def test_legacy_adobe_assertion_over_a_parent_is_ai_edited(policy):
    r = report(
        "valid",
        manifest(
            "edit", act("c2pa.opened"), parents=("photo",), extra_assertions=(LEGACY,), generator="Adobe Photoshop"
        ),
        manifest("photo", act("c2pa.created", "digitalCapture")),
    )
    decision = decide(r, policy)
    assert decision.label == "ai_edited"
    assert decision.explanation == (
        "Signed by Example Inc. (valid): edited or composited with generative AI (Adobe Photoshop)."
    )


def test_legacy_adobe_digital_source_type_parameter_is_read(policy):
    r = single(
        "valid",
        act("c2pa.edited", parameters={"com.adobe.digitalSourceType": IPTC + "compositeWithTrainedAlgorithmicMedia"}),
    )
    assert label(r, policy) == "ai_edited"


def test_ai_label_carries_signer_generator_failures_and_sorted_types(policy):
    r = report(
        "invalid",
        manifest(
            "active",
            act("c2pa.created", "trainedAlgorithmicMedia"),
            act("c2pa.edited", "compositeSynthetic"),
            generator="Example Image Model",
        ),
        failures=("assertion.dataHash.mismatch",),
    )
    decision = decide(r, policy)
    assert decision.label == "ai_generated"
    assert decision.explanation == "Signed by Example Inc. (invalid): created with generative AI."
    assert decision.digital_source_types == ("compositeSynthetic", "trainedAlgorithmicMedia")
    assert (decision.signer, decision.generator) == ("Example Inc.", "Example Image Model")
    assert decision.failures == ("assertion.dataHash.mismatch",)


# --------------------------------------------------------------------------------------------------
# Rule 3: failing validation without AI
# --------------------------------------------------------------------------------------------------


def test_invalid_without_ai_is_unknown(policy):
    r = single(
        "invalid",
        act("c2pa.created", "digitalCapture"),
        failures=("assertion.dataHash.mismatch", "claimSignature.mismatch"),
    )
    decision = decide(r, policy)
    assert decision.label == "unknown"
    assert decision.explanation == (
        "Signed by Example Inc. (invalid): the credentials fail validation "
        "(assertion.dataHash.mismatch, claimSignature.mismatch) and declare no AI."
    )
    assert decision.failures == ("assertion.dataHash.mismatch", "claimSignature.mismatch")


def test_invalid_without_failure_codes_still_explains(policy):
    decision = decide(single("invalid", act("c2pa.created", "digitalCapture")), policy)
    assert decision.explanation == (
        "Signed by Example Inc. (invalid): the credentials fail validation (validation failed) and declare no AI."
    )


# --------------------------------------------------------------------------------------------------
# Rule 4: captured
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("source", ["digitalCapture", "computationalCapture"])
def test_trusted_capture_is_captured(policy, source):
    decision = decide(single("trusted", act("c2pa.created", source)), policy)
    assert decision.label == "captured"
    assert decision.explanation == "Signed by Example Inc. (trusted): captured with a camera, not edited since."


def test_valid_but_untrusted_capture_is_no_ai_declared(policy):
    decision = decide(single("valid", act("c2pa.created", "digitalCapture")), policy)
    assert decision.label == "no_ai_declared"
    assert decision.explanation == "Signed by Example Inc. (valid): declares no generative AI (actions: created)."


@pytest.mark.parametrize(
    ("later", "expected"),
    [
        ("c2pa.resized.proportional", "captured"),
        ("c2pa.converted", "captured"),
        ("c2pa.watermarked", "captured"),
        ("c2pa.cropped", "no_ai_declared"),
        ("c2pa.resized", "no_ai_declared"),
        ("c2pa.color_adjustments", "no_ai_declared"),
        ("c2pa.edited", "no_ai_declared"),
    ],
)
def test_capture_then_one_action(policy, later, expected):
    assert label(single("trusted", act("c2pa.created", "digitalCapture"), act(later)), policy) == expected


def test_capture_opened_and_resized_in_a_child_manifest_is_captured(policy):
    r = report(
        "trusted",
        manifest("resized", act("c2pa.opened"), act("c2pa.resized.proportional"), parents=("camera",)),
        manifest("camera", act("c2pa.created", "digitalCapture")),
    )
    assert label(r, policy) == "captured"


def test_capture_cropped_in_a_child_manifest_is_no_ai_declared(policy):
    r = report(
        "trusted",
        manifest("cropped", act("c2pa.opened"), act("c2pa.cropped"), parents=("camera",)),
        manifest("camera", act("c2pa.created", "digitalCapture")),
    )
    decision = decide(r, policy)
    assert decision.label == "no_ai_declared"
    assert (
        decision.explanation
        == "Signed by Example Inc. (trusted): declares no generative AI (actions: cropped, opened)."
    )


def test_opened_file_whose_parent_lost_its_credentials_is_not_captured(policy):
    doc_report = single("trusted", act("c2pa.opened"), act("c2pa.resized.proportional"))
    assert label(doc_report, policy) == "no_ai_declared"


def test_digital_creation_is_not_a_capture(policy):
    assert label(single("trusted", act("c2pa.created", "digitalCreation")), policy) == "no_ai_declared"


# --------------------------------------------------------------------------------------------------
# Rule 5 and explanations
# --------------------------------------------------------------------------------------------------


def test_no_actions_recorded(policy):
    decision = decide(single("trusted"), policy)
    assert decision.label == "no_ai_declared"
    assert decision.explanation == "Signed by Example Inc. (trusted): declares no generative AI (no actions recorded)."


@pytest.mark.parametrize("provenance", ["trusted", "valid", "invalid"])
@pytest.mark.parametrize(
    "actions",
    [(act("c2pa.created", "trainedAlgorithmicMedia"),), (act("c2pa.created", "digitalCapture"),), ()],
    ids=["ai", "capture", "none"],
)
def test_explanation_names_signer_and_provenance(policy, provenance, actions):
    explanation = decide(single(provenance, *actions), policy).explanation
    assert explanation.startswith(f"Signed by {SIGNER} ({provenance}): ")
    assert explanation.endswith(".")


def test_unnamed_signer(policy):
    unsigned = {"label": "m", "assertions": [], "signature_info": {}}
    r = CredentialReport("valid", store=parse_store({"active_manifest": "m", "manifests": {"m": unsigned}}))
    assert decide(r, policy).explanation == (
        "Signed by an unnamed signer (valid): declares no generative AI (no actions recorded)."
    )


# --------------------------------------------------------------------------------------------------
# Configurable rules
# --------------------------------------------------------------------------------------------------


def write_policy(tmp_path: Path, rules: str = "", *, header: str = 'version = "test-1"\n') -> Path:
    text = DEFAULT_POLICY.read_text()
    body = text[text.index("[source_types]") : text.index("[rules]")]
    path = tmp_path / "policy.toml"
    path.write_text(f"{header}\n{body}[rules]\n{rules}\n")
    return path


def test_ai_claim_needs_valid_signature(tmp_path):
    strict = load_policy(write_policy(tmp_path, "ai_claim_needs_valid_signature = true"))
    assert strict.version == "test-1"
    assert strict.ai_claim_needs_valid_signature is True
    generated = (act("c2pa.created", "trainedAlgorithmicMedia"),)
    assert label(single("invalid", *generated), strict) == "unknown"
    assert label(single("valid", *generated), strict) == "ai_generated"
    assert label(single("trusted", *generated), strict) == "ai_generated"


def test_invalid_without_ai_and_captured_requires_are_configurable(tmp_path):
    """captured_requires is a minimum: "valid" accepts trusted credentials too."""
    lenient = load_policy(write_policy(tmp_path, 'invalid_without_ai = "no_ai_declared"\ncaptured_requires = "valid"'))
    assert label(single("invalid", act("c2pa.created", "digitalCapture")), lenient) == "no_ai_declared"
    assert label(single("valid", act("c2pa.created", "digitalCapture")), lenient) == "captured"
    assert label(single("trusted", act("c2pa.created", "digitalCapture")), lenient) == "captured"


def test_rules_section_is_optional(tmp_path):
    path = write_policy(tmp_path)
    path.write_text(path.read_text().replace("[rules]\n", ""))
    loaded = load_policy(path)
    assert (loaded.ai_claim_needs_valid_signature, loaded.invalid_without_ai, loaded.captured_requires) == (
        False,
        "unknown",
        "trusted",
    )


@pytest.mark.parametrize(
    ("header", "rules", "message"),
    [
        ("", "", "missing 'version'"),
        ('version = "x"\n', 'invalid_without_ai = "human"', r"rules\.invalid_without_ai must be one of"),
        ('version = "x"\n', 'captured_requires = "signed"', r"rules\.captured_requires must be one of"),
    ],
)
def test_load_policy_errors_name_the_field(tmp_path, header, rules, message):
    with pytest.raises(PolicyError, match=message):
        load_policy(write_policy(tmp_path, rules, header=header))


@pytest.mark.parametrize("section", ["source_types", "actions"])
def test_load_policy_missing_section(tmp_path, section):
    path = tmp_path / "policy.toml"
    path.write_text(DEFAULT_POLICY.read_text().replace(f"[{section}]", f"[{section}_old]"))
    with pytest.raises(PolicyError, match=f"missing '{section}\\."):
        load_policy(path)


def test_load_policy_missing_list(tmp_path):
    path = tmp_path / "policy.toml"
    path.write_text(DEFAULT_POLICY.read_text().replace("ai_edited =", "ai_edits ="))
    with pytest.raises(PolicyError, match=r"missing 'source_types\.ai_edited'"):
        load_policy(path)


def test_load_policy_unparseable_or_missing_file(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("version = \n")
    with pytest.raises(PolicyError, match=r"bad\.toml"):
        load_policy(bad)
    with pytest.raises(PolicyError, match=r"nope\.toml"):
        load_policy(tmp_path / "nope.toml")


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("ai_claim_needs_valid_signature = false", 'ai_claim_needs_valid_signature = "false"'),
        (
            'ai_generated = ["trainedAlgorithmicMedia", "trainedAlgorithmicData", "c2pa:trainedAlgorithmicData"]',
            'ai_generated = "trainedAlgorithmicMedia"',
        ),
    ],
    ids=["string-bool", "string-list"],
)
def test_load_policy_rejects_values_of_the_wrong_type(tmp_path, old, new):
    path = tmp_path / "policy.toml"
    text = DEFAULT_POLICY.read_text()
    assert old in text
    path.write_text(text.replace(old, new))
    with pytest.raises(PolicyError):
        load_policy(path)


def test_strict_policy_explanation_does_not_deny_the_ai_claim(tmp_path):
    strict = load_policy(write_policy(tmp_path, "ai_claim_needs_valid_signature = true"))
    decision = decide(single("invalid", act("c2pa.created", "trainedAlgorithmicMedia")), strict)
    assert decision.label == "unknown"
    assert "declare no AI" not in decision.explanation


def test_policy_versions_order_by_their_numbers():
    from pipeline.policy import version_key

    assert version_key("2026.11-9") < version_key("2026.11-10") < version_key("2027.01-1")


def test_any_two_versions_compare_even_with_words_in_them():
    from pipeline.policy import version_key

    assert version_key("2026.11-1") < version_key("2026.11-beta")  # number vs word: no TypeError
    assert sorted(["b", "2026.1", "a", "2026.1-2"], key=version_key) == ["2026.1", "2026.1-2", "a", "b"]


def test_a_bare_number_version_is_refused(tmp_path):
    path = tmp_path / "policy.toml"
    path.write_text(DEFAULT_POLICY.read_text().replace('version = "2026.12-2"', "version = 2026.10"))
    with pytest.raises(PolicyError, match="version must be a quoted"):
        load_policy(path)


def test_the_default_remote_manifest_allow_list_is_adobes_content_credentials_cloud():
    from pipeline.remote_manifests import Origin

    assert load_policy(DEFAULT_POLICY).remote_manifest_hosts == (Origin("https", "cai-manifests.adobe.com", 443),)


def test_a_bad_remote_manifest_entry_names_the_field(tmp_path):
    path = tmp_path / "policy.toml"
    default = 'allowed = ["https://cai-manifests.adobe.com"]'
    path.write_text(DEFAULT_POLICY.read_text().replace(default, 'allowed = ["http://mirror.example"]'))
    with pytest.raises(PolicyError, match=r"remote_manifests\.allowed: 'http://mirror\.example': http is allowed only"):
        load_policy(path)
