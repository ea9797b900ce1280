"""label_object end to end over the in-memory store and sink, with real c2pa reads of the signed samples."""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import pytest

from pipeline.adapters.credentials.reader import C2paCredentialReader
from pipeline.adapters.memory import InMemoryLabelSink, InMemoryObjectStore
from pipeline.errors import MetadataNotWritable, ObjectNotFound, StorageUnavailable
from pipeline.model import ObjectRef, StoredObject
from pipeline.policy import Policy, load_policy
from pipeline.ports import CredentialReport, Guard
from pipeline.process import Services, dedupe_key, echo_key, is_own_echo, label_object
from pipeline.record import MAX_ITEMS, MAX_RECORD_BYTES, MAX_TEXT_CHARS, encode_record
from pipeline.settings import DEFAULT_POLICY
from pipeline.signals import IPTC
from testkit.catalogue import Sample, build_samples
from testkit.media import make_jpeg
from testkit.pki import make_test_pki
from testkit.signing import sign

BUCKET = "uploads"
POLICY_VERSION = "2026.12-2"

# What each standard sample must come out as: (label, provenance). Kept here, independent of samples.py.
EXPECTED = {
    "ai-generated.jpg": ("ai_generated", "trusted"),
    "ai-generated-untrusted.jpg": ("ai_generated", "valid"),
    "camera.jpg": ("captured", "trusted"),
    "camera-resized.jpg": ("captured", "trusted"),
    "ai-edited.jpg": ("ai_edited", "trusted"),
    "ai-converted.png": ("ai_generated", "trusted"),
    "human-edit.jpg": ("no_ai_declared", "trusted"),
    "tampered.jpg": ("ai_generated", "invalid"),
    "plain.jpg": ("unknown", "absent"),
    "empty.jpg": ("unknown", "unreadable"),
    "notes.txt": ("unknown", "unreadable"),
    "truncated.jpg": ("unknown", "unreadable"),
    "ai-voice.wav": ("ai_generated", "trusted"),
}


@pytest.fixture(scope="module")
def sample_set() -> dict[str, Sample]:
    return {s.name: s for s in build_samples(make_test_pki())}


@pytest.fixture(scope="module")
def reader(tmp_path_factory: pytest.TempPathFactory) -> C2paCredentialReader:
    return C2paCredentialReader(make_test_pki().write(tmp_path_factory.mktemp("trust")))


@pytest.fixture(scope="module")
def policy() -> Policy:
    return load_policy(DEFAULT_POLICY)


class SpyReader:
    """Counts reads, so a test can prove an object was never downloaded and read."""

    def __init__(self, inner: C2paCredentialReader) -> None:
        self.inner = inner
        self.paths: list[Path] = []

    def read(self, path: Path) -> CredentialReport:
        self.paths.append(path)
        return self.inner.read(path)


@dataclass
class World:
    store: InMemoryObjectStore
    sink: InMemoryLabelSink
    reader: SpyReader
    services: Services

    def upload(self, key: str, data: bytes, content_type: str = "image/jpeg", **metadata: str) -> ObjectRef:
        """Put an object and return the ref its ObjectCreated event names."""
        obj = self.store.put(BUCKET, key, data, content_type=content_type, metadata=metadata)
        return ObjectRef(BUCKET, key, obj.version_id, obj.etag, obj.size, "ObjectCreated:Put", "2026-11-25T10:41:06Z")

    def label(self, ref: ObjectRef):
        return label_object(ref, self.services, batch_id="test-batch")


def make_world(reader, policy, tmp_path, *, store=None, versioned=False, max_object_bytes=10**6) -> World:
    store = store if store is not None else InMemoryObjectStore(versioned=versioned)
    sink = InMemoryLabelSink()
    spy = SpyReader(reader)
    services = Services(store, spy, sink, policy, max_object_bytes=max_object_bytes, spool_dir=tmp_path)
    return World(store, sink, spy, services)


@pytest.fixture
def world(reader, policy, tmp_path) -> World:
    return make_world(reader, policy, tmp_path)


def expected_metadata(obj: StoredObject, label: str, provenance: str, checked_at: str) -> dict[str, str]:
    return {
        "aigc-label": label,
        "aigc-provenance": provenance,
        "aigc-policy": POLICY_VERSION,
        "aigc-checked": checked_at,
    }


