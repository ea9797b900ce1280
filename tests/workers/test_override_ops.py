"""workers.overrides: the plan an operator confirms and the refusals, on the in-memory fakes with real c2pa reads
(the whole command on moto, Redis and a worker: tests/e2e/test_overrides.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.adapters.credentials.reader import C2paCredentialReader
from pipeline.adapters.memory import InMemoryAuditLog, InMemoryLabelSink, InMemoryObjectStore, InMemoryOverrideStore
from pipeline.policy import load_policy
from pipeline.process import Services
from pipeline.settings import DEFAULT_POLICY
from testkit.catalogue import build_samples
from testkit.pki import make_test_pki
from workers.ops import OperationRefused
from workers.overrides import MAX_REASON_CHARS, Overrides

SAMPLES = {s.name: s for s in build_samples(make_test_pki())}


@pytest.fixture(scope="module")
def reader(tmp_path_factory: pytest.TempPathFactory) -> C2paCredentialReader:
    return C2paCredentialReader(make_test_pki().write(tmp_path_factory.mktemp("trust")))


class Setup:
    def __init__(self, reader: C2paCredentialReader, spool: Path, versioned: bool = False) -> None:
        self.store = InMemoryObjectStore(versioned=versioned)
        self.sink = InMemoryLabelSink()
        self.overrides = InMemoryOverrideStore()
        self.audit = InMemoryAuditLog()
        services = Services(
            self.store,
            reader,
            self.sink,
            load_policy(DEFAULT_POLICY),
            max_object_bytes=10**6,
            spool_dir=spool,
            overrides=self.overrides,
        )
        self.ops = Overrides(services, self.overrides, self.audit, who="alice")

    def put(self, key: str, sample: str) -> None:
        self.store.put("bk", key, SAMPLES[sample].data, content_type="image/jpeg")


@pytest.fixture
def setup(reader, tmp_path) -> Setup:
    return Setup(reader, tmp_path)


def test_the_plan_judges_the_object_and_changes_nothing(setup):
    setup.put("a.jpg", "ai-generated.jpg")
    plan = setup.ops.prepare("s3://bk/a.jpg", label="no_ai_declared", revoke=False)
    assert (plan.current_label, plan.judged_label, plan.judged_source, plan.provenance) == (
        "ai_generated",
        "ai_generated",
        "c2pa",
        "trusted",
    )
    assert (plan.locked, plan.overridden, plan.dry_run) == (True, False, True)
    assert "overriding it needs --force" in plan.note
    assert (setup.sink.records, setup.overrides.kept, setup.audit.latest()) == ([], {}, [])


def test_a_locked_label_is_refused_without_force_and_nothing_is_kept(setup):
    setup.put("a.jpg", "ai-generated.jpg")
    plan = setup.ops.prepare("s3://bk/a.jpg", label="no_ai_declared", revoke=False)
    with pytest.raises(OperationRefused, match="add --force"):
        setup.ops.run(plan, reason="appeal")
    assert (setup.sink.records, setup.overrides.kept, setup.audit.latest()) == ([], {}, [])
    forced = setup.ops.run(
        setup.ops.prepare("s3://bk/a.jpg", label="no_ai_declared", revoke=False, force=True), reason="appeal"
    )
    assert forced.status == "labelled" and forced.record is not None
    assert (forced.record["label"], forced.record["override"]) == ("no_ai_declared", "set")
    [entry] = setup.audit.latest()
    assert {k: entry[k] for k in ("action", "who", "uri", "label", "previous_label", "locked", "force")} == {
        "action": "override",
        "who": "alice",
        "uri": "s3://bk/a.jpg",
        "label": "no_ai_declared",
        "previous_label": "ai_generated",
        "locked": True,
        "force": True,
    }


def test_an_appealable_label_needs_no_force_and_a_second_override_replaces_the_first(setup):
    setup.put("t.jpg", "tampered.jpg")  # a signed AI claim that fails validation: AI, but appealable
    first = setup.ops.prepare("s3://bk/t.jpg", label="ai_edited", revoke=False)
    assert (first.current_label, first.locked, first.note) == ("ai_generated", False, "")
    setup.ops.run(first, reason="one")
    second = setup.ops.prepare("s3://bk/t.jpg", label="unknown", revoke=False)
    assert (second.current_label, second.overridden) == ("ai_edited", True)
    done = setup.ops.run(second, reason="two")
    assert done.record is not None and (done.record["label"], done.record["previous_label"]) == ("unknown", "ai_edited")
    revoke = setup.ops.prepare("s3://bk/t.jpg", label=None, revoke=True)
    assert (revoke.label, revoke.current_label) == ("ai_generated", "unknown")
    restored = setup.ops.run(revoke, reason="three")
    assert restored.record is not None
    assert (restored.record["label"], restored.record["override"], restored.record["previous_label"]) == (
        "ai_generated",
        "revoked",
        "unknown",
    )
    assert [e["action"] for e in setup.audit.latest()] == ["override --revoke", "override", "override"]


@pytest.mark.parametrize(
    ("uri", "label", "revoke", "message"),
    [
        ("s3://bk/a.jpg", "human", False, "--label 'human': expected one of ai_generated"),
        ("s3://bk/a.jpg", "unknown", True, "give --label or --revoke, not both"),
        ("s3://bk/a.jpg", None, True, "has no override to revoke"),
        ("s3://bk/", "unknown", False, "is not s3://bucket/key"),
    ],
)
def test_refusals_name_the_fix(setup, uri, label, revoke, message):
    setup.put("a.jpg", "camera.jpg")
    with pytest.raises((OperationRefused, ValueError), match=message):
        setup.ops.prepare(uri, label=label, revoke=revoke)


def test_a_reason_is_required_and_bounded(setup):
    setup.put("a.jpg", "camera.jpg")
    plan = setup.ops.prepare("s3://bk/a.jpg", label="no_ai_declared", revoke=False)
    with pytest.raises(OperationRefused, match="needs --reason"):
        setup.ops.run(plan, reason="  ")
    with pytest.raises(OperationRefused, match=f"keep it under {MAX_REASON_CHARS}"):
        setup.ops.run(plan, reason="x" * (MAX_REASON_CHARS + 1))
    assert setup.overrides.kept == {}


def test_an_old_version_is_refused_the_current_one_is_overridden(reader, tmp_path):
    setup = Setup(reader, tmp_path, versioned=True)
    setup.put("v.jpg", "camera.jpg")
    old = setup.store.head("bk", "v.jpg").version_id
    setup.put("v.jpg", "human-edit.jpg")
    current = setup.store.head("bk", "v.jpg").version_id
    with pytest.raises(OperationRefused, match="is not the current version"):
        setup.ops.prepare("s3://bk/v.jpg", label="unknown", revoke=False, version_id=old)
    plan = setup.ops.prepare("s3://bk/v.jpg", label="unknown", revoke=False, version_id=current)
    assert (plan.version_id, plan.current_label) == (current, "no_ai_declared")
