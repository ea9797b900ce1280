"""One frozen settings object, built once from the environment.

Nothing else in the project reads ``os.environ``: every component takes a :class:`Settings`. Unknown or invalid
``MEDIA_INGEST_*`` variables fail at start with one line naming the variable and the fix, never deep in a task.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

PREFIX = "MEDIA_INGEST_"
DEFAULT_POLICY = Path(__file__).with_name("default_policy.toml")


class SettingsError(ValueError):
    """A configuration value is missing, unknown or malformed; the message names it and says how to fix it."""


@dataclass(frozen=True)
class Settings:
    """Runtime configuration. Field ``foo_bar`` is read from ``MEDIA_INGEST_FOO_BAR``."""

    redis_url: str = "redis://localhost:6379/0"
    """Label stream and pipeline state, and the Celery broker unless ``broker_url`` names another."""
    broker_url: str | None = None
    """Celery broker: unset for ``redis_url``; ``amqp://user:password@host:5672/vhost`` for RabbitMQ (quorum queues,
    publisher confirms). The label stream and the pipeline state stay in Redis either way."""
    s3_endpoint_url: str | None = None
    """S3-compatible endpoint (MinIO, moto); unset means AWS."""
    label_stream: str = "aigc:labels"
    """Redis stream that receives one label record per object version."""
    label_stream_maxlen: int = 1_000_000
    """Approximate cap on the label stream (XADD MAXLEN ~); consumers must keep up within this many records."""
    trust_anchors: Path | None = None
    """PEM bundle of trust anchors (root CAs) for C2PA signer certificates."""
    trust_allowed: Path | None = None
    """PEM bundle of individually allowed end-entity certificates."""
    trust_config: Path | None = None
    """c2pa trust configuration: allowed EKU OIDs, one per line (store.cfg)."""
    trust_anchors_url: str | None = None
    """Where ``media-ingest trust refresh`` downloads the anchors from (e.g. the C2PA trust list)."""
    trust_allowed_url: str | None = None
    """Where ``trust refresh`` downloads the allowed end-entity list from."""
    trust_config_url: str | None = None
    """Where ``trust refresh`` downloads the EKU config from."""
    trust_cache_dir: Path | None = None
    """Directory ``trust refresh`` writes anchors.pem / allowed.pem / store.cfg into."""
    trust_allow_loopback_http: bool = False
    """For tests and a local mirror only: let the ``TRUST_*_URL`` be ``http://`` to a loopback host. Otherwise
    trust lists are downloaded over ``https://`` only (whoever can swap the list decides what is ``trusted``)."""
    policy_file: Path = DEFAULT_POLICY
    """TOML label policy; see docs/labels.md."""
    max_object_bytes: int = 2 * 1024**3
    """Objects above this size are not downloaded: they get an ``unknown``/``unreadable`` record with the reason."""
    reader_timeout: int = 60
    """Seconds one C2PA read may take before its child process is killed. The file is then read once more in a
    fresh child; only a file that times out twice is recorded unreadable."""
    reader_memory_mb: int = 4096
    """Address-space limit (``RLIMIT_AS``) of the C2PA reader child, in MiB; 0: none. A 1 GB video read peaks at
    about 560 MB of RSS, so the default only stops a runaway read."""
    remote_manifests: bool = True
    """Fetch the manifest store of an asset that only references a remote one (``off``: such assets stay
    ``unknown``/``unreadable``, "remote manifest not fetched"). See docs/labels.md, "Remote manifests"."""
    remote_manifest_hosts: str | None = None
    """Comma-separated ``scheme://host[:port]`` prefixes added to the policy file's ``[remote_manifests] allowed``
    (https only; ``http://`` only for an IP address, e.g. ``http://127.0.0.1:8080`` for a test or local mirror)."""
    remote_manifest_max_bytes: int = 16 * 1024**2
    """Largest remote manifest store fetched; enforced while reading (at most 16 MiB)."""
    remote_manifest_connect_timeout: int = 5
    """Seconds to connect to a remote manifest's host."""
    remote_manifest_read_timeout: int = 15
    """Longest wait for a byte of a remote manifest; connect and read timeouts together also bound the whole fetch,
    redirects included."""
    remote_manifest_cache_ttl_seconds: int = 24 * 3600
    """How long a fetched remote manifest is kept in Redis (by URL), so a popular one is fetched once."""
    spool_dir: Path | None = None
    """Where objects are streamed to while they are read (default: the system temp dir)."""
    key_prefix: str = "media-ingest"
    """Prefix of every Redis key the pipeline owns (not the label stream)."""
    done_ttl_seconds: int = 7 * 24 * 3600
    """How long the exactly-once guard remembers a published object version."""
    failure_max_entries: int = 100_000
    """Failure store cap; the oldest entries are trimmed first."""
    failure_max_age_seconds: int = 30 * 24 * 3600
    """Failure store age limit."""
    task_max_retries: int = 8
    """Retries for transient errors (S3 5xx/throttling, Redis reconnects) before an object goes to the failure store."""
    task_retry_backoff_max: int = 120
    """Upper bound in seconds for the exponential retry backoff (with full jitter)."""
    task_group_size: int = 10
    """Small objects of one intake round carried by one worker task (amortises Celery's per-task cost); 1: off."""
    task_group_max_bytes: int = 2 * 1024**2
    """Objects up to this size (from the event) may share a task; larger ones and unsized ones go alone."""
    task_time_limit: int = 300
    """Hard per-task limit in seconds; the soft limit is 30 s less."""
    visibility_timeout: int = 45
    """Seconds after which the broker redelivers the tasks of a worker that died. Live workers renew the lease of
    the tasks they hold every quarter of this, so it bounds recovery time, not task length."""
    worker_concurrency: int | None = None
    """Worker processes (default: CPU count)."""
    worker_prefetch_multiplier: int = 1
    """Tasks each worker process reserves ahead; 1 keeps work spread across hosts."""
    queue: str = "media-ingest"
    """Celery queue the intake publishes to and workers consume."""
    metrics_port: int = 0
    """Port for /metrics, /healthz and /readyz of a worker or intake process (0: off)."""
    log_level: str = "INFO"
    log_format: str = "auto"
    """``json``, ``console``, or ``auto`` (console on a TTY, JSON otherwise)."""
    sqs_wait_seconds: int = 20
    """SQS long-poll wait for ``intake sqs``."""
    sqs_visibility_timeout: int = 60
    """How long an SQS message stays hidden while its tasks are enqueued."""
    intake_linger_ms: int = 100
    """While tasks already wait in the broker's queue, how long an intake round may go on taking events to fill a
    group of small objects (fewer, fuller tasks when the workers are behind; no wait at all when they are not)."""
    intake_skip_echoes: bool = True
    """Drop the copy event that each write-back causes at the intake when its guard, and the object's metadata
    compared with what the guard keeps (one GET of the headers), show it is our own echo (saves a worker task per
    object); see docs/operations.md#s3-write-back."""
    intake_batch_window_seconds: int = 3600
    """The intake rounds of one source within one window of this many seconds share one batch
    (``sqs-20261202T1400``), so the batch counters grow with time, not with the number of rounds."""
    intake_batch_ttl_seconds: int = 7 * 24 * 3600
    """How long an intake window's batch counters are kept after their last update."""
    buckets: str | None = None
    """Comma-separated buckets the pipeline may read and write back to; unset: any bucket (a warning at start).
    An object of another bucket is recorded as a skip by the intake and the worker, never fetched."""

    configured: frozenset[str] = dataclasses.field(default=frozenset(), compare=False, repr=False)
    """Names of the fields the environment set explicitly (the demo starts embedded servers for the others)."""

    @property
    def broker(self) -> str:
        """The Celery broker's URL: ``broker_url``, else ``redis_url``."""
        return self.broker_url or self.redis_url

    @property
    def broker_is_amqp(self) -> bool:
        """RabbitMQ (AMQP) rather than Redis: no visibility timeout to renew, quorum queues instead."""
        return self.broker.startswith(("amqp://", "amqps://"))

    def with_overrides(self, **changes: object) -> Settings:
        """A copy with some fields replaced (for CLI flags and tests)."""
        return dataclasses.replace(self, **changes)  # type: ignore[arg-type]

    def to_environ(self) -> dict[str, str]:
        """The ``MEDIA_INGEST_*`` variables that reproduce these settings in a child process."""
        env: dict[str, str] = {}
        defaults = Settings()
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if f.name == "configured" or value == getattr(defaults, f.name):
                continue
            env[PREFIX + f.name.upper()] = "" if value is None else str(value)
        return env


