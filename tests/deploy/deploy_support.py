"""Helpers for the deployment tests: the external tools they need, and the metric names the code defines."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from prometheus_client import REGISTRY

from kayako_call_assistant.observability import metrics as _metrics  # noqa: F401  (registers the metrics)

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}

# Added by the outbox-repair work on another branch (kca_outbox_dead gauge, repairs counter); the alert rules
# and dashboard already use them. Once that branch is merged they are registered and this set is redundant.
METRICS_FROM_OTHER_BRANCHES = frozenset({"kca_outbox_dead", "kca_outbox_repairs_total"})
# Series Prometheus itself adds to every scrape target.
PROMETHEUS_SERIES = frozenset({"up"})


def require_tool(name: str, *, package: str) -> str:
    """The tool's path; skips with the reason when it is absent, fails under CI=true (scripts/install-test-deps.sh
    installs it)."""
    found = shutil.which(name) or _venv_tool(name)
    if found:
        return found
    message = f"{name} not found (Debian/PyPI package {package}; run scripts/install-test-deps.sh as root)"
    if IN_CI:
        pytest.fail(f"{message}; required under CI=true")
    pytest.skip(message)


def _venv_tool(name: str) -> str | None:
    candidate = Path(sys.executable).parent / name
    return str(candidate) if candidate.exists() else None


def run(
    *args: str, cwd: Path | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run a tool; ``env`` adds to this process's environment."""
    full_env = {**os.environ, **env} if env else None
    return subprocess.run(
        args, capture_output=True, text=True, check=False, cwd=cwd, timeout=120, env=full_env
    )


def known_metric_names() -> set[str]:
    """Every series name the assistant exports (histogram and counter suffixes included)."""
    names: set[str] = set()
    for metric in REGISTRY.collect():
        if not metric.name.startswith("kca_"):
            continue
        if metric.type == "counter":
            names.add(metric.name + "_total")
        elif metric.type == "histogram":
            names.update(metric.name + suffix for suffix in ("_bucket", "_count", "_sum"))
        else:
            names.add(metric.name)
    return names | METRICS_FROM_OTHER_BRANCHES | PROMETHEUS_SERIES
