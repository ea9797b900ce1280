"""deploy/kubernetes: the kustomize overlays render, every resource validates against the Kubernetes schemas (and
KEDA's), and what the manifests claim about the code holds for the code: the settings load, the commands parse,
the probes answer, the grace period covers the task time limit, the memory follows the measured RSS.

Nothing here starts a cluster: docs/operations.md ("Production") says what was checked and what was not.
"""

from __future__ import annotations

import copy
import json
import re
import shutil
import subprocess
import threading
import urllib.error
import urllib.request
from functools import partial
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import kubernetes_validate
import pytest

from pipeline.settings import PREFIX, Settings, load_settings
from tests.deploy.support import (
    KEDA_DIR,
    OVERLAYS,
    ROOT,
    build,
    container_env,
    containers,
    deployments,
    one,
    require_tool,
)

# The oldest Kubernetes release the manifests are meant for (unhealthyPodEvictionPolicy is GA from 1.31 and on by
# default from 1.27), and the newest kubernetes-validate ships.
KUBERNETES_VERSIONS = ("1.30.0", kubernetes_validate.latest_version())
KEDA_KINDS = {"ScaledObject", "TriggerAuthentication"}
SECRET = "media-ingest"
SECRET_KEYS = {"redis-url", "redis-password", "s3-access-key-id", "s3-secret-access-key", "broker-url"}
"""The keys of the Secret `media-ingest` docs/operations.md tells the operator to create."""

# docs/performance.md: peak RSS per process, MB (VmHWM), 2026-12-01 runs.
PARENT_MB = 78  # Celery parent (76-78)
POOL_MB = 81  # each pool process, also after a 1 GB object (streamed to disk)
READER_MB = 113  # each c2pa reader child after the 50 MB videos of the mix
READER_LARGE_MB = 561  # a reader child on a 1 GB video (c2pa-rs 0.91.3: 2 x 256 MB hash buffers + ~30 MB)
INTAKE_MB = 79  # `media-ingest intake`, idle (measured for this change: VmHWM of the process)


def overlay_settings(overlay: str, container_name: str, tmp_path: Path) -> tuple[Settings, dict[str, Any]]:
    """The settings ``container_name`` loads in ``overlay``: its ConfigMap and env, secrets replaced by examples,
    and every path moved under ``tmp_path`` (after checking the path lies on one of the container's mounts)."""
    resources = build(overlay)
    (container, *_) = [c for _, c in containers(resources) if c["name"] == container_name]
    values, secrets = container_env(resources, container)
    examples = {
        f"{SECRET}/redis-url": "redis://redis.example:6379/0",
        f"{SECRET}/broker-url": "amqp://media-ingest:example@rabbitmq.rabbitmq.svc.cluster.local:5672/media-ingest",
    }
    env = {name: examples.get(ref, "example") for name, ref in secrets.items()} | values
    mounts = [m["mountPath"].rstrip("/") for m in container.get("volumeMounts", [])]
    path_settings = {name for name, kind in Settings.__annotations__.items() if "Path" in str(kind)}
    for var, value in list(env.items()):
        if not (var.startswith(PREFIX) and var[len(PREFIX) :].lower() in path_settings and value):
            continue
        mount = next((m for m in mounts if value == m or value.startswith(m + "/")), None)
        assert mount, f"{overlay} {container_name}: {var}={value} is on no volume of the container ({mounts})"
        local = tmp_path / value.lstrip("/")
        if value == mount or var.endswith("_DIR"):
            local.mkdir(parents=True, exist_ok=True)
        else:
            local.parent.mkdir(parents=True, exist_ok=True)
            local.touch()  # a trust file the operator's ConfigMap provides: only its existence is checked here
        env[var] = str(local)
    return load_settings(env, check_trust=False), container