def test_expectations_agree_with_the_sample_set(sample_set):
    declared = {name: (s.expect_label, s.expect_provenance) for name, s in sample_set.items()}
    assert {name: declared.get(name) for name in EXPECTED} == EXPECTED


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_every_sample_is_labelled_and_written_back(world, sample_set, tmp_path, name):
    label, provenance = EXPECTED[name]
    sample = sample_set[name]
    ref = world.upload(f"in/{name}", sample.data, sample.content_type, owner="alice")

    outcome = world.label(ref)

    assert (outcome.status, outcome.metadata_written, outcome.detail) == ("labelled", True, None)
    record = outcome.record
    assert record is not None
    assert (record.label, record.provenance) == (label, provenance)
    assert (record.bucket, record.key, record.etag, record.size) == (BUCKET, f"in/{name}", ref.etag, len(sample.data))
    assert (record.content_type, record.policy, record.batch_id) == (sample.content_type, POLICY_VERSION, "test-batch")
    assert record.event_time == "2026-11-25T10:41:06Z"
    assert world.sink.records == [record.to_dict()]
    stored = world.store.head(BUCKET, f"in/{name}")
    assert stored.metadata == {"owner": "alice", **expected_metadata(stored, label, provenance, record.checked_at)}
    assert (stored.etag, stored.content_type) == (ref.etag, sample.content_type)
    assert world.store.copies == 1
    assert list(tmp_path.iterdir()) == []  # the spool file is gone


def test_samples_not_listed_here_get_their_declared_label(world, sample_set):
    """Samples added to testkit.catalogue after this table was written are still run, against their own expectations."""
    others = {name: s for name, s in sample_set.items() if name not in EXPECTED}
    results = {}
    for name, sample in others.items():
        record = world.label(world.upload(f"new/{name}", sample.data, sample.content_type)).record
        assert record is not None
        written = world.store.head(BUCKET, f"new/{name}").metadata
        results[name] = (record.label, record.provenance, written.get("aigc-label"))
    assert results == {name: (s.expect_label, s.expect_provenance, s.expect_label) for name, s in others.items()}
    assert len(world.sink.records) == len(others)


def test_signed_ai_record_names_signer_generator_and_source_type(world, sample_set):
    outcome = world.label(world.upload("ai.jpg", sample_set["ai-generated.jpg"].data))
    record = outcome.record
    assert record is not None
    assert (record.signer, record.generator) == ("media-ingest tests", "Example Image Model")
    assert record.digital_source_types == ["trainedAlgorithmicMedia"]
    assert record.explanation == (
        "Signed by media-ingest tests (trusted): created with generative AI (Example Image Model)."
    )
    assert (record.reason, record.failures) == (None, [])


def test_duration_comes_from_the_clock(world, sample_set):
    ticks = iter([100.0])  # the start; every later reading is 100.25, however often the clock is read
    ref = world.upload("a.jpg", sample_set["plain.jpg"].data)
    outcome = label_object(ref, world.services, clock=lambda: next(ticks, 100.25))
    assert outcome.record is not None
    assert outcome.record.duration_ms == 250.0


@pytest.mark.parametrize(
    "versioned",
    [
        False,
        True,
    ],
    ids=["unversioned", "versioned"],
)
@pytest.mark.parametrize("already_processed", [1, 2, 3])
def test_reruns_are_no_ops(reader, policy, tmp_path, sample_set, versioned, already_processed):
    world = make_world(reader, policy, tmp_path, versioned=versioned)
    ref = world.upload("ai.jpg", sample_set["ai-generated.jpg"].data)
    first = world.label(ref)
    for _ in range(already_processed):
        again = world.label(ref)
        assert (again.status, again.record, again.metadata_written) == ("already_labelled", None, False)
    assert again.detail == "object carries a current label for this content"
    assert first.record is not None
    assert world.sink.records == [first.record.to_dict()]
    assert world.store.copies == 1
    assert len(world.reader.paths) == 1


