"""The docker compose stack: `docker-compose config` (Debian's docker-compose, which validates the file against
the compose schema without a daemon) accepts it, and the pieces point at each other: two replicas behind
Caddy, both scraped by Prometheus with the project's rules, Grafana provisioned with the dashboard."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from deploy_support import DEPLOY, require_tool, run

from kayako_call_assistant.settings import Settings

COMPOSE = DEPLOY / "compose"
REPLICAS = ("assistant-1", "assistant-2")


def _env_keys(path: Path) -> dict[str, str]:
    pairs = (
        line.split("=", 1) for line in path.read_text().splitlines() if line and not line.startswith("#")
    )
    return {key: value for key, value in pairs}


@pytest.fixture(scope="module")
def config(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    compose = require_tool("docker-compose", package="docker-compose (Debian)")
    env_file = tmp_path_factory.mktemp("compose") / ".env"
    env_file.write_text((COMPOSE / "env.example").read_text())
    result = run(
        compose, "--project-directory", str(COMPOSE), "--env-file", str(env_file),
        "-f", str(COMPOSE / "compose.yaml"), "config",
        cwd=COMPOSE, env={"ENV_FILE": str(env_file)},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    parsed: dict[str, Any] = yaml.safe_load(result.stdout)
    return parsed


def test_compose_rejects_a_broken_file(tmp_path: Path) -> None:
    compose = require_tool("docker-compose", package="docker-compose (Debian)")
    broken = tmp_path / "compose.yaml"
    broken.write_text("services:\n  x:\n    image: a\n    depends_on: {y: {condition: sometimes}}\n")
    assert run(compose, "-f", str(broken), "config").returncode != 0


def test_two_replicas_share_postgres_and_redis_after_migrations(config: dict[str, Any]) -> None:
    services = config["services"]
    assert {"postgres", "redis", "migrate", "caddy", "prometheus", "grafana", *REPLICAS} <= set(services)
    for name in REPLICAS:
        service = services[name]
        env = service["environment"]
        assert env["KCA_DATABASE_URL"].startswith("postgresql+asyncpg://kca:")
        assert "@postgres:5432/" in env["KCA_DATABASE_URL"]
        assert env["KCA_REDIS_URL"] == "redis://redis:6379/0"
        assert service["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    assert services["migrate"]["command"] == ["db", "upgrade"]
    assert services["migrate"]["depends_on"]["postgres"]["condition"] == "service_healthy"


def test_stop_grace_covers_the_drain(config: dict[str, Any]) -> None:
    for name in REPLICAS:
        service = config["services"][name]
        grace = service["stop_grace_period"]
        seconds = int(re.fullmatch(r"(\d+)s", grace).group(1))  # type: ignore[union-attr]
        assert seconds > float(service["environment"]["KCA_DRAIN_SECONDS"])


def test_settings_given_to_the_replicas_exist(config: dict[str, Any]) -> None:
    known = {f"KCA_{name.upper()}" for name in Settings.model_fields} | {"KCA_ENVIRONMENT"}
    for name in REPLICAS:
        unknown = {k for k in config["services"][name]["environment"] if k.startswith("KCA_")} - known
        assert not unknown, unknown
    example = {k for k in _env_keys(COMPOSE / "env.example") if k.startswith("KCA_")}
    assert example <= known, example - known


def test_caddy_balances_both_replicas_and_checks_readiness(config: dict[str, Any]) -> None:
    caddyfile = (COMPOSE / "caddy" / "Caddyfile").read_text()
    proxy = re.search(r"^\s*reverse_proxy ([^{]+)\{", caddyfile, flags=re.MULTILINE)
    assert proxy is not None
    assert proxy.group(1).split() == [f"{name}:8080" for name in REPLICAS]
    assert "health_uri /readyz" in caddyfile
    # media streams go to the media listener of each replica, with the port the replicas are given
    media = re.search(r"^\s*reverse_proxy /twilio/media ([^{]+)\{", caddyfile, flags=re.MULTILINE)
    assert media is not None
    port = config["services"][REPLICAS[0]]["environment"]["KCA_MEDIA_PORT"]
    assert media.group(1).split() == [f"{name}:{port}" for name in REPLICAS]
    assert any("443" in str(port) for port in config["services"]["caddy"]["ports"])


def test_prometheus_scrapes_both_with_the_rules(config: dict[str, Any]) -> None:
    prometheus = yaml.safe_load((COMPOSE / "prometheus" / "prometheus.yml").read_text())
    job = prometheus["scrape_configs"][0]
    assert job["job_name"] == "kca"  # the alert rules select job="kca"
    assert job["static_configs"][0]["targets"] == [f"{name}:8080" for name in REPLICAS]
    mounts = [str(volume) for volume in config["services"]["prometheus"]["volumes"]]
    assert any(str(DEPLOY / "prometheus" / "alerts.yml") in mount for mount in mounts)
    assert prometheus["rule_files"] == ["/etc/prometheus/alerts.yml"]


def test_grafana_is_provisioned_with_the_dashboard(config: dict[str, Any]) -> None:
    mounts = [str(volume) for volume in config["services"]["grafana"]["volumes"]]
    dashboards = yaml.safe_load((COMPOSE / "grafana" / "provisioning" / "dashboards" / "kca.yml").read_text())
    path = dashboards["providers"][0]["options"]["path"]
    assert any(f"{DEPLOY / 'grafana'}:{path}" in mount for mount in mounts)
    assert (DEPLOY / "grafana" / "kca-dashboard.json").exists()
    datasources = yaml.safe_load(
        (COMPOSE / "grafana" / "provisioning" / "datasources" / "prometheus.yml").read_text()
    )
    assert datasources["datasources"][0]["url"] == "http://prometheus:9090"