def test_overlays_render_the_pieces_the_issue_asks_for():
    for overlay in OVERLAYS:
        resources = build(overlay)
        kinds = {(r["kind"], r["metadata"]["name"]) for r in resources}
        assert {
            ("Deployment", "media-ingest-worker"),
            ("Deployment", "media-ingest-intake"),
            ("ScaledObject", "media-ingest-worker"),
            ("PodDisruptionBudget", "media-ingest-worker"),
            ("PodDisruptionBudget", "media-ingest-intake"),
            ("NetworkPolicy", "media-ingest"),
            ("ServiceAccount", "media-ingest"),
            ("Namespace", "media-ingest"),
        } <= kinds, overlay
        (trigger,) = one(resources, "ScaledObject", "media-ingest-worker")["spec"]["triggers"]
        auths = {name for kind, name in kinds if kind == "TriggerAuthentication"}
        assert auths == {trigger["authenticationRef"]["name"]}, "one TriggerAuthentication: the trigger's"
        assert {r["metadata"].get("namespace", "media-ingest") for r in resources} == {"media-ingest"}


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
@pytest.mark.parametrize("overlay", ["base", *OVERLAYS])
def test_every_resource_validates_against_the_kubernetes_schemas(overlay, version):
    checked = 0
    for resource in build(overlay):
        if resource["kind"] in KEDA_KINDS:
            continue  # not in the Kubernetes schemas: test_keda_resources_validate_against_kedas_schemas
        # strict: an unknown field (a typo such as terminationGracePeriod) is an error, as kubectl apply's default
        # server-side field validation makes it.
        kubernetes_validate.validate(resource, version, strict=True)
        checked += 1
    assert checked >= 7


def test_the_schema_check_catches_a_misspelt_field():
    worker = copy.deepcopy(one(build("minio-redis"), "Deployment", "media-ingest-worker"))
    worker["spec"]["template"]["spec"]["terminationGracePeriod"] = 360
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(worker, KUBERNETES_VERSIONS[0], strict=True)
    worker = copy.deepcopy(one(build("minio-redis"), "Deployment", "media-ingest-worker"))
    worker["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"]["memory"] = ["3Gi"]
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(worker, KUBERNETES_VERSIONS[0], strict=True)


def keda_validate(resources: list[dict[str, Any]]) -> list[list[str]]:
    """Validate with KEDA's schemas as @kubernetes-models/keda ships them (tests/deploy/keda, node)."""
    node = shutil.which("node")
    installed = (KEDA_DIR / "node_modules" / "@kubernetes-models" / "keda").is_dir()
    require_tool(
        node is not None and installed,
        "KEDA's schemas (node and tests/deploy/keda/node_modules)",
        "npm ci --prefix tests/deploy/keda",
    )
    out = subprocess.run(
        [str(node), str(KEDA_DIR / "validate.mjs")],
        input=json.dumps(resources),
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
        cwd=KEDA_DIR,
    ).stdout
    return json.loads(out)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_keda_resources_validate_against_kedas_schemas(overlay):
    keda = [r for r in build(overlay) if r["kind"] in KEDA_KINDS]
    assert len(keda) == 2
    assert keda_validate(keda) == [[], []]


def test_the_keda_schema_check_catches_a_wrong_type():
    scaled = copy.deepcopy(one(build("minio-redis"), "ScaledObject", "media-ingest-worker"))
    scaled["spec"]["minReplicaCount"] = "1"
    del scaled["spec"]["scaleTargetRef"]["name"]
    (errors,) = keda_validate([scaled])
    assert "minReplicaCount" in errors[0] or "name" in errors[0]


