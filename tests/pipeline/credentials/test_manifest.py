"""c2pa manifest-store JSON -> frozen dataclasses (pipeline.credentials.manifest), over hand-built stores shaped
like ``c2pa.Reader.json()`` output."""

from __future__ import annotations

from typing import Any

import pytest

from pipeline.credentials.manifest import Action, Ingredient, ManifestStore, normalise_source_type, parse_store

IPTC = "http://cv.iptc.org/newscodes/digitalsourcetype/"
AI_MEDIA = IPTC + "trainedAlgorithmicMedia"
COMPOSITE_AI = IPTC + "compositeWithTrainedAlgorithmicMedia"
CAPTURE = IPTC + "digitalCapture"

FIREFLY = "urn:uuid:83875007-1e81-4027-847f-4137f13027db"
PHOTOSHOP = "adobe:urn:uuid:f3a46a78-8103-4e04-9f98-abcf03ebab19"


def manifest(
    label: str,
    *assertions: dict[str, Any],
    ingredients: list[dict[str, Any]] | None = None,
    generator: str | None = "Example App/1.0 c2pa-rs/0.91.3",
    generator_info: Any = None,
    issuer: str | None = "Example Inc.",
    common_name: str | None = "Example C2PA Signer",
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "title": "image.jpg",
        "format": "image/jpeg",
        "instance_id": f"xmp:iid:{label[-8:]}",
        "assertions": list(assertions),
        "signature_info": {
            "alg": "Es256",
            "issuer": issuer,
            "common_name": common_name,
            "cert_serial_number": "310665949469838386185380984752231266212090716844",
            "time": "2026-11-25T10:00:00+00:00",
        },
        "label": label,
        "claim_version": 2,
    }
    if generator is not None:
        body["claim_generator"] = generator
    if generator_info is not None:
        body["claim_generator_info"] = generator_info
    if ingredients is not None:
        body["ingredients"] = ingredients
    return body


def actions(*items: dict[str, Any], label: str = "c2pa.actions.v2", **data: Any) -> dict[str, Any]:
    return {"label": label, "data": {"actions": list(items), **data}}


def ingredient(relationship: str, manifest_label: str | None, title: str = "ingredient.jpg") -> dict[str, Any]:
    body: dict[str, Any] = {
        "title": title,
        "format": "image/jpeg",
        "instance_id": "xmp:iid:726ddd55-d57b-4b4e-9c81-d56e6389049d",
        "relationship": relationship,
        "label": "c2pa.ingredient.v3",
    }
    if manifest_label is not None:
        body["active_manifest"] = manifest_label
        body["manifest_data"] = {"format": "application/c2pa", "identifier": manifest_label}
    return body


def store(active: str | None, *manifests: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"active_manifest": active, "manifests": {m["label"]: m for m in manifests}, **extra}


# --------------------------------------------------------------------------------------------------
# normalise_source_type
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "term"),
    [
        ("http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia", "trainedAlgorithmicMedia"),
        ("https://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia", "trainedAlgorithmicMedia"),
        (" https://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia ", "trainedAlgorithmicMedia"),
        ("\thttp://cv.iptc.org/newscodes/digitalsourcetype/digitalCapture\n", "digitalCapture"),
        ("http://cv.iptc.org/newscodes/digitalsourcetype/compositeSynthetic/", "compositeSynthetic"),
        ("cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicData", "trainedAlgorithmicData"),
        ("http://c2pa.org/digitalsourcetype/empty", "c2pa:empty"),
        ("https://c2pa.org/digitalsourcetype/trainedAlgorithmicData/", "c2pa:trainedAlgorithmicData"),
        ("http://cv.iptc.org/newscodes/digitalsourcetype/algorithmicMedia", "algorithmicMedia"),
        ("https://example.com/vocab/trainedAlgorithmicMedia", "https://example.com/vocab/trainedAlgorithmicMedia"),
        (" https://example.com/vocab/x/ ", "https://example.com/vocab/x/"),
        ("http://cv.iptc.org/newscodes/digitalsourcetype/", "http://cv.iptc.org/newscodes/digitalsourcetype/"),
        ("trainedAlgorithmicMedia", "trainedAlgorithmicMedia"),
    ],
)
def test_normalise_source_type(raw, term):
    assert normalise_source_type(raw) == term


