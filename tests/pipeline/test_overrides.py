"""Operator overrides on the labelling path (issue 13 §4): pipeline.process.label_object consults the override
store, so an override survives relabelling and a revocation republishes the pipeline's own judgement. Real c2pa
reads of signed samples; in-memory store, sink and overrides (the Redis one passes the same contract tests)."""

from __future__ import annotations

import dataclasses

import pytest

from pipeline.adapters.credentials.reader import C2paCredentialReader
from pipeline.adapters.memory import InMemoryOverrideStore
from pipeline.model import ObjectRef
from pipeline.policy import Policy, load_policy
from pipeline.ports import Override
from pipeline.process import label_object
from pipeline.settings import DEFAULT_POLICY
from testkit.catalogue import Sample, build_samples
from testkit.pki import make_test_pki
from tests.pipeline.test_process import BUCKET, World, copy_event_of, make_world


@pytest.fixture(scope="module")
def sample_set() -> dict[str, Sample]:
    return {s.name: s for s in build_samples(make_test_pki())}


@pytest.fixture(scope="module")
def reader(tmp_path_factory: pytest.TempPathFactory) -> C2paCredentialReader:
    return C2paCredentialReader(make_test_pki().write(tmp_path_factory.mktemp("trust")))


@pytest.fixture(scope="module")
def policy() -> Policy:
    return load_policy(DEFAULT_POLICY)


@pytest.fixture
def world(reader, policy, tmp_path) -> World:
    made = make_world(reader, policy, tmp_path, versioned=True)
    return dataclasses.replace(made, services=dataclasses.replace(made.services, overrides=InMemoryOverrideStore()))


def overrides(world: World) -> InMemoryOverrideStore:
    store = world.services.overrides
    assert isinstance(store, InMemoryOverrideStore)
    return store


def set_override(world: World, key: str, label: str, *, kind: str = "set", previous: str = "ai_edited") -> Override:
    current = world.store.head(BUCKET, key)
    override = Override(
        f"o{len(overrides(world).kept)}-{kind}",
        kind,
        label if kind == "set" else None,
        "appeal 7: retouched by hand" if kind == "set" else "appeal reopened",
        "alice",
        "2026-12-02T18:00:00+00:00",
        previous_label=previous,
        provenance="trusted",
        policy=world.services.policy.version if kind == "revoked" else None,
    )
    overrides(world).put(current, override)
    return override


def current_ref(world: World, key: str) -> ObjectRef:
    obj = world.store.head(BUCKET, key)
    return ObjectRef(BUCKET, key, obj.version_id, obj.etag)


def test_an_override_publishes_its_record_and_writes_its_label_without_reading(world, sample_set):
    world.label(world.upload("e.jpg", sample_set["ai-edited.jpg"].data))
    first = world.sink.records[-1]
    assert (first["label"], first["label_source"], first["locked"], first["override"]) == (
        "ai_edited",
        "c2pa",
        True,
        None,
    )
    reads = len(world.reader.paths)
    set_override(world, "e.jpg", "no_ai_declared")

    outcome = world.label(current_ref(world, "e.jpg"))

    assert (outcome.status, outcome.metadata_written, len(world.reader.paths)) == ("labelled", True, reads)
    record = world.sink.records[-1]
    assert len(world.sink.records) == 2
    assert {k: record[k] for k in ("label", "label_source", "locked", "override", "previous_label")} == {
        "label": "no_ai_declared",
        "label_source": "override",
        "locked": False,
        "override": "set",
        "previous_label": "ai_edited",
    }
    assert (record["override_reason"], record["override_by"], record["provenance"]) == (
        "appeal 7: retouched by hand",
        "alice",
        "trusted",
    )
    assert record["explanation"].startswith("Label set by an operator, alice, on 2026-12-02T18:00:00+00:00")
    on_object = world.store.head(BUCKET, "e.jpg").metadata
    assert (on_object["aigc-label"], on_object["aigc-override"], on_object["aigc-locked"]) == (
        "no_ai_declared",
        "set",
        "false",
    )
    # the write-back's own copy event (a new version, same content) is recognised; nothing is published again
    assert world.label(copy_event_of(world, "e.jpg")).status == "already_labelled"
    assert len(world.sink.records) == 2


def test_a_relabel_or_a_policy_upgrade_keeps_the_override(world, sample_set, policy: Policy):
    world.label(world.upload("g.jpg", sample_set["ai-generated.jpg"].data))
    set_override(world, "g.jpg", "ai_edited", previous="ai_generated")
    world.label(current_ref(world, "g.jpg"))
    assert world.label(current_ref(world, "g.jpg")).status == "already_labelled"  # a backfill under this policy

    upgraded = dataclasses.replace(world.services, policy=dataclasses.replace(policy, version="2099.01-1"))
    outcome = label_object(current_ref(world, "g.jpg"), upgraded)

    assert outcome.status == "labelled"
    record = world.sink.records[-1]
    assert (record["label"], record["label_source"], record["policy"]) == ("ai_edited", "override", "2099.01-1")
    assert world.store.head(BUCKET, "g.jpg").metadata["aigc-label"] == "ai_edited"


