"""Prometheus alert rules: valid for promtool, their unit tests pass, they use only exported metrics, and every
alert has a runbook section."""

from __future__ import annotations

import re

import yaml
from deploy_support import DEPLOY, ROOT, known_metric_names, require_tool, run

RULES = DEPLOY / "prometheus" / "alerts.yml"
PROMQL_FUNCTIONS_AND_WORDS = frozenset(
    {
        "sum", "max", "min", "rate", "increase", "by", "on", "and", "unless", "or", "le", "histogram_quantile",
        "min_over_time", "hour", "day_of_week", "bool",
    }
)  # fmt: skip


def _alerts() -> list[dict[str, str]]:
    document = yaml.safe_load(RULES.read_text())
    return [rule for group in document["groups"] for rule in group["rules"] if "alert" in rule]


def _metric_names(expr: str) -> set[str]:
    without_strings = re.sub(r'"[^"]*"', '""', expr)
    without_labels = re.sub(r"\{[^}]*\}|\[[^\]]*\]", "", without_strings)
    without_grouping = re.sub(r"\b(?:by|on)\s*\([^)]*\)", "", without_labels)
    words = set(re.findall(r"[a-zA-Z_][a-zA-Z0-9_]*", without_grouping))
    return {word for word in words if word not in PROMQL_FUNCTIONS_AND_WORDS}


def test_rules_pass_promtool_check() -> None:
    promtool = require_tool("promtool", package="prometheus")
    result = run(promtool, "check", "rules", str(RULES))
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(_alerts())} rules found" in result.stdout


def test_rule_unit_tests_pass() -> None:
    promtool = require_tool("promtool", package="prometheus")
    tests = sorted((DEPLOY / "prometheus" / "tests").glob("*.yml"))
    assert tests
    result = run(promtool, "test", "rules", *map(str, tests))
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_alert_is_unit_tested() -> None:
    tested = set()
    for path in (DEPLOY / "prometheus" / "tests").glob("*.yml"):
        for case in yaml.safe_load(path.read_text())["tests"]:
            tested |= {check["alertname"] for check in case["alert_rule_test"] if check["exp_alerts"]}
    assert {rule["alert"] for rule in _alerts()} <= tested


def test_rules_use_only_exported_metrics() -> None:
    known = known_metric_names()
    for rule in _alerts():
        unknown = _metric_names(rule["expr"]) - known
        assert not unknown, f"{rule['alert']} uses unknown series {sorted(unknown)}"


def test_metric_name_extraction_finds_names() -> None:
    assert _metric_names('sum by (le) (rate(kca_x_bucket{a="b"}[5m])) and on() hour() >= 9') == {
        "kca_x_bucket"
    }


def test_every_alert_has_a_runbook_section() -> None:
    runbooks = (ROOT / "docs" / "runbooks.md").read_text()
    headings = set(re.findall(r"^## (\w+)\s*$", runbooks, flags=re.MULTILINE))
    for rule in _alerts():
        assert rule["alert"] in headings, f"docs/runbooks.md has no '## {rule['alert']}' section"
        assert rule["annotations"]["runbook"] == f"docs/runbooks.md#{rule['alert'].lower()}"
