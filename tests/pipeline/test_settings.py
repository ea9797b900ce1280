"""Settings from an explicit environment mapping (pipeline.settings); os.environ is never read or written here."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from pipeline.settings import DEFAULT_POLICY, Settings, SettingsError, check_settings, load_settings
from testkit.pki import make_test_pki


def test_defaults():
    s = load_settings({})
    assert s == Settings()
    assert s.redis_url == "redis://localhost:6379/0"
    assert s.label_stream == "aigc:labels"
    assert s.s3_endpoint_url is None
    assert s.policy_file == DEFAULT_POLICY
    assert DEFAULT_POLICY.name == "default_policy.toml"
    assert DEFAULT_POLICY.is_file()
    assert s.max_object_bytes == 2 * 1024**3
    assert (s.reader_timeout, s.task_time_limit, s.visibility_timeout) == (60, 300, 45)
    assert (s.trust_anchors, s.trust_allowed, s.trust_config, s.spool_dir, s.worker_concurrency) == (None,) * 5
    assert s.configured == frozenset()


def test_other_variables_are_ignored():
    env = {"PATH": "/usr/bin", "MEDIA_INGEST": "x", "media_ingest_queue": "lower-case is not ours", "HOME": "/root"}
    assert load_settings(env) == Settings()


def test_values_are_parsed(tmp_path):
    anchors = tmp_path / "anchors.pem"
    anchors.write_bytes(make_test_pki().root_pem)
    env = {
        "MEDIA_INGEST_REDIS_URL": "rediss://cache.internal:6380/2",
        "MEDIA_INGEST_S3_ENDPOINT_URL": "http://minio:9000",
        "MEDIA_INGEST_LABEL_STREAM": " labels:v1 ",
        "MEDIA_INGEST_MAX_OBJECT_BYTES": "1_000_000",
        "MEDIA_INGEST_WORKER_CONCURRENCY": " 4 ",
        "MEDIA_INGEST_TRUST_ANCHORS": str(anchors),
        "MEDIA_INGEST_LOG_LEVEL": "debug",
        "MEDIA_INGEST_LOG_FORMAT": "json",
        "UNRELATED": "1",
    }
    s = load_settings(env)
    assert s.redis_url == "rediss://cache.internal:6380/2"
    assert s.s3_endpoint_url == "http://minio:9000"
    assert s.label_stream == "labels:v1"
    assert s.max_object_bytes == 1_000_000
    assert s.worker_concurrency == 4
    assert s.trust_anchors == anchors
    assert (s.log_level, s.log_format) == ("debug", "json")
    assert s.configured == frozenset(
        {
            "redis_url",
            "s3_endpoint_url",
            "label_stream",
            "max_object_bytes",
            "worker_concurrency",
            "trust_anchors",
            "log_level",
            "log_format",
        }
    )


def test_configured_lists_fields_set_explicitly_even_to_their_default():
    s = load_settings({"MEDIA_INGEST_REDIS_URL": "redis://localhost:6379/0", "MEDIA_INGEST_QUEUE": "q"})
    assert s.configured == frozenset({"redis_url", "queue"})
    assert s.redis_url == Settings().redis_url


@pytest.mark.parametrize(
    ("var", "value", "field", "expected"),
    [
        ("MEDIA_INGEST_S3_ENDPOINT_URL", "", "s3_endpoint_url", None),
        ("MEDIA_INGEST_S3_ENDPOINT_URL", "   ", "s3_endpoint_url", None),
        ("MEDIA_INGEST_WORKER_CONCURRENCY", "", "worker_concurrency", None),
        ("MEDIA_INGEST_TRUST_ANCHORS", "", "trust_anchors", None),
    ],
)
def test_empty_optional_values_mean_unset(var, value, field, expected):
    assert getattr(load_settings({var: value}), field) == expected


def test_unknown_setting_is_named():
    with pytest.raises(
        SettingsError, match=r"^unknown setting MEDIA_INGEST_FOO; known settings: .*MEDIA_INGEST_REDIS_URL"
    ):
        load_settings({"MEDIA_INGEST_FOO": "1"})


def test_configured_is_not_a_setting():
    with pytest.raises(SettingsError, match="unknown setting MEDIA_INGEST_CONFIGURED"):
        load_settings({"MEDIA_INGEST_CONFIGURED": "redis_url"})


@pytest.mark.parametrize("value", ["ten", "1.5", "-1", "", "0x10", "1e3"])
def test_bad_int_is_named(value):
    with pytest.raises(SettingsError) as info:
        load_settings({"MEDIA_INGEST_TASK_MAX_RETRIES": value})
    assert str(info.value) == f"MEDIA_INGEST_TASK_MAX_RETRIES={value!r}: expected a non-negative whole number"


def test_missing_trust_file_is_named(tmp_path):
    missing = tmp_path / "nope.pem"
    with pytest.raises(SettingsError) as info:
        load_settings({"MEDIA_INGEST_TRUST_ANCHORS": str(missing)})
    assert str(info.value) == (
        f"MEDIA_INGEST_TRUST_ANCHORS={str(missing)!r}: no such file; point it at an existing file or unset it"
    )


def test_trust_path_that_is_a_directory_is_rejected(tmp_path):
    with pytest.raises(SettingsError, match="MEDIA_INGEST_TRUST_CONFIG="):
        load_settings({"MEDIA_INGEST_TRUST_CONFIG": str(tmp_path)})


def test_missing_policy_file_is_named(tmp_path):
    with pytest.raises(SettingsError, match="MEDIA_INGEST_POLICY_FILE="):
        load_settings({"MEDIA_INGEST_POLICY_FILE": str(tmp_path / "policy.toml")})


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"MEDIA_INGEST_REDIS_URL": "localhost:6379"}, "MEDIA_INGEST_REDIS_URL='localhost:6379': expected redis://"),
        ({"MEDIA_INGEST_VISIBILITY_TIMEOUT": "7"}, r"MEDIA_INGEST_VISIBILITY_TIMEOUT \(7\) must be at least 8 seconds"),
        ({"MEDIA_INGEST_READER_TIMEOUT": "270"}, r"MEDIA_INGEST_READER_TIMEOUT \(270\) must be below"),
        (
            {"MEDIA_INGEST_TASK_TIME_LIMIT": "90", "MEDIA_INGEST_READER_TIMEOUT": "60"},
            r"must be below half of MEDIA_INGEST_TASK_TIME_LIMIT - 30 \(30\)",  # a timed-out read is tried twice
        ),
        ({"MEDIA_INGEST_READER_TIMEOUT": "0"}, "MEDIA_INGEST_READER_TIMEOUT must be at least 1 second"),
        ({"MEDIA_INGEST_LOG_FORMAT": "xml"}, "MEDIA_INGEST_LOG_FORMAT='xml': expected auto, json or console"),
        ({"MEDIA_INGEST_LOG_LEVEL": "TRACE"}, "MEDIA_INGEST_LOG_LEVEL='TRACE': expected DEBUG"),
        ({"MEDIA_INGEST_WORKER_CONCURRENCY": "0"}, "MEDIA_INGEST_WORKER_CONCURRENCY must be at least 1"),
    ],
)
def test_inconsistent_values_are_rejected(env, message):
    with pytest.raises(SettingsError, match=message):
        load_settings(env)


@pytest.mark.parametrize("visibility", ["8", "45", "299", "300", "900"])
def test_visibility_timeout_is_a_lease_not_a_task_bound(visibility):
    # Since lease renewal, the visibility timeout bounds recovery time only: it may be far below the task limit.
    s = load_settings({"MEDIA_INGEST_VISIBILITY_TIMEOUT": visibility, "MEDIA_INGEST_TASK_TIME_LIMIT": "300"})
    assert s.visibility_timeout == int(visibility)


def test_to_environ_of_defaults_is_empty():
    assert Settings().to_environ() == {}


def test_to_environ_round_trips_through_load_settings(tmp_path):
    anchors, config = tmp_path / "anchors.pem", tmp_path / "store.cfg"
    anchors.write_bytes(make_test_pki().root_pem)
    config.write_text("1.3.6.1.5.5.7.3.4\n")
    policy = tmp_path / "policy.toml"
    policy.write_text(DEFAULT_POLICY.read_text())
    original = Settings(
        redis_url="redis://127.0.0.1:6379/11",
        s3_endpoint_url="http://127.0.0.1:5000",
        label_stream="mitest:labels",
        trust_anchors=anchors,
        trust_config=config,
        policy_file=policy,
        max_object_bytes=1024,
        reader_timeout=5,
        task_time_limit=60,
        visibility_timeout=10,
        worker_concurrency=2,
        queue="mitest:tasks",
        log_level="DEBUG",
        log_format="json",
    )
    env = original.to_environ()
    assert env == {
        "MEDIA_INGEST_REDIS_URL": "redis://127.0.0.1:6379/11",
        "MEDIA_INGEST_S3_ENDPOINT_URL": "http://127.0.0.1:5000",
        "MEDIA_INGEST_LABEL_STREAM": "mitest:labels",
        "MEDIA_INGEST_TRUST_ANCHORS": str(anchors),
        "MEDIA_INGEST_TRUST_CONFIG": str(config),
        "MEDIA_INGEST_POLICY_FILE": str(policy),
        "MEDIA_INGEST_MAX_OBJECT_BYTES": "1024",
        "MEDIA_INGEST_READER_TIMEOUT": "5",
        "MEDIA_INGEST_TASK_TIME_LIMIT": "60",
        "MEDIA_INGEST_VISIBILITY_TIMEOUT": "10",
        "MEDIA_INGEST_WORKER_CONCURRENCY": "2",
        "MEDIA_INGEST_QUEUE": "mitest:tasks",
        "MEDIA_INGEST_LOG_LEVEL": "DEBUG",
        "MEDIA_INGEST_LOG_FORMAT": "json",
    }
    reloaded = load_settings(env)
    assert reloaded == original
    assert reloaded.configured == frozenset(name.removeprefix("MEDIA_INGEST_").lower() for name in env)


@pytest.mark.parametrize(
    "field", [f for f in dataclasses.fields(Settings) if f.name != "configured"], ids=lambda f: f.name
)
def test_every_field_reads_its_variable(field):
    default = field.default
    value = "" if default is None else str(default)
    s = load_settings({f"MEDIA_INGEST_{field.name.upper()}": value})
    assert s == Settings()
    assert s.configured == frozenset({field.name})


def test_with_overrides_returns_a_changed_copy():
    s = Settings()
    t = s.with_overrides(queue="other", max_object_bytes=10)
    assert (t.queue, t.max_object_bytes) == ("other", 10)
    assert s.queue == "media-ingest"


def test_settings_are_frozen():
    with pytest.raises(dataclasses.FrozenInstanceError):
        Settings().queue = "x"  # type: ignore[misc]


def test_spool_dir_accepts_a_directory(tmp_path):
    s = load_settings({"MEDIA_INGEST_SPOOL_DIR": str(tmp_path)})
    assert s.spool_dir == Path(tmp_path)


def test_a_malformed_policy_file_stops_the_process_at_start(tmp_path):
    """Not deep in every task: a policy file is parsed when the settings are loaded."""
    bad = tmp_path / "policy.toml"
    bad.write_text('version = "x"\n[source_types]\nai_generated = "trainedAlgorithmicMedia"\n')
    with pytest.raises(SettingsError, match=r"MEDIA_INGEST_POLICY_FILE: .*source_types"):
        load_settings({"MEDIA_INGEST_POLICY_FILE": str(bad)})


@pytest.mark.parametrize(
    ("var", "content", "needle"),
    [
        ("MEDIA_INGEST_TRUST_ANCHORS", "not a certificate\n", "not a PEM bundle"),
        ("MEDIA_INGEST_TRUST_CONFIG", "emailProtection\n", "bad OID"),
    ],
)
def test_trust_files_that_do_not_parse_stop_the_process_at_start(tmp_path, var, content, needle):
    path = tmp_path / "trust-file"
    path.write_text(content)
    with pytest.raises(SettingsError, match=f"{var}=.*{needle}"):
        load_settings({var: str(path)})


@pytest.mark.parametrize(("raw", "expected"), [("false", False), ("0", False), ("Off", False), ("yes", True)])
def test_boolean_settings_are_parsed(raw, expected):
    assert load_settings({"MEDIA_INGEST_INTAKE_SKIP_ECHOES": raw}).intake_skip_echoes is expected


def test_bad_boolean_is_named():
    with pytest.raises(SettingsError, match="MEDIA_INGEST_INTAKE_SKIP_ECHOES='maybe': expected one of true/false"):
        load_settings({"MEDIA_INGEST_INTAKE_SKIP_ECHOES": "maybe"})


@pytest.mark.parametrize(
    ("var", "value", "least"),
    [
        ("MEDIA_INGEST_DONE_TTL_SECONDS", "0", 3600),  # SET EX 0: every publish would raise a raw Redis error
        ("MEDIA_INGEST_FAILURE_MAX_ENTRIES", "0", 100),  # every failure trimmed as it is recorded
        ("MEDIA_INGEST_LABEL_STREAM_MAXLEN", "0", 1000),  # records trimmed before consumers read them
        ("MEDIA_INGEST_FAILURE_MAX_AGE_SECONDS", "0", 3600),
        ("MEDIA_INGEST_MAX_OBJECT_BYTES", "0", 1024),  # everything would be labelled unknown unread
        ("MEDIA_INGEST_TASK_RETRY_BACKOFF_MAX", "0", 1),
        ("MEDIA_INGEST_TASK_TIME_LIMIT", "0", 31),  # a soft limit of 1 s on every task
        ("MEDIA_INGEST_WORKER_PREFETCH_MULTIPLIER", "0", 1),  # Celery: 0 is no prefetch limit
        ("MEDIA_INGEST_SQS_VISIBILITY_TIMEOUT", "0", 1),
    ],
)
def test_values_that_break_the_pipeline_are_refused_with_their_minimum(var, value, least):
    with pytest.raises(SettingsError) as info:
        load_settings({var: value})
    message = str(info.value)
    assert message.startswith(f"{var} ({value}) must be at least {least}: "), message
    assert len(message.splitlines()) == 1


@pytest.mark.parametrize(
    ("var", "value", "most"),
    [
        ("MEDIA_INGEST_SQS_WAIT_SECONDS", "21", 20),
        ("MEDIA_INGEST_SQS_VISIBILITY_TIMEOUT", "43201", 43200),
        ("MEDIA_INGEST_METRICS_PORT", "65536", 65535),
    ],
)
def test_values_above_what_the_service_allows_are_refused(var, value, most):
    with pytest.raises(SettingsError, match=rf"^{var} \({value}\) must be at most {most}: "):
        load_settings({var: value})


@pytest.mark.parametrize(
    ("var", "value"),
    [
        ("MEDIA_INGEST_DONE_TTL_SECONDS", "3600"),
        ("MEDIA_INGEST_FAILURE_MAX_ENTRIES", "100"),
        ("MEDIA_INGEST_LABEL_STREAM_MAXLEN", "1000"),
        ("MEDIA_INGEST_TASK_MAX_RETRIES", "0"),  # no retries is a choice, not a break
        ("MEDIA_INGEST_INTAKE_LINGER_MS", "0"),
        ("MEDIA_INGEST_TASK_GROUP_MAX_BYTES", "0"),
        ("MEDIA_INGEST_METRICS_PORT", "0"),
        ("MEDIA_INGEST_SQS_WAIT_SECONDS", "0"),
    ],
)
def test_the_minimums_themselves_and_zeros_that_mean_off_are_accepted(var, value):
    load_settings({var: value})


def test_settings_changed_in_code_are_checked_as_the_environment_is():
    """``media-ingest worker --metrics-port P`` stands for MEDIA_INGEST_METRICS_PORT: refused as the variable is."""
    base = load_settings({"MEDIA_INGEST_QUEUE": "q"})
    changed = check_settings(base.with_overrides(metrics_port=9100))
    assert (changed.metrics_port, changed.queue) == (9100, "q")
    with pytest.raises(SettingsError, match=r"^MEDIA_INGEST_METRICS_PORT \(65536\) must be at most 65535: "):
        check_settings(base.with_overrides(metrics_port=65536))


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"MEDIA_INGEST_REMOTE_MANIFEST_HOSTS": "manifests.example"}, r"HOSTS: scheme '\(none\)' is not https"),
        ({"MEDIA_INGEST_REMOTE_MANIFEST_HOSTS": "http://mirror.example"}, "http is allowed only for an IP address"),
        ({"MEDIA_INGEST_REMOTE_MANIFEST_HOSTS": "https://a.example/manifests"}, "has a path"),
        ({"MEDIA_INGEST_REMOTE_MANIFEST_MAX_BYTES": str(16 * 1024**2 + 1)}, r"must be between 1 and 16777216"),
        ({"MEDIA_INGEST_REMOTE_MANIFEST_READ_TIMEOUT": "0"}, "REMOTE_MANIFEST_READ_TIMEOUT must be at least 1 second"),
        ({"MEDIA_INGEST_REMOTE_MANIFESTS": "maybe"}, "MEDIA_INGEST_REMOTE_MANIFESTS='maybe': expected one of"),
    ],
)
def test_remote_manifest_settings_are_checked(env, message):
    with pytest.raises(SettingsError, match=message):
        load_settings(env)


def test_remote_manifest_settings_parse():
    s = load_settings(
        {"MEDIA_INGEST_REMOTE_MANIFESTS": "off", "MEDIA_INGEST_REMOTE_MANIFEST_HOSTS": "http://127.0.0.1:8080"}
    )
    assert (s.remote_manifests, s.remote_manifest_hosts) == (False, "http://127.0.0.1:8080")
    assert Settings().remote_manifest_max_bytes == 16 * 1024**2


def test_the_broker_is_the_redis_url_unless_another_is_named():
    assert load_settings({}).broker == "redis://localhost:6379/0"
    rabbit = load_settings({"MEDIA_INGEST_BROKER_URL": "amqp://guest:guest@mq:5672/media"})
    assert (rabbit.broker, rabbit.broker_is_amqp, rabbit.redis_url) == (
        "amqp://guest:guest@mq:5672/media",
        True,
        "redis://localhost:6379/0",
    )
    assert not load_settings({"MEDIA_INGEST_BROKER_URL": "redis://other:6379/1"}).broker_is_amqp


def test_a_broker_url_of_another_kind_is_refused_with_the_fix():
    with pytest.raises(SettingsError, match=r"MEDIA_INGEST_BROKER_URL='sqs://q': expected amqp://"):
        load_settings({"MEDIA_INGEST_BROKER_URL": "sqs://q"})