def test_versioned_write_back_event_is_recognised_as_labelled(reader, policy, tmp_path, sample_set):
    world = make_world(reader, policy, tmp_path, versioned=True)
    ref = world.upload("ai.jpg", sample_set["ai-generated.jpg"].data)
    assert ref.version_id == "v1"

    first = world.label(ref)

    assert first.status == "labelled"
    current = world.store.head(BUCKET, "ai.jpg")
    assert (current.version_id, current.etag) == ("v2", ref.etag)
    assert current.metadata["aigc-label"] == "ai_generated"
    assert world.sink.is_published(dedupe_key(BUCKET, "ai.jpg", "v2", current.etag, POLICY_VERSION))
    copy_event = ObjectRef(BUCKET, "ai.jpg", "v2", current.etag, current.size, "ObjectCreated:Copy")
    assert world.label(copy_event).status == "already_labelled"
    assert len(world.sink.records) == 1
    assert world.store.copies == 1


def test_multipart_etag_change_on_write_back_is_recognised(reader, policy, tmp_path, sample_set):
    """A metadata copy of a multipart upload gets a new ETag: the write-back registers that identity too."""

    @dataclass
    class MultipartStore(InMemoryObjectStore):
        def write_metadata(self, obj: StoredObject, metadata: Mapping[str, str]) -> tuple[str, str | None]:
            etag, version = super().write_metadata(obj, metadata)
            versions = self.objects[(obj.bucket, obj.key)]
            new_etag = f"{etag[:32]}-2"
            versions[-1].obj = StoredObject(**{**versions[-1].obj.__dict__, "etag": new_etag})
            return new_etag, version

    world = make_world(reader, policy, tmp_path, store=MultipartStore())
    ref = world.upload("big.jpg", sample_set["ai-generated.jpg"].data)
    assert world.label(ref).status == "labelled"
    current = world.store.head(BUCKET, "big.jpg")
    assert current.etag == f"{ref.etag}-2"
    copy_event = ObjectRef(BUCKET, "big.jpg", None, current.etag, current.size, "ObjectCreated:Copy")
    assert world.label(copy_event).status == "already_labelled"
    assert len(world.sink.records) == 1


def test_users_copy_to_another_key_gets_its_own_record(world, sample_set):
    data = sample_set["camera.jpg"].data
    world.label(world.upload("orig.jpg", data))
    original = world.store.head(BUCKET, "orig.jpg")
    # S3 CopyObject keeps the source's user metadata by default, aigc-* included.
    copy_ref = world.upload("copy.jpg", data, **original.metadata)
    assert world.store.head(BUCKET, "copy.jpg").metadata["aigc-label"] == "captured"

    outcome = world.label(copy_ref)

    assert outcome.status == "labelled"
    assert outcome.record is not None
    assert (outcome.record.key, outcome.record.label) == ("copy.jpg", "captured")
    assert [r["key"] for r in world.sink.records] == ["orig.jpg", "copy.jpg"]


def test_forged_label_metadata_on_an_upload_is_not_trusted(world, sample_set):
    """Anyone who uploads can set x-amz-meta-aigc-*; only the pipeline's own guard proves a label."""
    import hashlib

    data = sample_set["ai-generated.jpg"].data
    etag = hashlib.md5(data).hexdigest()
    forged = {
        "aigc-label": "captured",
        "aigc-provenance": "trusted",
        "aigc-policy": POLICY_VERSION,
        "aigc-checked": "2026-11-25T00:00:00+00:00",
        # the loop marker earlier versions trusted: a plain digest anyone can compute
        "aigc-ref": hashlib.sha256(f"{BUCKET}\0fake.jpg\0{etag}".encode()).hexdigest()[:20],
    }
    ref = world.upload("fake.jpg", data, **forged)
    outcome = world.label(ref)
    assert outcome.status == "labelled"
    assert world.store.head(BUCKET, "fake.jpg").metadata["aigc-label"] == "ai_generated"
    assert [r["label"] for r in world.sink.records] == ["ai_generated"]


def test_object_labelled_under_an_older_policy_is_relabelled(world, sample_set):
    data = sample_set["human-edit.jpg"].data
    world.store.put(BUCKET, "old.jpg", data)
    stale = {
        "aigc-label": "unknown",
        "aigc-provenance": "trusted",
        "aigc-policy": "2025.01-1",
        "aigc-checked": "2025-01-01T00:00:00+00:00",
    }
    ref = world.upload("old.jpg", data, **stale)
    outcome = world.label(ref)
    assert outcome.status == "labelled"
    current = world.store.head(BUCKET, "old.jpg")
    assert (current.metadata["aigc-label"], current.metadata["aigc-policy"]) == ("no_ai_declared", POLICY_VERSION)