_DIRECTORIES = frozenset({"spool_dir", "trust_cache_dir"})
_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off"})


def _convert(name: str, raw: str, annotation: str) -> object:
    var = PREFIX + name.upper()
    text = raw.strip()
    try:
        if annotation == "bool":
            if text.lower() in _TRUE:
                return True
            if text.lower() in _FALSE:
                return False
            raise SettingsError(f"{var}={raw!r}: expected one of true/false, 1/0, yes/no, on/off")
        if annotation in ("int", "int | None"):
            if annotation.endswith("None") and text == "":
                return None
            value = int(text.replace("_", ""))
            if value < 0:
                raise ValueError("negative")
            return value
        if annotation in ("Path | None", "Path"):
            if annotation.endswith("None") and text == "":
                return None
            path = Path(text).expanduser()
            if name in _DIRECTORIES:
                if not path.is_dir():
                    raise SettingsError(f"{var}={raw!r}: no such directory; create it or unset the variable")
            elif not path.is_file():
                raise SettingsError(f"{var}={raw!r}: no such file; point it at an existing file or unset it")
            return path
        if annotation == "str | None":
            return text or None
        return text
    except SettingsError:
        raise
    except ValueError:
        raise SettingsError(f"{var}={raw!r}: expected a non-negative whole number") from None