def test_forged_metadata_on_an_overridden_object_is_put_back_to_the_override(world, sample_set):
    """Unversioned, the forged copy keeps the version identity and the published override is written again; here,
    versioned, the copy is a new version, which gets the override's record."""
    world.label(world.upload("f.jpg", sample_set["ai-edited.jpg"].data))
    set_override(world, "f.jpg", "no_ai_declared")
    world.label(current_ref(world, "f.jpg"))
    obj = world.store.head(BUCKET, "f.jpg")
    forged = {**obj.metadata, "aigc-label": "captured"}
    world.store.write_metadata(obj, forged)  # the uploader copies it onto itself: same content, another version

    outcome = world.label(current_ref(world, "f.jpg"))

    # a new version of the same content (versioned bucket): its own record, the override's, and the label put back
    assert (outcome.status, outcome.metadata_written) == ("labelled", True)
    assert (world.sink.records[-1]["label"], world.sink.records[-1]["label_source"]) == ("no_ai_declared", "override")
    assert world.store.head(BUCKET, "f.jpg").metadata["aigc-label"] == "no_ai_declared"


def test_a_revocation_republishes_the_pipelines_judgement_once(world, sample_set, policy: Policy):
    world.label(world.upload("r.jpg", sample_set["ai-edited.jpg"].data))
    set_override(world, "r.jpg", "no_ai_declared")
    world.label(current_ref(world, "r.jpg"))
    set_override(world, "r.jpg", "ignored", kind="revoked", previous="no_ai_declared")
    reads = len(world.reader.paths)

    outcome = world.label(current_ref(world, "r.jpg"))

    assert (outcome.status, len(world.reader.paths)) == ("labelled", reads + 1)  # judged afresh
    record = world.sink.records[-1]
    assert {k: record[k] for k in ("label", "label_source", "locked", "override", "previous_label")} == {
        "label": "ai_edited",
        "label_source": "c2pa",
        "locked": True,
        "override": "revoked",
        "previous_label": "no_ai_declared",
    }
    on_object = world.store.head(BUCKET, "r.jpg").metadata
    assert (on_object["aigc-label"], on_object["aigc-locked"], "aigc-override" in on_object) == (
        "ai_edited",
        "true",
        False,
    )
    assert world.label(current_ref(world, "r.jpg")).status == "already_labelled"
    # under a later policy the revocation is history: an ordinary record, no override fields
    upgraded = dataclasses.replace(world.services, policy=dataclasses.replace(policy, version="2099.01-1"))
    assert label_object(current_ref(world, "r.jpg"), upgraded).status == "labelled"
    assert (world.sink.records[-1]["override"], world.sink.records[-1]["label"]) == (None, "ai_edited")


def test_new_content_under_the_same_key_is_judged_afresh(world, sample_set):
    world.label(world.upload("n.jpg", sample_set["ai-edited.jpg"].data))
    set_override(world, "n.jpg", "no_ai_declared")
    world.label(current_ref(world, "n.jpg"))

    outcome = world.label(world.upload("n.jpg", sample_set["ai-generated.jpg"].data))

    assert outcome.record is not None
    assert (outcome.record.label, outcome.record.override) == ("ai_generated", None)


def test_forged_metadata_on_an_overridden_unversioned_object_is_repaired_without_a_record(
    reader, policy, tmp_path, sample_set
):
    made = make_world(reader, policy, tmp_path)
    world = dataclasses.replace(made, services=dataclasses.replace(made.services, overrides=InMemoryOverrideStore()))
    world.label(world.upload("u.jpg", sample_set["ai-edited.jpg"].data))
    set_override(world, "u.jpg", "no_ai_declared")
    world.label(current_ref(world, "u.jpg"))
    obj = world.store.head(BUCKET, "u.jpg")
    world.store.write_metadata(obj, {**obj.metadata, "aigc-label": "captured"})
    records = len(world.sink.records)

    outcome = world.label(current_ref(world, "u.jpg"))

    assert (outcome.status, outcome.metadata_written, len(world.sink.records)) == ("duplicate", True, records)
    assert world.store.head(BUCKET, "u.jpg").metadata["aigc-label"] == "no_ai_declared"


def test_the_override_follows_a_multipart_objects_content_to_the_etag_its_copy_gets(world, sample_set):
    """A multipart upload's ETag is not the MD5; the write-back's copy is single-part and gets another ETag: the
    override is kept for that one too, so the copy's event and a later backfill find it."""
    data = sample_set["ai-edited.jpg"].data
    world.store.put(BUCKET, "m.jpg", data, content_type="image/jpeg", etag="3858f62230ac3c915f300c664312c11f-2")
    set_override(world, "m.jpg", "no_ai_declared")  # before its first label: the object still has its multipart ETag
    assert world.label(current_ref(world, "m.jpg")).status == "labelled"
    after = world.store.head(BUCKET, "m.jpg")
    assert after.etag != "3858f62230ac3c915f300c664312c11f-2"
    assert overrides(world).get(after) is not None
    assert world.label(current_ref(world, "m.jpg")).status == "already_labelled"
    assert after.metadata["aigc-label"] == "no_ai_declared"
