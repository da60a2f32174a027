"""The Grafana dashboard: well-formed, laid out on the 24-column grid, every query valid PromQL over series the
assistant exports."""

from __future__ import annotations

import json
from pathlib import Path

import yaml
from deploy_support import DEPLOY, known_metric_names, require_tool, run
from test_alert_rules import _metric_names

DASHBOARD = DEPLOY / "grafana" / "kca-dashboard.json"


def _dashboard() -> dict[str, object]:
    data = json.loads(DASHBOARD.read_text())
    assert isinstance(data, dict)
    return data


def _panels() -> list[dict[str, object]]:
    panels = _dashboard()["panels"]
    assert isinstance(panels, list)
    return panels


def _exprs() -> list[str]:
    return [target["expr"] for panel in _panels() for target in panel.get("targets", [])]  # type: ignore[attr-defined]


def test_dashboard_structure() -> None:
    dashboard = _dashboard()
    assert dashboard["uid"] == "kca-overview"
    panels = _panels()
    ids = [panel["id"] for panel in panels]
    assert len(ids) == len(set(ids))
    for panel in panels:
        grid = panel["gridPos"]
        assert isinstance(grid, dict)
        assert grid["x"] >= 0 and grid["x"] + grid["w"] <= 24, panel["title"]
        if panel["type"] != "row":
            assert panel["targets"], panel["title"]
            assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}
    titles = " ".join(str(panel["title"]).lower() for panel in panels)
    for topic in ("calls", "outcome", "resolution", "latency", "cost", "outbox", "kayako"):
        assert topic in titles


def test_panels_do_not_overlap() -> None:
    taken: set[tuple[int, int]] = set()
    for panel in _panels():
        grid = panel["gridPos"]
        assert isinstance(grid, dict)
        cells = {
            (x, y)
            for x in range(grid["x"], grid["x"] + grid["w"])
            for y in range(grid["y"], grid["y"] + grid["h"])
        }
        assert not cells & taken, f"{panel['title']} overlaps another panel"
        taken |= cells


def test_queries_use_only_exported_metrics() -> None:
    known = known_metric_names()
    for expr in _exprs():
        assert not _metric_names(expr) - known, expr


def test_queries_are_valid_promql(tmp_path: Path) -> None:
    """promtool parses each query as a recording rule (it has no stand-alone PromQL check)."""
    promtool = require_tool("promtool", package="prometheus")
    rules = {
        "groups": [
            {
                "name": "dashboard",
                "rules": [{"record": f"dashboard:q{i}", "expr": e} for i, e in enumerate(_exprs())],
            }
        ]
    }
    path = tmp_path / "dashboard-queries.yml"
    path.write_text(yaml.safe_dump(rules))
    result = run(promtool, "check", "rules", str(path))
    assert result.returncode == 0, result.stdout + result.stderr