@dataclass
class ReplacingStore(InMemoryObjectStore):
    """The uploader puts new bytes at the key after our GET and before our metadata copy."""

    replacement: bytes | None = None

    def write_metadata(self, obj: StoredObject, metadata: Mapping[str, str]) -> tuple[str, str | None]:
        if self.replacement is not None:
            data, self.replacement = self.replacement, None
            self.put(obj.bucket, obj.key, data, content_type="image/png", metadata={"owner": "bob"})
        return super().write_metadata(obj, metadata)


@pytest.mark.parametrize(
    "versioned",
    [
        False,
        True,
    ],
    ids=["unversioned", "versioned"],
)
def test_object_replaced_before_write_back(reader, policy, tmp_path, sample_set, versioned):
    store = ReplacingStore(versioned=versioned, replacement=sample_set["plain.jpg"].data)
    world = make_world(reader, policy, tmp_path, store=store)
    ref = world.upload("swap.jpg", sample_set["ai-generated.jpg"].data)

    outcome = world.label(ref)

    assert outcome.status == "replaced"
    assert outcome.detail == "object replaced before write-back; its new upload has its own event"
    assert outcome.metadata_written is False
    current = store.head(BUCKET, "swap.jpg")
    assert current.etag != ref.etag
    assert current.metadata == {"owner": "bob"}
    assert store.copies == 0


def test_object_above_the_size_limit_is_recorded_unreadable_without_download(reader, policy, tmp_path, sample_set):
    world = make_world(reader, policy, tmp_path, max_object_bytes=1000)
    data = sample_set["ai-generated.jpg"].data
    assert len(data) > 1000
    ref = world.upload("huge.jpg", data)

    outcome = world.label(ref)

    assert world.reader.paths == []
    assert outcome.status == "labelled"
    record = outcome.record
    assert record is not None
    assert (record.label, record.provenance) == ("unknown", "unreadable")
    reason = f"object is {len(data)} bytes, above the 1000-byte limit; not downloaded"
    assert record.reason == reason
    assert record.explanation == f"No usable Content Credentials ({reason}): could not be read."
    stored = world.store.head(BUCKET, "huge.jpg")
    assert stored.metadata == expected_metadata(stored, "unknown", "unreadable", record.checked_at)
    assert world.label(ref).status == "already_labelled"
    assert len(world.sink.records) == 1


def test_object_at_the_size_limit_is_read(reader, policy, tmp_path, sample_set):
    data = sample_set["ai-generated.jpg"].data
    world = make_world(reader, policy, tmp_path, max_object_bytes=len(data))
    outcome = world.label(world.upload("exact.jpg", data))
    assert outcome.record is not None
    assert outcome.record.label == "ai_generated"
    assert len(world.reader.paths) == 1


def test_deleted_object_raises_object_not_found(world, sample_set):
    ref = world.upload("gone.jpg", sample_set["plain.jpg"].data)
    world.store.delete(BUCKET, "gone.jpg")
    with pytest.raises(ObjectNotFound, match="NoSuchKey"):
        world.label(ref)
    assert world.sink.records == []
    assert world.reader.paths == []


@dataclass
class FlakyCopyStore(InMemoryObjectStore):
    """The first metadata copies fail, as if the worker died right after publishing."""

    failures_left: int = 1

    def write_metadata(self, obj: StoredObject, metadata: Mapping[str, str]) -> tuple[str, str | None]:
        if self.failures_left:
            self.failures_left -= 1
            raise StorageUnavailable(f"COPY (metadata) s3://{obj.bucket}/{obj.key}: SlowDown")
        return super().write_metadata(obj, metadata)


def test_crash_between_publish_and_write_back_is_repaired_by_the_rerun(reader, policy, tmp_path, sample_set):
    store = FlakyCopyStore()
    world = make_world(reader, policy, tmp_path, store=store)
    ref = world.upload("ai.jpg", sample_set["ai-generated.jpg"].data)

    with pytest.raises(StorageUnavailable):
        world.label(ref)
    assert len(world.sink.records) == 1
    assert "aigc-label" not in store.head(BUCKET, "ai.jpg").metadata

    rerun = world.label(ref)

    # The metadata kept with the guard is written: what the stream's record says, without reading the body again.
    assert (rerun.status, rerun.metadata_written, rerun.record) == ("duplicate", True, None)
    assert len(world.sink.records) == 1
    stored = store.head(BUCKET, "ai.jpg")
    published = world.sink.records[0]
    assert stored.metadata == expected_metadata(stored, "ai_generated", "trusted", published["checked_at"])
    assert len(world.reader.paths) == 1
    assert world.label(ref).status == "already_labelled"
    assert len(world.sink.records) == 1
    assert store.copies == 1


