"""Fixtures the real-server tests share."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.realk8s.client import RealApi
from tests.realk8s.controlplane import ControlPlane


@pytest.fixture(scope="module")
def default_kube_scheduler(control_plane: ControlPlane, real_api: RealApi) -> Iterator[RealApi]:
    """The real kube-scheduler with its default configuration (post-filters on), on a wiped
    server, for one test module."""
    real_api.wipe()
    control_plane.stop_component("kube-scheduler")
    control_plane.start_scheduler()
    try:
        yield real_api
    finally:
        control_plane.stop_component("kube-scheduler")
        real_api.wipe()
