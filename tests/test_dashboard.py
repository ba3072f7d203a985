"""manifests/grafana-dashboard.json: every query names only metrics the daemon exports, the
dashboard covers what the issue asks, and its ConfigMap carries the same JSON."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client.metrics_core import Metric

from kubenexus.shell.metrics import Metrics

MANIFESTS = Path(__file__).resolve().parents[1] / "manifests"
DASHBOARD = MANIFESTS / "grafana-dashboard.json"
# PromQL words that are not metric names.
_KEYWORDS = frozenset(
    {"by", "without", "on", "ignoring", "group_left", "group_right", "and", "or", "unless", "bool"}
)
_SUFFIXES = {
    "counter": ("_total", "_created"),
    "histogram": ("_bucket", "_sum", "_count", "_created"),
    "gauge": ("",),
}


def _exported() -> set[str]:
    """The series names the daemon's registry serves (a labelled metric with no child yet is
    served once a child exists: its names come from its type)."""
    families: list[Metric] = list(Metrics().registry.collect())
    return {f.name + suffix for f in families for suffix in _SUFFIXES[f.type]}


def _dashboard() -> dict[str, Any]:
    return json.loads(DASHBOARD.read_text())  # type: ignore[no-any-return]


def _exprs(dashboard: dict[str, Any]) -> list[str]:
    return [t["expr"] for p in dashboard["panels"] for t in p["targets"]]


def metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression reads."""
    text = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)  # strings
    text = re.sub(r"\{[^}]*\}", " ", text)  # label matchers
    text = re.sub(r"\[[^\]]*\]", " ", text)  # ranges
    text = re.sub(r"\b(?:by|without|on|ignoring)\s*\([^)]*\)", " ", text)  # grouping labels
    names = set()
    for match in re.finditer(r"[A-Za-z_:][A-Za-z0-9_:]*", text):
        following = text[match.end() :].lstrip()
        word = match.group()
        if following.startswith("(") or word in _KEYWORDS:
            continue  # a function or an operator
        names.add(word)
    return names


def test_the_parser_finds_metric_names_and_nothing_else() -> None:
    expr = (
        'histogram_quantile(0.9, sum by (le) (rate(a_seconds_bucket{job=~"$job",x="y"}'
        "[$__rate_interval]))) / on (instance) b_total"
    )
    assert metric_names(expr) == {"a_seconds_bucket", "b_total"}


def test_every_query_reads_metrics_the_daemon_exports() -> None:
    exported = _exported()
    used = set()
    for expr in _exprs(_dashboard()):
        names = metric_names(expr)
        assert names, expr
        assert names <= exported, f"{expr}: {sorted(names - exported)} not exported"
        used |= names
    # The template variable's query too.
    for variable in _dashboard()["templating"]["list"]:
        query = variable.get("definition", "")
        for name in re.findall(r"label_values\((\w+)", query):
            assert name in exported


def test_a_misspelt_metric_would_be_caught() -> None:
    assert not metric_names("sum(rate(kubenexus_binding_total[5m]))") <= _exported()


@pytest.mark.parametrize(
    "metric",
    [
        "kubenexus_bindings_total",  # throughput, bind errors
        "scheduler_schedule_attempts_total",  # attempts by result
        "scheduler_scheduling_attempt_duration_seconds_bucket",  # latency percentiles
        "scheduler_pending_pods",  # pending by queue
        "kubenexus_gangs",
        "kubenexus_reservations",
        "kubenexus_numa_nodes",
        "kubenexus_leader",
    ],
)
def test_the_dashboard_shows(metric: str) -> None:
    assert any(metric in metric_names(expr) for expr in _exprs(_dashboard()))


def test_panels_do_not_overlap_and_ids_are_unique() -> None:
    panels = _dashboard()["panels"]
    assert len({p["id"] for p in panels}) == len(panels)
    cells: set[tuple[int, int]] = set()
    for panel in panels:
        grid = panel["gridPos"]
        assert grid["x"] + grid["w"] <= 24
        for x in range(grid["x"], grid["x"] + grid["w"]):
            for y in range(grid["y"], grid["y"] + grid["h"]):
                assert (x, y) not in cells, panel["title"]
                cells.add((x, y))


def test_the_configmap_holds_the_same_dashboard_for_grafanas_sidecar() -> None:
    config_map = yaml.safe_load((MANIFESTS / "grafana-dashboard.yaml").read_text())
    assert config_map["kind"] == "ConfigMap"
    assert config_map["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert config_map["data"]["kubenexus-scheduler.json"] == DASHBOARD.read_text()
    kustomization = yaml.safe_load((MANIFESTS / "kustomization.yaml").read_text())
    assert "grafana-dashboard.yaml" in kustomization["resources"]
