"""The seeds' config/config.yaml loads as is (DESIGN.md: "must load as is")."""

from __future__ import annotations

import yaml

from kubenexus.config import build_profiles, parse_config
from kubenexus.plugins.coscheduling import Coscheduling

SEED_CONFIG = """
apiVersion: kubescheduler.config.k8s.io/v1
kind: KubeSchedulerConfiguration
profiles:
  - schedulerName: kubenexus-scheduler
    plugins:
      queueSort:
        enabled:
          - name: Coscheduling
      preFilter:
        enabled:
          - name: Coscheduling
      permit:
        enabled:
          - name: Coscheduling
      reserve:
        enabled:
          - name: Coscheduling
      score:
        enabled:
          - name: NUMATopology
            weight: 10
"""


def test_the_seed_configuration_loads_as_is() -> None:
    profile = build_profiles(parse_config(yaml.safe_load(SEED_CONFIG), "config/config.yaml"))[
        "kubenexus-scheduler"
    ]
    assert isinstance(profile.queue_sort, Coscheduling)
    assert ("NUMATopology", 10) in [(w.plugin.name, w.weight) for w in profile.scores]
    assert "Coscheduling" in [p.name for p in profile.permits]
    assert "Coscheduling" in [p.name for p in profile.reserves]