@pytest.mark.parametrize("raw", [None, "", "   ", 42, ["trainedAlgorithmicMedia"], {"uri": AI_MEDIA}])
def test_normalise_source_type_of_nothing_is_none(raw):
    assert normalise_source_type(raw) is None


@pytest.mark.parametrize(
    "raw",
    [
        "http://cv.iptc.org/newscodes/digitalsourcetype/algorithmicMedia",
        "http://cv.iptc.org/newscodes/digitalsourcetype/algorithmicallyEnhanced",
        "http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMediaX",
        "http://example.com/trainedAlgorithmicMedia",
    ],
)
def test_no_substring_match_into_trained_algorithmic_media(raw):
    assert normalise_source_type(raw) != "trainedAlgorithmicMedia"


# --------------------------------------------------------------------------------------------------
# parse_store
# --------------------------------------------------------------------------------------------------


def firefly_then_photoshop() -> dict[str, Any]:
    """Trimmed from c2pa-rs's sdk/tests/fixtures/ocsp.jpg as c2pa.Reader.json() reports it."""
    firefly = manifest(
        FIREFLY,
        actions(
            {
                "action": "c2pa.created",
                "softwareAgent": "Adobe Firefly",
                "parameters": {"com.adobe.firefly.operation": "text_to_image"},
                "digitalSourceType": AI_MEDIA,
            }
        ),
        generator="Adobe_Firefly adobe_c2pa/0.12.4+sven2 c2pa-rs/0.32.7",
        issuer="Adobe Inc.",
        common_name="Adobe Firefly C2PA Stage",
    )
    photoshop = manifest(
        PHOTOSHOP,
        {"label": "stds.schema-org.CreativeWork", "data": {"@type": "CreativeWork"}, "kind": "Json"},
        actions(
            {"action": "c2pa.opened", "digitalSourceType": COMPOSITE_AI, "parameters": {"com.adobe.tool": "open"}},
            {"action": "c2pa.cropped", "parameters": {"com.adobe.tool": "crop"}},
            {"action": "c2pa.edited", "softwareAgent": "Adobe Firefly", "digitalSourceType": COMPOSITE_AI},
            metadata={"dateTime": "2025-08-13T16:28:41.435Z"},
        ),
        ingredients=[ingredient("componentOf", FIREFLY, title="ocsp.jpg")],
        generator="Adobe_Photoshop/26.9.0 adobe_c2pa/0.14.2 c2pa-rs/0.43.0",
        generator_info=[{"name": "Adobe Photoshop", "version": "26.9.0"}],
        issuer="Adobe Inc.",
        common_name="Adobe C2PA",
    )
    return store(
        PHOTOSHOP,
        firefly,
        photoshop,
        validation_status=[
            {"code": "signingCredential.untrusted", "url": f"self#jumbf=/c2pa/{PHOTOSHOP}/c2pa.signature"},
            {"code": "signingCredential.untrusted", "url": f"self#jumbf=/c2pa/{FIREFLY}/c2pa.signature"},
            {"code": "assertion.dataHash.mismatch", "url": f"self#jumbf=/c2pa/{PHOTOSHOP}/c2pa.assertions"},
        ],
        validation_state="Valid",
    )