_FIELDS = {f.name: str(f.type) for f in dataclasses.fields(Settings) if f.name != "configured"}


def load_settings(environ: Mapping[str, str] | None = None, *, check_trust: bool = True) -> Settings:
    """Build :class:`Settings` from ``MEDIA_INGEST_*`` variables (``os.environ`` by default).

    Raises :class:`SettingsError` for an unknown ``MEDIA_INGEST_`` variable (a typo would otherwise be ignored
    silently) and for a value that does not parse. ``check_trust=False`` skips loading the trust files, for
    ``media-ingest trust refresh``, which must be able to replace files that no longer load.
    """
    env = os.environ if environ is None else environ
    values: dict[str, object] = {}
    for var, raw in env.items():
        if not var.startswith(PREFIX):
            continue
        name = var[len(PREFIX) :].lower()
        if name not in _FIELDS:
            known = ", ".join(PREFIX + n.upper() for n in sorted(_FIELDS))
            raise SettingsError(f"unknown setting {var}; known settings: {known}")
        values[name] = _convert(name, raw, _FIELDS[name])
    settings = Settings(**values, configured=frozenset(values))  # type: ignore[arg-type]
    _check(settings)
    if check_trust:
        _check_trust_files(settings)
    return settings


def check_settings(settings: Settings) -> Settings:
    """Check settings built in code (a command-line flag over the environment's value) as :func:`load_settings`
    checks the environment's, and return them; raises :class:`SettingsError`. The trust files are not loaded
    again."""
    _check(settings)
    return settings


def _check_trust_files(settings: Settings) -> None:
    """Trust files must parse at start: a reader process that starts on a broken file has no last good list."""
    from pipeline.credentials.trust import check_trust_config, describe_pem

    for var, path in (("TRUST_ANCHORS", settings.trust_anchors), ("TRUST_ALLOWED", settings.trust_allowed)):
        if path and path.read_bytes().strip():
            try:
                describe_pem(path.read_bytes(), str(path))
            except ValueError as exc:
                raise SettingsError(f"{PREFIX}{var}={path}: not a PEM bundle of certificates ({exc})") from None
    if settings.trust_config:
        try:
            check_trust_config(settings.trust_config.read_text())
        except (ValueError, UnicodeDecodeError) as exc:
            raise SettingsError(f"{PREFIX}TRUST_CONFIG={settings.trust_config}: {exc}") from None
    _check_trust_with_c2pa(settings)


