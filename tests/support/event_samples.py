"""The real notification payloads in ``../shared/events`` (written by others) and what each should yield, from its
``expected.jsonl``: the parser tests (tests/pipeline/test_events.py) and the intake tests (tests/workers/
test_intake.py) read them from there; they are never copied into the repository."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from pipeline.model import ObjectRef
from tests.support.shared import SHARED, needs_shared

EVENTS = SHARED / "events"
needs_events = needs_shared(EVENTS)
"""Skip (with the reason) on a machine without ``../shared/events``; in CI a missing folder fails the run."""

REF_FIELDS = ("bucket", "key", "size", "etag", "version_id", "sequencer", "event_name")
"""The fields of an expected ref (``expected.jsonl``, after :func:`expected_ref`), all of them :class:`ObjectRef`
fields."""


@dataclass(frozen=True)
class Sample:
    """One payload file and its expected outcome."""

    file: str
    delivery: str
    """How it arrives: ``sqs`` (an SQS message body), ``lambda-sqs`` (a Lambda event whose records' bodies are SQS
    message bodies), ``lambda`` (a Lambda invocation, never on a queue), ``webhook``, ``redis-list`` (a list item
    of MinIO's access format), ``redis-hash`` (a value MinIO's namespace format HSETs)."""
    refs: tuple[dict[str, Any], ...]
    skipped: bool
    error: bool
    error_ok: bool
    """Skipped or rejected as ``BadEvent``: either is right."""
    whole_is_error: bool
    """The file as a whole is not a notification (a Lambda envelope), whatever its records' bodies are."""
    note: str

    def text(self) -> str:
        return (EVENTS / self.file).read_text()

    def queued_bodies(self) -> list[str]:
        """What an intake receives: the bodies of a Lambda SQS event's records (what SQS carried), else the file."""
        if self.delivery == "lambda-sqs":
            return [str(record["body"]) for record in json.loads(self.text())["Records"]]
        return [self.text()]


def samples() -> list[Sample]:
    """Every row of ``expected.jsonl`` (none without the folder: the tests then skip)."""
    if not EVENTS.exists():
        return []
    rows = [json.loads(line) for line in (EVENTS / "expected.jsonl").read_text().splitlines() if line.strip()]
    return [
        Sample(
            file=row["file"],
            delivery=row["delivery"],
            refs=tuple(expected_ref(ref) for ref in row["refs"]),
            skipped=row["skipped"],
            error=row["error"],
            error_ok=row.get("error_ok", False),
            whole_is_error=row.get("whole") == "error",
            note=row.get("note", ""),
        )
        for row in rows
    ]


def payload_files() -> set[str]:
    """Every payload in the folder (its ``sources.json`` says where each came from; it is not a payload)."""
    return {path.name for path in EVENTS.glob("*.json")} - {"sources.json"}


def expected_ref(row: dict[str, Any]) -> dict[str, Any]:
    """An expected ref in the parser's terms: an EventBridge event's ``event_reason`` (``PutObject``) is the event
    name ``ObjectCreated:PutObject``, as :func:`pipeline.events.parse_notification` names it."""
    ref = dict(row)
    if "event_reason" in ref:
        ref["event_name"] = f"ObjectCreated:{ref.pop('event_reason')}"
    return ref


def as_expected(ref: ObjectRef) -> dict[str, Any]:
    """A parsed ref in the form of ``expected.jsonl``."""
    return {name: getattr(ref, name) for name in REF_FIELDS}