def test_parse_store_reads_a_real_shaped_store():
    parsed = parse_store(firefly_then_photoshop())
    assert parsed.active == PHOTOSHOP
    assert parsed.validation_state == "Valid"
    assert parsed.failure_codes == ("assertion.dataHash.mismatch", "signingCredential.untrusted")
    assert set(parsed.manifests) == {FIREFLY, PHOTOSHOP}
    active = parsed.active_manifest
    assert active is not None
    assert active.label == PHOTOSHOP
    assert active.claim_generator == "Adobe Photoshop"
    assert (active.signer_issuer, active.signer_common_name, active.signer) == (
        "Adobe Inc.",
        "Adobe C2PA",
        "Adobe Inc.",
    )
    assert active.signed_at == "2026-11-25T10:00:00+00:00"
    assert active.actions == (
        Action("c2pa.opened", "compositeWithTrainedAlgorithmicMedia", None, True),
        Action("c2pa.cropped", None, None, True),
        Action("c2pa.edited", "compositeWithTrainedAlgorithmicMedia", "Adobe Firefly", True),
    )
    assert active.has_actions_v2 is True
    assert active.all_actions_included is None
    assert active.assertion_labels == ("stds.schema-org.CreativeWork", "c2pa.actions.v2")
    assert active.ingredients == (Ingredient("ocsp.jpg", "componentOf", FIREFLY),)
    assert active.legacy_genai is False
    assert active.software_agents == ("Adobe Firefly",)
    firefly = parsed.manifests[FIREFLY]
    assert firefly.claim_generator == "Adobe_Firefly adobe_c2pa/0.12.4+sven2 c2pa-rs/0.32.7"
    assert firefly.signer == "Adobe Inc."
    assert firefly.actions == (Action("c2pa.created", "trainedAlgorithmicMedia", "Adobe Firefly", True),)


def test_v1_actions_are_read_and_marked():
    doc = store(
        "m", manifest("m", actions({"action": "c2pa.created", "digitalSourceType": CAPTURE}, label="c2pa.actions"))
    )
    m = parse_store(doc).manifests["m"]
    assert m.actions == (Action("c2pa.created", "digitalCapture", None, from_v2=False),)
    assert m.has_actions_v2 is False


def test_v1_and_v2_actions_in_one_manifest_are_both_read_in_order():
    doc = store(
        "m",
        manifest(
            "m",
            actions({"action": "c2pa.created", "digitalSourceType": CAPTURE}, label="c2pa.actions"),
            actions({"action": "c2pa.edited", "digitalSourceType": COMPOSITE_AI}, allActionsIncluded=True),
        ),
    )
    m = parse_store(doc).manifests["m"]
    assert m.actions == (
        Action("c2pa.created", "digitalCapture", None, from_v2=False),
        Action("c2pa.edited", "compositeWithTrainedAlgorithmicMedia", None, from_v2=True),
    )
    assert (m.has_actions_v2, m.all_actions_included) == (True, True)


@pytest.mark.parametrize("label", ["c2pa.actions__1", "c2pa.actions.v2__2", "c2pa.actions__12"])
def test_numbered_repeat_of_an_actions_assertion_is_read(label):
    doc = store(
        "m",
        manifest(
            "m",
            actions({"action": "c2pa.created", "digitalSourceType": CAPTURE}),
            actions({"action": "c2pa.resized"}, label=label),
        ),
    )
    m = parse_store(doc).manifests["m"]
    assert [a.action for a in m.actions] == ["c2pa.created", "c2pa.resized"]
    assert m.assertion_labels == ("c2pa.actions.v2", label)


@pytest.mark.parametrize("label", ["c2pa.actions__x", "c2pa.actionsv2", "c2pa.actions.v3", "com.example.c2pa.actions"])
def test_labels_that_only_resemble_actions_are_ignored(label):
    doc = store("m", manifest("m", actions({"action": "c2pa.created", "digitalSourceType": AI_MEDIA}, label=label)))
    assert parse_store(doc).manifests["m"].actions == ()


def test_all_actions_included_false_is_kept():
    doc = store("m", manifest("m", actions({"action": "c2pa.created"}, allActionsIncluded=False)))
    assert parse_store(doc).manifests["m"].all_actions_included is False


@pytest.mark.parametrize("label", ["com.adobe.generative-ai", "com.adobe.generative-ai__1"])
def test_legacy_adobe_generative_ai_assertion(label):
    doc = store("m", manifest("m", {"label": label, "data": {"description": "Generative Fill"}}))
    m = parse_store(doc).manifests["m"]
    assert m.legacy_genai is True
    assert m.actions == ()


def test_legacy_adobe_digital_source_type_parameter():
    doc = store(
        "m",
        manifest(
            "m",
            actions(
                {"action": "c2pa.edited", "parameters": {"com.adobe.digitalSourceType": COMPOSITE_AI}},
                label="c2pa.actions",
            ),
        ),
    )
    (action,) = parse_store(doc).manifests["m"].actions
    assert action.source_type == "compositeWithTrainedAlgorithmicMedia"


