"""The KubeSchedulerConfiguration file: defaults, merging, and one-line errors naming the path."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from kubenexus.config import build_profiles, load_config_file, parse_config
from kubenexus.errors import ConfigError
from kubenexus.plugins.coscheduling import Coscheduling
from kubenexus.plugins.node_resources_fit import NodeResourcesFit


def _profile(config: dict[str, Any]) -> Any:
    return next(iter(build_profiles(parse_config(config)).values()))


def test_no_file_means_defaults() -> None:
    profile = _profile({})
    assert profile.scheduler_name == "kubenexus-scheduler"
    assert [f.name for f in profile.filters] == [
        "NodeUnschedulable",
        "NodeName",
        "TaintToleration",
        "NodeAffinity",
        "NodePorts",
        "NodeResourcesFit",
        "PodTopologySpread",
        "InterPodAffinity",
        "VRAMScheduler",
        "NetworkFabricScore",
        "NUMATopology",
    ]
    assert [(w.plugin.name, w.weight) for w in profile.scores] == [
        ("TaintToleration", 3),
        ("NodeAffinity", 2),
        ("NodeResourcesFit", 1),
        ("PodTopologySpread", 2),
        ("InterPodAffinity", 2),
        ("VRAMScheduler", 8),
        ("ResourceFragmentationScore", 5),
        ("NetworkFabricScore", 2),
        ("NUMATopology", 3),
        ("NodeResourcesBalancedAllocation", 1),
        ("ImageLocality", 1),
        ("TenantHardwareAffinityScore", 34),
        ("WorkloadAwareScoring", 2),
        ("TopologyScoring", 6),
    ]


def test_disable_and_enable_with_weights() -> None:
    profile = _profile(
        {
            "apiVersion": "kubescheduler.config.k8s.io/v1",
            "kind": "KubeSchedulerConfiguration",
            "profiles": [
                {
                    "schedulerName": "batch",
                    "plugins": {
                        "score": {
                            "disabled": [{"name": "*"}],
                            "enabled": [{"name": "NodeResourcesFit", "weight": 5}],
                        },
                        "filter": {"disabled": [{"name": "TaintToleration"}]},
                    },
                }
            ],
        }
    )
    assert profile.scheduler_name == "batch"
    assert [(w.plugin.name, w.weight) for w in profile.scores] == [("NodeResourcesFit", 5)]
    assert "TaintToleration" not in [f.name for f in profile.filters]


def test_enabling_a_default_again_reweights_it_in_place() -> None:
    profile = _profile(
        {
            "profiles": [
                {"plugins": {"score": {"enabled": [{"name": "TaintToleration", "weight": 7}]}}}
            ]
        }
    )
    assert (profile.scores[0].plugin.name, profile.scores[0].weight) == ("TaintToleration", 7)


def test_multi_point_disable_removes_a_plugin_everywhere() -> None:
    profile = _profile(
        {"profiles": [{"plugins": {"multiPoint": {"disabled": [{"name": "TaintToleration"}]}}}]}
    )
    assert "TaintToleration" not in [f.name for f in profile.filters]
    assert "TaintToleration" not in [w.plugin.name for w in profile.scores]


def test_plugin_args_reach_the_plugin() -> None:
    profile = _profile(
        {
            "profiles": [
                {
                    "pluginConfig": [
                        {"name": "Coscheduling", "args": {"starvationThresholdSeconds": 5}},
                        {
                            "name": "NodeResourcesFit",
                            "args": {"scoringStrategy": {"type": "MostAllocated"}},
                        },
                    ]
                }
            ]
        }
    )
    assert isinstance(profile.queue_sort, Coscheduling)
    assert profile.queue_sort.args.starvation_threshold_seconds == 5
    fit = next(f for f in profile.filters if isinstance(f, NodeResourcesFit))
    assert fit.args.scoring_strategy.type == "MostAllocated"


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"kind": "Deployment"}, "config: kind: Input should be 'KubeSchedulerConfiguration'"),
        (
            {"apiVersion": "v2"},
            "config: apiVersion: Input should be 'kubescheduler.config.k8s.io/v1'",
        ),
        ({"profile": []}, "config: profile: Extra inputs are not permitted"),
        (
            {"podInitialBackoffSeconds": 0},
            "config: podInitialBackoffSeconds: Input should be greater than 0 (got 0)",
        ),
        ({"profiles": []}, "config: profiles: List should have at least 1 item"),
        (
            {
                "profiles": [
                    {"plugins": {"score": {"enabled": [{"name": "NodeResourcesFit", "weight": 0}]}}}
                ]
            },
            "config: profiles[0].plugins.score.enabled[0].weight: Input should be greater than or equal to 1 (got 0)",
        ),
        (
            {"profiles": [{"plugins": {"queueSort": {"enabled": [{"name": "Gangs"}]}}}]},
            "config: profiles[0].plugins.queueSort.enabled[0].name: unknown plugin 'Gangs'",
        ),
        (
            {"profiles": [{"plugins": {"filter": {"disabled": [{"name": "Nope"}]}}}]},
            "config: profiles[0].plugins.filter.disabled[0].name: unknown plugin 'Nope'",
        ),
        (
            {"profiles": [{"plugins": {"queueSort": {"enabled": [{"name": "NodeResourcesFit"}]}}}]},
            "config: profiles[0].plugins.queueSort.enabled[0].name: 'NodeResourcesFit' does not extend this point",
        ),
        (
            {"profiles": [{"plugins": {"queueSort": {"disabled": [{"name": "*"}]}}}]},
            "config: profiles[0].plugins.queueSort: exactly one queue-sort plugin must be enabled, got none",
        ),
        (
            {"profiles": [{"plugins": {"bind": {"enabled": [{"name": "DefaultBinder"}]}}}]},
            "config: profiles[0].plugins.bind.enabled[0].name: no KubeNexus plugin extends bind",
        ),
        (
            {
                "profiles": [
                    {"pluginConfig": [{"name": "PrioritySort", "args": {"starvationThreshold": 5}}]}
                ]
            },
            "config: profiles[0].pluginConfig[0].args.starvationThreshold: Extra inputs are not permitted",
        ),
        (
            {
                "profiles": [
                    {
                        "pluginConfig": [
                            {
                                "name": "NodeResourcesFit",
                                "args": {"scoringStrategy": {"type": "Random"}},
                            }
                        ]
                    }
                ]
            },
            "config: profiles[0].pluginConfig[0].args.scoringStrategy.type: Input should be 'LeastAllocated' or 'MostAllocated'",
        ),
        (
            {"profiles": [{"pluginConfig": [{"name": "Gang", "args": {}}]}]},
            "config: profiles[0].pluginConfig[0].name: unknown plugin 'Gang'",
        ),
        (
            {"profiles": [{"schedulerName": "a"}, {"schedulerName": "a"}]},
            "config: profiles: schedulerName 'a' appears twice",
        ),
        ("just text", "config: expected a KubeSchedulerConfiguration mapping"),
        # As kube-scheduler: the cap of the backoff cannot be below its start.
        (
            {"podInitialBackoffSeconds": 20, "podMaxBackoffSeconds": 5},
            "config: podMaxBackoffSeconds: must be at least podInitialBackoffSeconds (20.0) (got 5.0)",
        ),
        # Infinity and NaN are numbers to YAML (.inf, .nan), never a sensible setting.
        (
            {"podMaxInUnschedulablePodsSeconds": float("inf")},
            "config: podMaxInUnschedulablePodsSeconds: Input should be a finite number (got inf)",
        ),
        (
            {"leaderElection": {"leaseDuration": float("inf")}},
            "config: leaderElection.leaseDuration: Value error, must be a finite number",
        ),
        # A Lease holds whole seconds in an int32.
        (
            {"leaderElection": {"leaseDuration": "999999999h"}},
            "config: leaderElection.leaseDuration: Value error, must be at most 2147483647s",
        ),
        (
            {
                "profiles": [
                    {
                        "pluginConfig": [
                            {
                                "name": "ResourceReservation",
                                "args": {"defaultTtlSeconds": float("inf")},
                            }
                        ]
                    }
                ]
            },
            "config: profiles[0].pluginConfig[0].args.defaultTtlSeconds: Input should be a finite number (got inf)",
        ),
        (
            {
                "profiles": [
                    {
                        "pluginConfig": [
                            {
                                "name": "DefaultPreemption",
                                "args": {
                                    "minCandidateNodesPercentage": 0,
                                    "minCandidateNodesAbsolute": 0,
                                },
                            }
                        ]
                    }
                ]
            },
            "config: profiles[0].pluginConfig[0].args: Value error, minCandidateNodesPercentage and minCandidateNodesAbsolute cannot both be 0",
        ),
        (
            {"clientConnection": {"qps": -5}},
            "config: clientConnection.qps: Input should be greater than or equal to 0 (got -5)",
        ),
        (
            {"clientConnection": {"burst": 0}},
            "config: clientConnection.burst: Input should be greater than or equal to 1 (got 0)",
        ),
        (
            {"clientConnection": {"qsp": 5}},
            "config: clientConnection.qsp: Extra inputs are not permitted (got 5)",
        ),
        (
            {
                "profiles": [
                    {"schedulerName": "a"},
                    {
                        "schedulerName": "b",
                        "pluginConfig": [
                            {"name": "Coscheduling", "args": {"starvationThresholdSeconds": 5}}
                        ],
                    },
                ]
            },
            "config: profiles[1].plugins.queueSort: every profile must use the same queue-sort plugin and arguments",
        ),
    ],
)
def test_invalid_configuration_is_one_line_naming_the_path(config: object, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_config(config)
    text = str(info.value)
    assert text.startswith(message), text
    assert "\n" not in text


def test_file_errors_name_the_file(tmp_path: Path) -> None:
    missing = tmp_path / "nope.yaml"
    with pytest.raises(ConfigError, match=r"nope.yaml: cannot read"):
        load_config_file(missing)
    broken = tmp_path / "broken.yaml"
    broken.write_text("profiles:\n  - schedulerName: [unclosed\n")
    with pytest.raises(ConfigError, match=r"broken.yaml: not valid YAML at line 3"):
        load_config_file(broken)
    bad = tmp_path / "bad.yaml"
    bad.write_text("profiles:\n- plugins:\n    score:\n      enabled:\n      - name: Nope\n")
    with pytest.raises(
        ConfigError,
        match=r"bad.yaml: profiles\[0\].plugins.score.enabled\[0\].name: unknown plugin 'Nope'",
    ):
        load_config_file(bad)


def test_empty_file_is_the_defaults(tmp_path: Path) -> None:
    empty = tmp_path / "empty.yaml"
    empty.write_text("")
    assert load_config_file(empty).profiles[0].scheduler_name == "kubenexus-scheduler"


def test_queue_settings_come_from_the_file() -> None:
    config = parse_config(
        {
            "podInitialBackoffSeconds": 2,
            "podMaxBackoffSeconds": 30,
            "podMaxInUnschedulablePodsSeconds": 60,
        }
    )
    settings = config.queue_settings()
    assert (
        settings.initial_backoff_seconds,
        settings.max_backoff_seconds,
        settings.max_unschedulable_seconds,
    ) == (2, 30, 60)


def test_a_file_of_several_documents_says_so(tmp_path: Path) -> None:
    """kube-scheduler reads one document: a multi-document file (a cluster YAML passed as the
    configuration by mistake) says what is wrong, not only where."""
    two = tmp_path / "two.yaml"
    two.write_text("kind: KubeSchedulerConfiguration\n---\nkind: Node\n")
    with pytest.raises(ConfigError) as info:
        load_config_file(two)
    assert str(info.value) == (
        f"{two}: not valid YAML at line 2: expected a single document in the stream; "
        "but found another document"
    )