def _check_trust_with_c2pa(settings: Settings) -> None:
    """Build c2pa's Context from the trust files (in a short child; this process never loads c2pa): a file that
    parses as PEM but that c2pa refuses would make every reader child exit at start."""
    from pipeline.credentials.trust import TrustFiles, UnloadableTrust, check_with_c2pa

    trust = TrustFiles(settings.trust_anchors, settings.trust_allowed, settings.trust_config)
    if not any(trust.args()):
        return
    try:
        check_with_c2pa(trust)
    except UnloadableTrust as exc:
        named = [
            f"{PREFIX}{var}={path}"
            for var, path in (
                ("TRUST_ANCHORS", settings.trust_anchors),
                ("TRUST_ALLOWED", settings.trust_allowed),
                ("TRUST_CONFIG", settings.trust_config),
            )
            if path and (exc.path is None or path == exc.path)
        ]
        raise SettingsError(
            f"{', '.join(named)}: {exc.message}; run `media-ingest trust refresh` or point it at a good copy "
            "(docs/operations.md, 'Trust lists')"
        ) from None


def _check_trust_urls(settings: Settings) -> None:
    from pipeline.credentials.trust import check_trust_url

    for var, url in (
        ("TRUST_ANCHORS_URL", settings.trust_anchors_url),
        ("TRUST_ALLOWED_URL", settings.trust_allowed_url),
        ("TRUST_CONFIG_URL", settings.trust_config_url),
    ):
        if url:
            try:
                check_trust_url(url, allow_loopback_http=settings.trust_allow_loopback_http)
            except ValueError as exc:
                raise SettingsError(
                    f"{PREFIX}{var}: {exc}; use an https:// URL ({PREFIX}TRUST_ALLOW_LOOPBACK_HTTP=true allows "
                    "http://127.0.0.1 for tests)"
                ) from None


_MINIMUMS: dict[str, tuple[int, str]] = {
    "label_stream_maxlen": (
        1000,
        "the stream is trimmed to about this many records, so a smaller cap drops records before consumers read them",
    ),
    "done_ttl_seconds": (
        3600,
        "the exactly-once guard must outlast an object's retries and redeliveries, or a "
        "rerun publishes a second record",
    ),
    "failure_max_entries": (
        100,
        "the failure store keeps this many entries; fewer would drop failures before an operator sees them",
    ),
    "failure_max_age_seconds": (
        3600,
        "failures are trimmed after this age; less would drop them before an operator sees them",
    ),
    "max_object_bytes": (
        1024,
        "larger objects get an unknown/unreadable record without being read, so a smaller "
        "limit labels nearly everything unknown",
    ),
    "task_retry_backoff_max": (1, "0 retries a transient fault at once, so a passing outage uses up every retry"),
    "task_time_limit": (31, "the soft limit is 30 s less and must leave at least 1 s"),
    "worker_prefetch_multiplier": (1, "Celery reads 0 as no limit: one worker would reserve the whole queue"),
    "sqs_visibility_timeout": (1, "0 hands a message to every receiver while its tasks are being enqueued"),
}
"""Minimum of each numeric setting where 0 (or a small value) breaks the pipeline, and why (the error says it)."""
_MAXIMUMS: dict[str, tuple[int, str]] = {
    "sqs_wait_seconds": (20, "SQS long-polls for at most 20 seconds"),
    "sqs_visibility_timeout": (43200, "SQS allows at most 12 hours"),
    "metrics_port": (65535, "the highest TCP port"),
}


def _check_bounds(settings: Settings) -> None:
    for name, (least, why) in _MINIMUMS.items():
        value = getattr(settings, name)
        if value is not None and value < least:
            raise SettingsError(f"{PREFIX}{name.upper()} ({value}) must be at least {least}: {why}")
    for name, (most, why) in _MAXIMUMS.items():
        value = getattr(settings, name)
        if value is not None and value > most:
            raise SettingsError(f"{PREFIX}{name.upper()} ({value}) must be at most {most}: {why}")


def _check_remote_manifests(settings: Settings) -> None:
    from pipeline.remote_manifests import DEFAULT_MAX_BYTES, parse_origins

    try:
        parse_origins(settings.remote_manifest_hosts)
    except ValueError as exc:
        raise SettingsError(
            f"{PREFIX}REMOTE_MANIFEST_HOSTS: {exc}; list comma-separated https://host[:port] prefixes"
        ) from None
    if not 0 < settings.remote_manifest_max_bytes <= DEFAULT_MAX_BYTES:
        raise SettingsError(
            f"{PREFIX}REMOTE_MANIFEST_MAX_BYTES ({settings.remote_manifest_max_bytes}) must be between 1 and "
            f"{DEFAULT_MAX_BYTES} (16 MiB)"
        )
    for name in ("remote_manifest_connect_timeout", "remote_manifest_read_timeout"):
        if getattr(settings, name) == 0:
            raise SettingsError(f"{PREFIX}{name.upper()} must be at least 1 second")