def test_standard_source_type_wins_over_the_legacy_parameter():
    doc = store(
        "m",
        manifest(
            "m",
            actions(
                {
                    "action": "c2pa.edited",
                    "digitalSourceType": AI_MEDIA,
                    "parameters": {"com.adobe.digitalSourceType": COMPOSITE_AI},
                }
            ),
        ),
    )
    (action,) = parse_store(doc).manifests["m"].actions
    assert action.source_type == "trainedAlgorithmicMedia"


@pytest.mark.parametrize(
    ("agent", "expected"),
    [
        ("Adobe Firefly", "Adobe Firefly"),
        ("  Adobe Firefly ", "Adobe Firefly"),
        ({"name": "Example Image Model", "version": "2.1"}, "Example Image Model"),
        ({"version": "2.1"}, None),
        ("   ", None),
        (42, None),
        (None, None),
    ],
)
def test_software_agent_as_string_or_claim_generator_info(agent, expected):
    body: dict[str, Any] = {"action": "c2pa.created", "digitalSourceType": AI_MEDIA}
    if agent is not None:
        body["softwareAgent"] = agent
    m = parse_store(store("m", manifest("m", actions(body)))).manifests["m"]
    assert m.actions[0].software_agent == expected
    assert m.software_agents == ((expected,) if expected else ())


def test_software_agents_are_unique_and_sorted():
    doc = store(
        "m",
        manifest(
            "m",
            actions(
                {"action": "c2pa.created", "softwareAgent": "Zeta"},
                {"action": "c2pa.edited", "softwareAgent": {"name": "Alpha"}},
                {"action": "c2pa.edited", "softwareAgent": "Zeta"},
            ),
        ),
    )
    assert parse_store(doc).manifests["m"].software_agents == ("Alpha", "Zeta")


def test_action_name_is_trimmed():
    doc = store("m", manifest("m", actions({"action": " c2pa.created\n"})))
    assert parse_store(doc).manifests["m"].actions[0].action == "c2pa.created"


@pytest.mark.parametrize(
    ("generator", "info", "expected"),
    [
        ("Old/1.0", [{"name": "Example Image Model", "version": "1.0"}], "Example Image Model"),
        ("Old/1.0", {"name": "Single Info"}, "Single Info"),
        ("Old/1.0", [{"version": "1.0"}], "Old/1.0"),
        ("Old/1.0", [], "Old/1.0"),
        (None, None, None),
    ],
)
def test_claim_generator_prefers_claim_generator_info(generator, info, expected):
    doc = store("m", manifest("m", generator=generator, generator_info=info))
    assert parse_store(doc).manifests["m"].claim_generator == expected


def test_signer_falls_back_to_common_name():
    doc = store("m", manifest("m", issuer=None, common_name="Example C2PA Signer"))
    assert parse_store(doc).manifests["m"].signer == "Example C2PA Signer"


def test_ingredient_without_relationship_is_a_component_and_without_manifest_has_none():
    raw = ingredient("parentOf", None, title="stripped.jpg")
    del raw["relationship"]
    doc = store("m", manifest("m", ingredients=[raw]))
    assert parse_store(doc).manifests["m"].ingredients == (Ingredient("stripped.jpg", "componentOf", None),)


def test_junk_entries_are_ignored():
    doc = {
        "active_manifest": "m",
        "manifests": {
            "m": manifest(
                "m",
                "not an assertion",  # type: ignore[arg-type]
                {"label": "c2pa.actions.v2", "data": ["not", "an", "object"]},
                actions("not an action", {"action": "c2pa.created"}),  # type: ignore[arg-type]
                ingredients=["not an ingredient", ingredient("parentOf", None)],  # type: ignore[list-item]
            ),
            "broken": "not a manifest",
        },
        "validation_status": [{"code": "claimSignature.mismatch"}, {"explanation": "no code"}, "junk"],
    }
    parsed = parse_store(doc)
    assert set(parsed.manifests) == {"m"}
    m = parsed.manifests["m"]
    assert [a.action for a in m.actions] == ["c2pa.created"]
    assert len(m.ingredients) == 1
    assert parsed.failure_codes == ("claimSignature.mismatch",)