def test_relabelling_under_a_new_policy_publishes_a_new_record(world, sample_set):
    ref = world.upload("p.jpg", sample_set["camera.jpg"].data)
    assert world.label(ref).status == "labelled"
    world.services = dataclasses.replace(
        world.services, policy=dataclasses.replace(world.services.policy, version="2099.01-1")
    )
    current = world.store.head(BUCKET, "p.jpg")
    assert world.label(ObjectRef(BUCKET, "p.jpg", etag=current.etag)).status == "labelled"
    assert [r["policy"] for r in world.sink.records] == [POLICY_VERSION, "2099.01-1"]
    assert world.store.head(BUCKET, "p.jpg").metadata["aigc-policy"] == "2099.01-1"


def test_duplicate_events_before_the_first_finishes_publish_once(world, sample_set):
    """Two deliveries of one event both GET the unlabelled object; the guard keeps the stream at one record, and
    the object gets the metadata of the record that was published, not the second delivery's recomputation."""
    ref = world.upload("dup.jpg", sample_set["camera.jpg"].data)
    first = {
        "aigc-label": "captured",
        "aigc-provenance": "trusted",
        "aigc-policy": POLICY_VERSION,
        "aigc-checked": "2026-11-25T10:41:06+00:00",
    }
    key = dedupe_key(BUCKET, "dup.jpg", None, ref.etag, POLICY_VERSION)
    world.sink.publish({"stand-in": "first delivery"}, key, first)
    outcome = world.label(ref)
    assert (outcome.status, outcome.metadata_written) == ("duplicate", True)
    assert world.sink.records == [{"stand-in": "first delivery"}]
    assert world.store.head(BUCKET, "dup.jpg").metadata == first


def test_a_guard_without_metadata_is_read_again_and_then_keeps_it(world, sample_set):
    """A guard an earlier release set holds no metadata: the object is read again (no second record) and the
    guard keeps what was written from then on, so the write-back's echo is recognised."""
    ref = world.upload("old.jpg", sample_set["camera.jpg"].data, **{"aigc-label": "captured", "aigc-policy": "x"})
    key = dedupe_key(BUCKET, "old.jpg", None, ref.etag, POLICY_VERSION)
    world.sink.mark_published(key)
    assert world.sink.guard(key) == Guard(None)

    outcome = world.label(ref)

    assert (outcome.status, outcome.metadata_written, len(world.reader.paths)) == ("duplicate", True, 1)
    assert world.sink.records == []
    on_object = world.store.head(BUCKET, "old.jpg").metadata
    assert world.sink.guard(key) == Guard(on_object)
    assert world.label(copy_event_of(world, "old.jpg")).status == "already_labelled"


def copy_event_of(world: World, key: str) -> ObjectRef:
    """The ObjectCreated:Copy event S3 sends after a copy of ``key`` onto itself (ours or anyone's)."""
    current = world.store.head(BUCKET, key)
    return ObjectRef(BUCKET, key, current.version_id, current.etag, current.size, "ObjectCreated:Copy")


FORGED = {
    "aigc-label": "captured",
    "aigc-provenance": "trusted",
    "aigc-policy": POLICY_VERSION,
    "aigc-checked": "2026-11-25T00:00:00+00:00",
}