def _check(settings: Settings) -> None:
    _check_bounds(settings)
    if settings.broker_url and not settings.broker_url.startswith(("redis://", "rediss://", "amqp://", "amqps://")):
        raise SettingsError(
            f"{PREFIX}BROKER_URL={settings.broker_url!r}: expected amqp://user:password@host:5672/vhost (RabbitMQ), "
            "amqps://, redis:// or rediss://; unset it to use MEDIA_INGEST_REDIS_URL"
        )
    if not settings.redis_url.startswith(("redis://", "rediss://", "unix://")):
        raise SettingsError(
            f"{PREFIX}REDIS_URL={settings.redis_url!r}: expected redis://host:port/db, rediss:// or unix://"
        )
    if settings.visibility_timeout < 8:
        raise SettingsError(
            f"{PREFIX}VISIBILITY_TIMEOUT ({settings.visibility_timeout}) must be at least 8 seconds: workers renew "
            "their leases every quarter of it"
        )
    if 2 * settings.reader_timeout >= settings.task_time_limit - 30:
        raise SettingsError(
            f"{PREFIX}READER_TIMEOUT ({settings.reader_timeout}) must be below half of {PREFIX}TASK_TIME_LIMIT - 30 "
            f"({(settings.task_time_limit - 30) // 2}): a read that times out is tried once more in a fresh reader, "
            "and both tries must end as a record, not a killed task"
        )
    if 0 < settings.reader_memory_mb < 256:
        raise SettingsError(
            f"{PREFIX}READER_MEMORY_MB ({settings.reader_memory_mb}) must be at least 256 (the reader needs ~75 MiB "
            "of address space to start) or 0 for no limit"
        )
    _check_remote_manifests(settings)
    if settings.reader_timeout == 0:
        raise SettingsError(f"{PREFIX}READER_TIMEOUT must be at least 1 second")
    if settings.log_format not in ("auto", "json", "console"):
        raise SettingsError(f"{PREFIX}LOG_FORMAT={settings.log_format!r}: expected auto, json or console")
    if settings.log_level.upper() not in ("DEBUG", "INFO", "WARNING", "ERROR"):
        raise SettingsError(f"{PREFIX}LOG_LEVEL={settings.log_level!r}: expected DEBUG, INFO, WARNING or ERROR")
    if not settings.policy_file.is_file():
        raise SettingsError(f"{PREFIX}POLICY_FILE={settings.policy_file}: no such file")
    _check_trust_urls(settings)
    from pipeline.policy import PolicyError, load_policy  # the policy module imports nothing from here

    try:
        load_policy(settings.policy_file)
    except PolicyError as exc:
        raise SettingsError(f"{PREFIX}POLICY_FILE: {exc}") from None
    if settings.intake_batch_window_seconds < 60 or settings.intake_batch_window_seconds % 60:
        raise SettingsError(
            f"{PREFIX}INTAKE_BATCH_WINDOW_SECONDS ({settings.intake_batch_window_seconds}) must be a whole number of "
            "minutes (a multiple of 60, e.g. 3600): the batch id names the window's start to the minute"
        )
    if settings.intake_batch_ttl_seconds < settings.intake_batch_window_seconds:
        raise SettingsError(
            f"{PREFIX}INTAKE_BATCH_TTL_SECONDS ({settings.intake_batch_ttl_seconds}) must be at least "
            f"{PREFIX}INTAKE_BATCH_WINDOW_SECONDS ({settings.intake_batch_window_seconds}), or a window's counters "
            "expire while it is still open"
        )
    from pipeline.events import BucketAllowList  # pure, imports nothing from here

    try:
        BucketAllowList.parse(settings.buckets)
    except ValueError as exc:
        raise SettingsError(f"{PREFIX}BUCKETS={settings.buckets!r}: {exc}") from None
    if settings.task_group_size == 0:
        raise SettingsError(f"{PREFIX}TASK_GROUP_SIZE must be at least 1 (1 sends every object as its own task)")
    if settings.worker_concurrency == 0:
        raise SettingsError(f"{PREFIX}WORKER_CONCURRENCY must be at least 1 (or unset for the CPU count)")
