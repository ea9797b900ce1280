"""The one ``s3://`` parser and the one identity of an object version (pipeline/model.py)."""

from __future__ import annotations

import pytest

from pipeline.model import ObjectRef, ObjectVersion, StoredObject, parse_s3_uri, s3_uri
from pipeline.ports import FailureEntry


@pytest.mark.parametrize(
    ("uri", "parsed"),
    [
        ("s3://bucket/a/b", ("bucket", "a/b")),
        ("s3://bucket/a/", ("bucket", "a/")),
        ("s3://bucket/", ("bucket", "")),
        ("s3://bucket", ("bucket", "")),
    ],
)
def test_a_prefix_uri(uri, parsed):
    assert parse_s3_uri(uri) == parsed


@pytest.mark.parametrize("uri", ["bucket/a", "s3://", "s3:///a", "S3://bucket/a", "https://bucket/a"])
def test_not_a_prefix_uri(uri):
    with pytest.raises(ValueError, match=r"is not s3://bucket\[/prefix\]"):
        parse_s3_uri(uri)


def test_an_object_uri():
    assert ObjectRef.from_uri("s3://uploads/u/42/photo.jpg") == ObjectRef("uploads", "u/42/photo.jpg")
    assert ObjectRef.from_uri("s3://uploads/u/42/photo.jpg").uri == "s3://uploads/u/42/photo.jpg"
    assert s3_uri("b", "k") == "s3://b/k" and s3_uri("b") == "s3://b/"


@pytest.mark.parametrize("uri", ["s3://uploads", "s3://uploads/", "s3://uploads/dir/", "s3:///k.jpg", "uploads/k.jpg"])
def test_not_an_object_uri(uri):
    with pytest.raises(ValueError, match="is not s3://bucket/key"):
        ObjectRef.from_uri(uri)


def test_the_identity_of_a_version_is_the_documented_string():
    """docs/operations.md: ``bucket \\0 key \\0 version-or-"null" \\0 etag-or-""``, and the publish identity adds the
    policy version. The Redis keys hash these, so a change here would orphan every guard and count in Redis."""
    assert ObjectVersion("b", "k", None, None).identity() == "b\0k\0null\0"
    assert ObjectVersion("b", "k", "v1", "e1").identity() == "b\0k\0v1\0e1"
    assert ObjectVersion("b", "k", "v1", "e1").dedupe_key("2026.12-1") == "b\0k\0v1\0e1\x002026.12-1"


def test_every_name_of_a_version_has_the_same_identity():
    ref = ObjectRef("b", "k", "v1", "e1", size=3, event_name="ObjectCreated:Put")
    stored = StoredObject("b", "k", "e1", 3, "v1", "image/jpeg")
    entry = FailureEntry("b", "k", "v1", "e1", "batch", "task", "StorageUnavailable", "boom", 1)
    assert (
        ObjectVersion.of(ref)
        == ObjectVersion.of(stored)
        == ObjectVersion.of(entry)
        == ObjectVersion("b", "k", "v1", "e1")
    )