# KEDA's redis (lists) scaler: the metadata fields it reads (keda.sh/docs/2.x/scalers/redis-lists). The schema
# above types `metadata` as a map of strings, so the field names are checked here, by hand.
REDIS_SCALER_FIELDS = {
    "address",
    "host",
    "port",
    "addressFromEnv",
    "hostFromEnv",
    "portFromEnv",
    "usernameFromEnv",
    "passwordFromEnv",
    "listName",
    "listLength",
    "activationListLength",
    "enableTLS",
    "unsafeSsl",
    "databaseIndex",
}
TRIGGER_AUTH_PARAMETERS = {"password", "username", "tls", "ca", "cert", "key", "keyPassword"}
# KEDA's rabbitmq scaler (keda.sh/docs/2.x/scalers/rabbitmq-queue) and its TriggerAuthentication parameters.
RABBITMQ_SCALER_FIELDS = {
    "host",
    "hostFromEnv",
    "usernameFromEnv",
    "passwordFromEnv",
    "protocol",
    "mode",
    "value",
    "activationValue",
    "queueName",
    "vhostName",
    "useRegex",
    "excludeUnacknowledged",
    "pageSize",
    "operation",
    "timeout",
    "unsafeSsl",
}
RABBITMQ_AUTH_PARAMETERS = {"host", "username", "password", "tls", "ca", "cert", "key", "keyPassword"}
SCALED_OBJECT_SPEC_FIELDS = {
    "scaleTargetRef",
    "pollingInterval",
    "initialCooldownPeriod",
    "cooldownPeriod",
    "idleReplicaCount",
    "minReplicaCount",
    "maxReplicaCount",
    "advanced",
    "triggers",
    "fallback",
}


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_scaled_object_scales_the_worker_on_the_celery_queue(overlay, tmp_path):
    resources = build(overlay)
    scaled = one(resources, "ScaledObject", "media-ingest-worker")
    spec = scaled["spec"]
    assert set(spec) <= SCALED_OBJECT_SPEC_FIELDS
    target = spec["scaleTargetRef"]
    worker = one(resources, target.get("kind", "Deployment"), target["name"])
    assert worker["metadata"]["name"] == "media-ingest-worker"
    assert "replicas" not in worker["spec"], "KEDA owns the worker's replica count: a fixed one fights it"
    assert 1 <= spec["minReplicaCount"] <= spec["maxReplicaCount"]
    (trigger,) = spec["triggers"]
    settings, _ = overlay_settings(overlay, "worker", tmp_path)
    if settings.broker_is_amqp:
        _check_rabbitmq_trigger(resources, trigger, settings)
        return
    assert trigger["type"] == "redis", "KEDA reads the broker the workers take their tasks from"
    metadata = trigger["metadata"]
    assert set(metadata) <= REDIS_SCALER_FIELDS
    # The list Celery's Redis transport keeps the queue in is the queue's name (workers/metrics.py reads the same
    # list for media_ingest_queue_depth).
    assert metadata["listName"] == settings.queue
    assert int(metadata["listLength"]) > 0 and int(metadata["activationListLength"]) >= 0
    assert re.fullmatch(r"[^:/\s]+:\d+", metadata["address"]), "host:port, not a URL"
    assert metadata["databaseIndex"].isdigit()
    auth = one(resources, "TriggerAuthentication", trigger["authenticationRef"]["name"])
    for ref in auth["spec"]["secretTargetRef"]:
        assert ref["parameter"] in TRIGGER_AUTH_PARAMETERS
        assert ref["name"] == SECRET and ref["key"] in SECRET_KEYS
    if overlay == "aws-sqs":
        assert metadata.get("enableTLS") == "true", "ElastiCache with in-transit encryption"


