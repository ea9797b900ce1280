"""The project's own error types.

Adapters translate vendor errors (botocore, redis, c2pa) into these, so nothing above an adapter imports a vendor
library. The split that matters to a task is :class:`RetryableError` (retry with backoff) versus
:class:`PermanentError` (record the failure now; retrying cannot help).
"""

from __future__ import annotations


class PipelineError(Exception):
    """Base class of every error the pipeline raises on purpose."""


class RetryableError(PipelineError):
    """A transient fault: S3 5xx or throttling, a dropped connection, Redis restarting. Retry with backoff."""


class PermanentError(PipelineError):
    """Retrying cannot help: access denied, a bucket that does not exist, a malformed message."""


class StorageUnavailable(RetryableError):
    """The object store answered 5xx/SlowDown or could not be reached."""


class StateUnavailable(RetryableError):
    """Redis (label stream, guards, failure store) could not be reached."""


class ReaderUnavailable(RetryableError):
    """The C2PA reader child could not start or answered out of turn: a fault of the worker (bad trust files, a
    missing library), never a property of the object, so it is retried and never becomes a label."""


class ReaderFault(PermanentError):
    """The reader raised an unexpected error on this object: a bug of ours, recorded as a failure (not a label) so
    the object can be replayed once the bug is fixed."""


class ObjectNotFound(PermanentError):
    """The object (or that version of it) no longer exists: deleted before we fetched it."""


class ObjectChanged(PermanentError):
    """The object was replaced since the event: its ETag no longer matches. The new upload has its own event."""


class AccessDenied(PermanentError):
    """The credentials may not read or write this object; fix the bucket policy or the worker's IAM role."""


class BadEvent(PermanentError):
    """An intake message that is not an S3/MinIO event notification."""


class MetadataNotWritable(PermanentError):
    """The object's own user metadata leaves no way to write the label onto it (not ASCII, or above S3's 2 KB with
    the label): found before anything is published, so the object gets a failure entry naming the fix, no record."""


class SourceMisconfigured(PermanentError):
    """The event source is not what the intake reads (MinIO's Redis target in ``namespace`` format keeps a hash
    where the intake drains a list): the intake refuses to start, since no retry can turn one into the other."""


class QueueUnavailable(RetryableError):
    """The event queue (SQS) could not be reached or refused a receive or delete: the intake tries again; what it
    received and did not delete comes back after the queue's visibility timeout."""


class RemoteManifestUnavailable(RetryableError):
    """Fetching a remote C2PA manifest failed transiently (a timeout, a dropped connection, HTTP 5xx or 429): the
    task is retried with backoff, like an S3 fault."""


class RemoteManifestRefused(PermanentError):
    """A remote C2PA manifest cannot be fetched and retrying cannot help: the URL is off the allow-list, not https,
    resolves to a loopback/private/link-local/metadata address, redirects off the list, answers 4xx, or is larger
    than the cap. The object gets an ``unknown``/``unreadable`` record whose reason is this message."""