def test_empty_store():
    parsed = parse_store({})
    assert parsed == ManifestStore(active=None, manifests={}, validation_state=None, failure_codes=())
    assert parsed.active_manifest is None
    assert parsed.walk() == []
    assert parsed.parent_chain() == []


def test_active_label_missing_from_manifests_gives_no_active_manifest():
    parsed = parse_store(store("urn:uuid:gone", manifest("m")))
    assert parsed.active_manifest is None
    assert parsed.walk() == []
    assert parsed.parent_chain() == []


# --------------------------------------------------------------------------------------------------
# walk() and parent_chain()
# --------------------------------------------------------------------------------------------------


def labels(manifests) -> list[str]:
    return [m.label for m in manifests]


def lineage_store() -> ManifestStore:
    """active --parentOf--> parent --parentOf--> origin; active --componentOf--> sticker; parent --inputTo--> prompt;
    active also names an ingredient with no credentials and one whose manifest is not in the store."""
    return parse_store(
        store(
            "active",
            manifest(
                "active",
                ingredients=[
                    ingredient("parentOf", "parent"),
                    ingredient("componentOf", "sticker"),
                    ingredient("componentOf", None),
                    ingredient("componentOf", "urn:uuid:missing"),
                ],
            ),
            manifest("parent", ingredients=[ingredient("parentOf", "origin"), ingredient("inputTo", "prompt")]),
            manifest("origin"),
            manifest("sticker"),
            manifest("prompt"),
            manifest("unrelated"),
        )
    )


def test_walk_visits_each_reachable_manifest_once_active_first():
    assert labels(lineage_store().walk()) == ["active", "parent", "origin", "prompt", "sticker"]


def test_walk_can_follow_only_some_relationships():
    assert labels(lineage_store().walk(("parentOf",))) == ["active", "parent", "origin"]
    assert labels(lineage_store().walk(("componentOf",))) == ["active", "sticker"]


def test_parent_chain_follows_parent_of_back_to_the_origin():
    assert labels(lineage_store().parent_chain()) == ["active", "parent", "origin"]


def test_parent_chain_takes_the_first_parent():
    parsed = parse_store(
        store(
            "a",
            manifest(
                "a",
                ingredients=[
                    ingredient("componentOf", "c"),
                    ingredient("parentOf", "p1"),
                    ingredient("parentOf", "p2"),
                ],
            ),
            manifest("c"),
            manifest("p1"),
            manifest("p2"),
        )
    )
    assert labels(parsed.parent_chain()) == ["a", "p1"]


def test_parent_chain_stops_at_a_parent_without_credentials():
    parsed = parse_store(store("a", manifest("a", ingredients=[ingredient("parentOf", None)])))
    assert labels(parsed.parent_chain()) == ["a"]


def test_cycles_terminate():
    parsed = parse_store(
        store(
            "a",
            manifest("a", ingredients=[ingredient("parentOf", "b")]),
            manifest("b", ingredients=[ingredient("parentOf", "c"), ingredient("componentOf", "a")]),
            manifest("c", ingredients=[ingredient("parentOf", "a")]),
        )
    )
    assert labels(parsed.parent_chain()) == ["a", "b", "c"]
    assert labels(parsed.walk()) == ["a", "b", "c"]


def test_self_reference_terminates():
    parsed = parse_store(store("a", manifest("a", ingredients=[ingredient("parentOf", "a")])))
    assert labels(parsed.parent_chain()) == ["a"]
    assert labels(parsed.walk()) == ["a"]


def test_diamond_is_walked_once():
    parsed = parse_store(
        store(
            "a",
            manifest("a", ingredients=[ingredient("parentOf", "b"), ingredient("componentOf", "c")]),
            manifest("b", ingredients=[ingredient("componentOf", "d")]),
            manifest("c", ingredients=[ingredient("componentOf", "d")]),
            manifest("d"),
        )
    )
    assert labels(parsed.walk()) == ["a", "b", "d", "c"]