def _check_rabbitmq_trigger(resources: list[dict[str, Any]], trigger: dict[str, Any], settings: Settings) -> None:
    """The rabbitmq trigger counts the quorum queue the workers consume (workers/app.py names it after
    MEDIA_INGEST_QUEUE), over AMQP, with the broker URL the processes have."""
    assert trigger["type"] == "rabbitmq", "KEDA reads the broker the workers take their tasks from"
    metadata = trigger["metadata"]
    assert set(metadata) <= RABBITMQ_SCALER_FIELDS
    assert metadata["queueName"] == settings.queue
    # MessageRate needs the management API (http); over AMQP QueueLength is the ready messages' count.
    assert (metadata["protocol"], metadata["mode"]) == ("amqp", "QueueLength")
    assert float(metadata["value"]) > 0 and float(metadata["activationValue"]) >= 0
    assert "host" not in metadata, "the URL carries the password: from the Secret, through the TriggerAuthentication"
    auth = one(resources, "TriggerAuthentication", trigger["authenticationRef"]["name"])
    refs = {ref["parameter"]: ref for ref in auth["spec"]["secretTargetRef"]}
    assert set(refs) <= RABBITMQ_AUTH_PARAMETERS
    worker = one(resources, "Deployment", "media-ingest-worker")["spec"]["template"]["spec"]["containers"][0]
    _, secrets = container_env(resources, worker)
    assert f"{refs['host']['name']}/{refs['host']['key']}" == secrets["MEDIA_INGEST_BROKER_URL"]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_container_loads_its_settings(overlay, tmp_path):
    for name in ("worker", "intake"):
        settings, _ = overlay_settings(overlay, name, tmp_path / name)
        assert settings.metrics_port == 9102
        assert settings.log_format == "json"
        assert settings.buckets, "MEDIA_INGEST_BUCKETS set: no warning, no bucket outside the allow-list"
        assert settings.broker_is_amqp == overlay.endswith("-rabbitmq"), "both processes use the same broker"
        if overlay.startswith("minio-"):
            assert settings.s3_endpoint_url and settings.s3_endpoint_url.startswith("http://minio.")
        else:
            assert settings.s3_endpoint_url is None  # AWS itself


def test_a_misspelt_setting_in_the_config_map_is_caught(tmp_path, monkeypatch):
    from pipeline.settings import SettingsError

    resources = [copy.deepcopy(r) for r in build("minio-redis")]
    config = next(r for r in resources if r["kind"] == "ConfigMap")
    config["data"]["MEDIA_INGEST_TASK_TIMELIMIT"] = "300"
    monkeypatch.setitem(globals(), "build", lambda overlay: resources)  # what overlay_settings renders
    with pytest.raises(SettingsError, match="unknown setting MEDIA_INGEST_TASK_TIMELIMIT"):
        overlay_settings("minio-redis", "worker", tmp_path)


def _cli_parser() -> Any:
    import workers.cli as cli

    make = getattr(cli, "build_parser", None) or cli._parser  # type: ignore[attr-defined]
    return make()


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_command_parses_with_the_cli(overlay):
    resources = build(overlay)
    parser = _cli_parser()
    seen = {}
    for _, container in containers(resources):
        command = container.get("command", [])
        assert command[:1] == ["media-ingest"], "exec form, no shell: the process is PID 1 and gets SIGTERM"
        argv = [*command[1:], *container.get("args", [])]
        values, _ = container_env(resources, container)
        defined = set(values) | {v["name"] for v in container.get("env", [])}
        for ref in re.findall(r"\$\(([A-Za-z_][A-Za-z0-9_]*)\)", " ".join(argv)):
            assert ref in defined, f"$({ref}) in the arguments of {container['name']} is not in its environment"
        argv = [re.sub(r"\$\(([A-Za-z_][A-Za-z0-9_]*)\)", partial(_substitute, values), a) for a in argv]
        seen[container["name"]] = parser.parse_args(argv)
    assert seen["worker"].command == "worker"
    intake = seen["intake"]
    if overlay == "aws-sqs":
        assert intake.source == "sqs" and intake.queue_url.startswith("https://sqs.")
    else:
        assert (intake.source, intake.key) == ("redis", "minio:events")


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_graceful_shutdown_outlasts_the_task_time_limit(overlay, tmp_path):
    resources = build(overlay)
    worker = one(resources, "Deployment", "media-ingest-worker")["spec"]["template"]["spec"]
    settings, container = overlay_settings(overlay, "worker", tmp_path / "w")
    # Celery's warm shutdown (SIGTERM) waits for the running tasks, each bounded by the hard time limit.
    assert worker["terminationGracePeriodSeconds"] >= settings.task_time_limit + 30
    values, _ = container_env(resources, container)
    assert "REMAP_SIGTERM" not in values, "SIGTERM must stay Celery's warm shutdown"
    assert "preStop" not in container.get("lifecycle", {})
    intake = one(resources, "Deployment", "media-ingest-intake")["spec"]["template"]["spec"]
    intake_settings, _ = overlay_settings(overlay, "intake", tmp_path / "i")
    # The intake stops after the receive in progress (a long poll of up to MEDIA_INGEST_SQS_WAIT_SECONDS).
    assert intake["terminationGracePeriodSeconds"] >= intake_settings.sqs_wait_seconds + 30


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_probes_name_the_metrics_servers_port_and_paths(overlay, tmp_path):
    resources = build(overlay)
    for deployment, container in containers(resources):
        settings, _ = overlay_settings(overlay, container["name"], tmp_path / container["name"])
        (port,) = [p for p in container["ports"] if p["name"] == "metrics"]
        assert port["containerPort"] == settings.metrics_port
        annotations = deployment["spec"]["template"]["metadata"]["annotations"]
        assert annotations["prometheus.io/port"] == str(settings.metrics_port)
        assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "metrics"}
        assert container["startupProbe"]["httpGet"] == {"path": "/healthz", "port": "metrics"}
        assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "metrics"}