@pytest.mark.parametrize(
    "forge",
    [
        lambda ours: {**ours, "aigc-label": "captured", "aigc-provenance": "trusted"},  # current policy kept
        lambda ours: {**ours, "aigc-extra": "human-made"},  # an extra aigc-* key
        lambda ours: {k: v for k, v in ours.items() if k != "aigc-label"},  # the label removed
        lambda ours: {"owner": "mallory"},  # every aigc-* key removed
    ],
    ids=["forged-label", "extra-key", "label-removed", "all-removed"],
)
def test_an_uploaders_copy_onto_itself_with_other_labels_is_repaired_without_a_second_record(world, sample_set, forge):
    """Issue 9: a server-side copy onto itself with MetadataDirective=REPLACE keeps the ETag (unversioned
    bucket), so bucket, key, version and ETag name the identity already published. The copy event is not our echo,
    and the worker writes the published metadata back, without reading the body or publishing again."""
    data = sample_set["ai-generated.jpg"].data
    assert world.label(world.upload("ai.jpg", data, owner="alice")).status == "labelled"
    ours = world.store.head(BUCKET, "ai.jpg").metadata
    forged = forge(ours)
    world.store.put(BUCKET, "ai.jpg", data, metadata=forged)  # same bytes, same ETag: what the copy leaves
    event = copy_event_of(world, "ai.jpg")
    assert (event.etag, world.store.head(BUCKET, "ai.jpg").metadata) == (hashlib.md5(data).hexdigest(), forged)
    assert not is_own_echo(event, world.sink, world.store, POLICY_VERSION)

    outcome = world.label(event)

    assert (outcome.status, outcome.metadata_written, outcome.record) == ("duplicate", True, None)
    assert outcome.detail is not None and outcome.detail.endswith("rewritten from the published label")
    repaired = world.store.head(BUCKET, "ai.jpg").metadata
    own = {k: v for k, v in forged.items() if not k.startswith("aigc-")}
    assert repaired == {**own, **{k: v for k, v in ours.items() if k.startswith("aigc-")}}
    assert [r["label"] for r in world.sink.records] == ["ai_generated"]
    assert len(world.reader.paths) == 1
    # The repair's own copy event is our echo again.
    assert is_own_echo(copy_event_of(world, "ai.jpg"), world.sink, world.store, POLICY_VERSION)
    assert world.label(copy_event_of(world, "ai.jpg")).status == "already_labelled"


def test_a_reupload_of_the_same_bytes_with_forged_labels_is_repaired(world, sample_set):
    """A Put of the labelled bytes with x-amz-meta-aigc-* naming the current policy: the guard is set and the policy
    matches, but the labels are not the ones written, so they are replaced by the published ones."""
    data = sample_set["ai-generated.jpg"].data
    world.label(world.upload("ai.jpg", data))
    outcome = world.label(world.upload("ai.jpg", data, **FORGED))
    assert (outcome.status, outcome.metadata_written) == ("duplicate", True)
    assert world.store.head(BUCKET, "ai.jpg").metadata["aigc-label"] == "ai_generated"
    assert len(world.sink.records) == 1


def test_a_forged_copy_in_a_versioned_bucket_is_a_new_version_with_its_own_record(reader, policy, tmp_path, sample_set):
    world = make_world(reader, policy, tmp_path, versioned=True)
    data = sample_set["ai-generated.jpg"].data
    world.label(world.upload("ai.jpg", data))
    world.store.put(BUCKET, "ai.jpg", data, metadata=FORGED)
    event = copy_event_of(world, "ai.jpg")
    assert not is_own_echo(event, world.sink, world.store, POLICY_VERSION)
    assert world.label(event).status == "labelled"
    assert world.store.head(BUCKET, "ai.jpg").metadata["aigc-label"] == "ai_generated"
    assert [(r["version_id"], r["label"]) for r in world.sink.records] == [
        ("v1", "ai_generated"),
        ("v3", "ai_generated"),
    ]
    assert is_own_echo(copy_event_of(world, "ai.jpg"), world.sink, world.store, POLICY_VERSION)


def test_user_metadata_too_large_for_the_label_fails_before_publishing(world, sample_set):
    ref = world.upload("big-meta.jpg", sample_set["ai-generated.jpg"].data, notes="n" * 1900)
    with pytest.raises(MetadataNotWritable, match=r"^s3://uploads/big-meta.jpg: its user metadata would be 20\d\d"):
        world.label(ref)
    assert world.sink.records == []
    assert not world.sink.is_published(dedupe_key(BUCKET, "big-meta.jpg", None, ref.etag, POLICY_VERSION))
    assert world.store.copies == 0


