"""Generated versus edited by the composition (issue 13 §1): signed samples of each shape read by c2pa for real,
then the rule's edges over hand-built stores (pipeline.composition, through pipeline.policy.decide)."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.adapters.credentials.reader import C2paCredentialReader
from pipeline.composition import composition
from pipeline.policy import Policy, decide, load_policy
from pipeline.settings import DEFAULT_POLICY
from testkit.catalogue import Sample, build_composition_samples
from testkit.pki import make_test_pki
from tests.pipeline.test_policy import C2PA, act, manifest, report

SAMPLES = build_composition_samples(make_test_pki())


@pytest.fixture(scope="module")
def policy() -> Policy:
    return load_policy(DEFAULT_POLICY)


@pytest.fixture(scope="module")
def reader(tmp_path_factory: pytest.TempPathFactory) -> C2paCredentialReader:
    return C2paCredentialReader(make_test_pki().write(tmp_path_factory.mktemp("trust")))


def test_every_shape_has_a_sample_and_both_ai_labels_occur():
    assert len({s.name for s in SAMPLES}) == len(SAMPLES) == 10
    assert {s.expect_label for s in SAMPLES} == {"ai_generated", "ai_edited", "no_ai_declared"}


@pytest.mark.parametrize("sample", SAMPLES, ids=lambda s: s.name)
def test_signed_composition_gets_its_label(sample: Sample, reader, policy, tmp_path: Path):
    path = tmp_path / sample.name
    path.write_bytes(sample.data)
    found = reader.read(path)
    assert found.provenance == sample.expect_provenance, found.reason
    decision = decide(found, policy)
    assert (decision.label, decision.label_source) == (
        sample.expect_label,
        "c2pa" if sample.expect_label != "no_ai_declared" else None,
    ), sample.description


def test_the_ingredients_keep_their_own_manifests_in_the_signed_samples(reader, tmp_path: Path):
    """The shapes depend on it: a signed ingredient's manifest is in the store, an unsigned one has none."""
    sample = next(s for s in SAMPLES if s.name == "canvas-photo-and-generated.jpg")
    path = tmp_path / sample.name
    path.write_bytes(sample.data)
    store = reader.read(path).store
    assert store is not None and store.active_manifest is not None
    ingredients = store.active_manifest.ingredients
    assert [(i.relationship, i.manifest is not None) for i in ingredients] == [
        ("componentOf", False),
        ("componentOf", True),
    ]


# --------------------------------------------------------------------------------------------------
# Edges, over hand-built stores
# --------------------------------------------------------------------------------------------------


def kind(policy: Policy, *manifests) -> str | None:
    store = report("trusted", *manifests).store
    assert store is not None
    return composition(store, policy.ai_generated, policy.ai_edited)


def test_generated_origin_with_human_edits_stays_generated(policy):
    assert kind(policy, manifest("a", act("c2pa.created", "trainedAlgorithmicMedia"), act("c2pa.cropped"))) == (
        "generated"
    )


def test_order_of_derivation_is_followed_through_parents(policy):
    """generated -> opened and filled -> opened and resized: still generated; a photo two steps back: edited."""
    chain = [
        manifest("c", act("c2pa.opened"), act("c2pa.resized"), parents=("b",)),
        manifest("b", act("c2pa.opened"), act("c2pa.edited", "compositeWithTrainedAlgorithmicMedia"), parents=("a",)),
    ]
    assert kind(policy, *chain, manifest("a", act("c2pa.created", "trainedAlgorithmicMedia"))) == "generated"
    assert kind(policy, *chain, manifest("a", act("c2pa.created", "digitalCapture"))) == "edited"


def test_a_composite_source_type_at_creation_is_edited(policy):
    assert kind(policy, manifest("a", act("c2pa.created", "compositeWithTrainedAlgorithmicMedia"))) == "edited"


def test_a_generative_edit_of_undeclared_content_is_edited(policy):
    """No inception, no parent: the edit changed something whose origin the manifest does not say."""
    assert kind(policy, manifest("a", act("c2pa.edited", "trainedAlgorithmicMedia"))) == "edited"


def test_a_created_action_without_a_source_type_is_content_of_undeclared_origin(policy):
    assert kind(policy, manifest("a", act("c2pa.created"), act("c2pa.edited", "trainedAlgorithmicMedia"))) == "edited"


def test_a_blank_canvas_holds_nothing(policy):
    canvas = act("c2pa.created", C2PA + "empty")
    assert kind(policy, manifest("a", canvas, act("c2pa.placed"), components=("g",)), generated_image()) == (
        "generated"
    )
    assert kind(policy, manifest("a", canvas, act("c2pa.edited", "trainedAlgorithmicMedia"))) == "generated"


def test_a_human_drawn_layer_makes_a_generated_image_edited(policy):
    actions = (act("c2pa.created", "trainedAlgorithmicMedia"), act("c2pa.drawing", "digitalCreation"))
    assert kind(policy, manifest("a", *actions)) == "edited"


def test_a_source_type_outside_the_vocabularies_adds_nothing(policy):
    actions = (act("c2pa.created", "trainedAlgorithmicMedia"), act("c2pa.edited", "http://example.com/type/1"))
    assert kind(policy, manifest("a", *actions)) == "generated"


def test_an_ingredient_manifest_missing_from_the_store_is_other_content(policy):
    assert kind(
        policy, manifest("a", act("c2pa.opened"), act("c2pa.edited", "trainedAlgorithmicMedia"), parents=("gone",))
    ) == ("edited")


def test_legacy_adobe_assertion_without_a_parent_is_generated_with_a_photo_parent_edited(policy):
    legacy = ({"label": "com.adobe.generative-ai", "data": {}},)
    assert kind(policy, manifest("a", extra_assertions=legacy)) == "generated"
    photo = manifest("p", act("c2pa.created", "digitalCapture"))
    assert kind(policy, manifest("a", act("c2pa.opened"), parents=("p",), extra_assertions=legacy), photo) == "edited"


def test_a_cycle_of_ingredients_ends(policy):
    a = manifest("a", act("c2pa.opened"), act("c2pa.edited", "trainedAlgorithmicMedia"), parents=("b",))
    b = manifest("b", act("c2pa.opened"), parents=("a",))
    assert kind(policy, a, b) == "generated"


def test_no_generative_ai_is_none(policy):
    assert kind(policy, manifest("a", act("c2pa.created", "digitalCapture"), act("c2pa.edited"))) is None


def test_decide_labels_by_the_composition_whatever_the_validation(policy):
    fill = act("c2pa.edited", "trainedAlgorithmicMedia", agent={"name": "Fill"})
    edited = report(
        "invalid",
        manifest("a", act("c2pa.opened"), fill, parents=("p",)),
        manifest("p", act("c2pa.created", "digitalCapture")),
        failures=("assertion.dataHash.mismatch",),
    )
    decision = decide(edited, policy)
    assert (decision.label, decision.label_source) == ("ai_edited", "c2pa")
    assert decision.explanation == "Signed by Example Inc. (invalid): edited or composited with generative AI (Fill)."


def generated_image():
    return manifest("g", act("c2pa.created", "trainedAlgorithmicMedia"))