def test_the_metrics_server_answers_the_probes_as_the_manifests_expect():
    """The paths the probes use, against the real server (workers.metrics.serve): /healthz 200 whenever it serves,
    /readyz 200 when ready and 503 with the reason when not."""
    from prometheus_client import CollectorRegistry

    from workers.metrics import serve

    problem: list[str | None] = [None]
    server = serve(0, CollectorRegistry(), lambda: problem[0])
    try:
        port = server.server_port
        container = one(build("minio-redis"), "Deployment", "media-ingest-worker")["spec"]["template"]["spec"][
            "containers"
        ][0]

        def get(probe: str) -> int:
            path = container[probe]["httpGet"]["path"]
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as response:
                    return int(response.status)
            except urllib.error.HTTPError as exc:
                return exc.code

        assert (get("livenessProbe"), get("startupProbe"), get("readinessProbe")) == (200, 200, 200)
        problem[0] = "lease keeper stopped"
        assert (get("livenessProbe"), get("readinessProbe")) == (200, 503)
    finally:
        server.shutdown()
        threading.Thread(target=server.server_close).start()


def mib(quantity: str) -> float:
    units = {"Ki": 1 / 1024, "Mi": 1, "Gi": 1024, "Ti": 1024**2, "k": 1e3 / 2**20, "M": 1e6 / 2**20, "G": 1e9 / 2**20}
    number, unit = re.fullmatch(r"([\d.]+)([A-Za-z]*)", quantity).groups()  # type: ignore[union-attr]
    return float(number) * (units[unit] if unit else 1 / 2**20)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_memory_follows_the_measured_rss(overlay, tmp_path):
    """docs/operations.md, "Production", "Sizing": the request holds a worker with one large video in flight, the
    limit one with a large video in every pool process; the reader's address-space cap is not the budget."""
    settings, container = overlay_settings(overlay, "worker", tmp_path / "w")
    processes = settings.worker_concurrency
    assert processes, "a fixed concurrency: the CPU count a container sees is the node's, not its limit"
    resources_ = container["resources"]
    steady_one_large = PARENT_MB + processes * POOL_MB + (processes - 1) * READER_MB + READER_LARGE_MB
    all_large = PARENT_MB + processes * POOL_MB + processes * READER_LARGE_MB
    request, limit = mib(resources_["requests"]["memory"]), mib(resources_["limits"]["memory"])
    assert steady_one_large * 1.1 <= request <= all_large, (steady_one_large, request)
    assert all_large * 1.1 <= limit <= all_large * 1.5, (all_large, limit)
    # RLIMIT_AS caps each reader's address space; RSS stays far below it, so sizing by it would ask for 16 GiB.
    assert limit < processes * settings.reader_memory_mb
    _, intake = overlay_settings(overlay, "intake", tmp_path / "i")
    assert mib(intake["resources"]["requests"]["memory"]) >= INTAKE_MB * 1.25
    assert mib(intake["resources"]["limits"]["memory"]) >= INTAKE_MB * 3


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_spool_volume_holds_an_object_per_pool_process(overlay, tmp_path):
    resources = build(overlay)
    settings, container = overlay_settings(overlay, "worker", tmp_path)
    pod = one(resources, "Deployment", "media-ingest-worker")["spec"]["template"]["spec"]
    (mount,) = [m for m in container["volumeMounts"] if str(settings.spool_dir).endswith(m["mountPath"])]
    (volume,) = [v for v in pod["volumes"] if v["name"] == mount["name"]]
    needed = settings.worker_concurrency * settings.max_object_bytes / 2**20  # type: ignore[operator]
    assert mib(volume["emptyDir"]["sizeLimit"]) >= needed
    assert mib(container["resources"]["limits"]["ephemeral-storage"]) >= mib(volume["emptyDir"]["sizeLimit"])


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_pods_meet_the_restricted_pod_security_standard(overlay):
    """The checks of the "restricted" profile (kubernetes.io/docs/concepts/security/pod-security-standards) that
    apply to these pods, by hand: the namespace enforces the profile, so a pod that breaks one is refused."""
    resources = build(overlay)
    namespace = one(resources, "Namespace", "media-ingest")
    assert namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
    for deployment in deployments(resources):
        pod = deployment["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["securityContext"]["runAsUser"] != 0
        assert pod["securityContext"]["seccompProfile"]["type"] in ("RuntimeDefault", "Localhost")
        assert not any(pod.get(k) for k in ("hostNetwork", "hostPID", "hostIPC"))
        assert pod["automountServiceAccountToken"] is False
        for volume in pod["volumes"]:
            assert set(volume) - {"name"} <= {"emptyDir", "configMap", "secret", "projected"}
        for container in pod.get("initContainers", []) + pod["containers"]:
            security = container["securityContext"]
            assert security["allowPrivilegeEscalation"] is False
            assert security["capabilities"]["drop"] == ["ALL"] and not security["capabilities"].get("add")
            assert security.get("privileged", False) is False
            assert security["readOnlyRootFilesystem"] is True
            assert all("hostPort" not in p for p in container.get("ports", []))
    dockerfile = (ROOT / "Dockerfile").read_text()
    uid = re.search(r"--uid (\d+)", dockerfile)
    assert uid and all(
        d["spec"]["template"]["spec"]["securityContext"]["runAsUser"] == int(uid[1]) for d in deployments(resources)
    ), "runAsUser is the image's own user"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_secrets_come_from_the_environment(overlay):
    resources = build(overlay)
    assert not [r for r in resources if r["kind"] == "Secret"], "no Secret in git: the operator creates it"
    used: set[str] = set()
    for _, container in containers(resources):
        values, secrets = container_env(resources, container)
        for name, ref in secrets.items():
            secret, key = ref.split("/")
            assert secret == SECRET and key in SECRET_KEYS, (name, ref)
            used.add(key)
        for name in ("MEDIA_INGEST_REDIS_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
            assert name not in values, f"{name} as a literal: it is a secret"
        assert "MEDIA_INGEST_REDIS_URL" in secrets
    used |= {
        ref["key"] for r in resources if r["kind"] == "TriggerAuthentication" for ref in r["spec"]["secretTargetRef"]
    }
    expected = {"redis-url"} | ({"s3-access-key-id", "s3-secret-access-key"} if overlay.startswith("minio-") else set())
    # KEDA's password for Redis, or the broker URL both the processes and KEDA use for RabbitMQ.
    expected |= {"broker-url"} if overlay.endswith("-rabbitmq") else {"redis-password"}
    assert used == expected
    # The runbook creates exactly these keys, for this overlay.
    docs = (ROOT / "docs" / "operations.md").read_text()
    section = docs[docs.index(f"<!-- secret:{overlay} -->") :]
    section = section[: section.index("```", section.index("```") + 3)]
    assert set(re.findall(r"--from-literal=([a-z0-9-]+)=", section)) == used
    if overlay == "aws-sqs":
        account = one(resources, "ServiceAccount", "media-ingest")
        assert account["metadata"]["annotations"]["eks.amazonaws.com/role-arn"].startswith("arn:aws:iam::")


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_disruption_budgets_select_their_deployments(overlay):
    resources = build(overlay)
    for component in ("worker", "intake"):
        budget = one(resources, "PodDisruptionBudget", f"media-ingest-{component}")
        deployment = one(resources, "Deployment", f"media-ingest-{component}")
        labels = deployment["spec"]["template"]["metadata"]["labels"]
        assert budget["spec"]["selector"]["matchLabels"].items() <= labels.items()
        assert "maxUnavailable" in budget["spec"], "minAvailable on one replica would block every node drain"
    intake = one(resources, "Deployment", "media-ingest-intake")
    if overlay.startswith("minio-"):
        # `intake redis` is one per key: never two at once during a rollout.
        assert intake["spec"]["replicas"] == 1 and intake["spec"]["strategy"]["type"] == "Recreate"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_network_policy_lets_through_what_the_config_names_and_little_else(overlay, tmp_path):
    resources = build(overlay)
    (policy,) = [r for r in resources if r["kind"] == "NetworkPolicy"]
    spec = policy["spec"]
    assert set(spec["policyTypes"]) == {"Ingress", "Egress"}
    for deployment in deployments(resources):
        labels = deployment["spec"]["template"]["metadata"]["labels"]
        assert spec["podSelector"]["matchLabels"].items() <= labels.items(), "every pod is under the policy"
    (ingress,) = spec["ingress"]
    assert [p["port"] for p in ingress["ports"]] == ["metrics"]
    assert all("namespaceSelector" in peer for peer in ingress["from"])
    egress_ports = {p["port"] for rule in spec["egress"] for p in rule["ports"]}
    assert 53 in egress_ports, "DNS"
    assert all(rule.get("ports") for rule in spec["egress"]), "no rule opens every port"
    settings, _ = overlay_settings(overlay, "worker", tmp_path)
    redis_port = 6379  # the example Secret's and KEDA's port
    assert redis_port in egress_ports
    if settings.broker_is_amqp:
        assert (urlsplit(settings.broker).port or 5672) in egress_ports, "AMQP to the broker"
    if settings.s3_endpoint_url:
        endpoint = urlsplit(settings.s3_endpoint_url)
        assert (endpoint.port or (443 if endpoint.scheme == "https" else 80)) in egress_ports
    else:
        assert 443 in egress_ports, "S3, SQS and STS over HTTPS"
    if settings.remote_manifests:
        assert 443 in egress_ports, "remote C2PA manifests over HTTPS (MEDIA_INGEST_REMOTE_MANIFESTS)"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_images_are_pinned(overlay):
    for _, container in containers(build(overlay)):
        image = container["image"]
        assert ":" in image.rsplit("/", 1)[-1] and not image.endswith(":latest"), image
        assert container["imagePullPolicy"] == "IfNotPresent"


def _substitute(values: dict[str, str], match: re.Match[str]) -> str:
    """Kubernetes' ``$(VAR)`` expansion of container arguments, with "x" for a variable the test leaves undefined."""
    return values.get(match[1], "x")