def test_non_ascii_user_metadata_fails_before_publishing(world, sample_set):
    ref = world.upload("utf8.jpg", sample_set["plain.jpg"].data, owner="Ren\u00e9e")
    with pytest.raises(MetadataNotWritable, match="x-amz-meta-owner = 'Ren\u00e9e' is not ASCII"):
        world.label(ref)
    assert (world.sink.records, world.store.copies) == ([], 0)


def test_a_repair_that_the_uploaders_metadata_makes_too_large_fails_without_a_copy(world, sample_set):
    data = sample_set["ai-generated.jpg"].data
    world.label(world.upload("ai.jpg", data))
    world.store.put(BUCKET, "ai.jpg", data, metadata={"notes": "n" * 1990})
    with pytest.raises(MetadataNotWritable):
        world.label(copy_event_of(world, "ai.jpg"))
    assert (len(world.sink.records), world.store.copies) == (1, 1)


def test_a_hostile_manifest_gives_a_bounded_record(world, sample_set, reader, policy, tmp_path):
    """Issue 9: a signed JPEG naming a 400,000-character generator and 1,001 source types, read by c2pa for real:
    the record is bounded and says what was cut, and the label is still the one the credentials give."""
    pki = make_test_pki()
    created = {"action": "c2pa.created", "digitalSourceType": f"{IPTC}trainedAlgorithmicMedia"}
    edits = [{"action": "c2pa.edited", "digitalSourceType": f"http://example.com/type/{i}"} for i in range(1, 1001)]
    actions = [created, *edits]
    definition = {
        "claim_generator_info": [{"name": "G" * 400_000, "version": "1.0"}],
        "title": "hostile.jpg",
        "assertions": [{"label": "c2pa.actions.v2", "data": {"actions": actions}}],
    }
    data = sign(pki, make_jpeg(seed=9), "image/jpeg", definition)
    outcome = world.label(world.upload("hostile.jpg", data))
    assert outcome.status == "labelled"
    record = world.sink.records[0]
    assert len(encode_record(record)) <= MAX_RECORD_BYTES
    assert (record["label"], record["provenance"]) == ("ai_generated", "trusted")
    assert record["truncated"] == ["digital_source_types", "generator"]
    assert len(record["digital_source_types"]) == MAX_ITEMS["digital_source_types"]
    assert record["generator"].startswith("GGG") and len(record["generator"]) <= MAX_TEXT_CHARS


@pytest.mark.parametrize("versioned", [False, True], ids=["unversioned", "versioned"])
def test_the_write_backs_copy_event_matches_the_guard_it_set(reader, policy, tmp_path, sample_set, versioned):
    """What the intake's echo filter relies on: after labelling, the copy event's echo key is a published guard."""
    world = make_world(reader, policy, tmp_path, versioned=versioned)
    ref = world.upload("ai.jpg", sample_set["ai-generated.jpg"].data)
    assert world.label(ref).status == "labelled"
    current = world.store.head(BUCKET, "ai.jpg")
    copy_event = ObjectRef(BUCKET, "ai.jpg", current.version_id, current.etag, current.size, "ObjectCreated:Copy")
    key = echo_key(copy_event, policy.version)
    assert key is not None and world.sink.is_published(key)
    assert echo_key(copy_event, "2099.1-1") is not None
    assert not world.sink.is_published(echo_key(copy_event, "2099.1-1") or "")  # another policy: not an echo


@pytest.mark.parametrize(
    ("event_name", "etag", "is_candidate"),
    [
        ("ObjectCreated:Copy", "abc", True),
        ("ObjectCreated:CopyObject", "abc", True),  # EventBridge's reason
        ("ObjectCreated:Put", "abc", False),  # a re-upload of the same bytes may have lost the label metadata
        ("ObjectCreated:CompleteMultipartUpload", "abc", False),
        ("ObjectCreated:Post", "abc", False),
        ("ObjectCreated:Copy", None, False),  # nothing to match the guard with
        (None, "abc", False),  # submit/backfill/replay refs carry no event
    ],
)
def test_only_copy_events_with_an_etag_can_be_echoes(event_name, etag, is_candidate):
    ref = ObjectRef(BUCKET, "a.jpg", None, etag, 10, event_name)
    key = echo_key(ref, POLICY_VERSION)
    assert (key is not None) == is_candidate
    if is_candidate:
        assert key == dedupe_key(BUCKET, "a.jpg", None, "abc", POLICY_VERSION)
