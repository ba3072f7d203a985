from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
import structlog

from tests.realk8s.client import RealApi
from tests.realk8s.controlplane import HOW_TO_ENABLE, ControlPlane, assets_folder

# The REST client honours proxy variables; tests only ever talk to loopback.
os.environ.setdefault("NO_PROXY", "127.0.0.1,localhost")

# Without a control plane the real-server variants are not generated at all, and one line in
# the summary says how to enable them (instead of a skip line per test).
REAL_SERVER = assets_folder() is not None
SERVERS = ["emulator", "real"] if REAL_SERVER else ["emulator"]
# Tests that need the real server only (differential tests against kube-scheduler…).
collect_ignore_glob = [] if REAL_SERVER else ["real/*"]


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not REAL_SERVER:
        terminalreporter.write_line(HOW_TO_ENABLE)


@pytest.fixture(autouse=True)
def _structlog_as_configured_by_default() -> Iterator[None]:
    """A test that runs `kubenexus run` in-process configures structlog for the process (INFO
    and above): later tests capturing debug lines must not depend on the order tests ran in."""
    yield
    structlog.reset_defaults()


@pytest.fixture(scope="session")
def control_plane() -> Iterator[ControlPlane]:
    """etcd + kube-apiserver for the whole session, from ``KUBEBUILDER_ASSETS``; stopped (and its
    files removed) at the end, whatever happened."""
    assets = assets_folder()
    if assets is None:
        pytest.skip(HOW_TO_ENABLE)
    plane = ControlPlane(assets)
    try:
        plane.start()
        yield plane
    finally:
        plane.stop()


@pytest.fixture(scope="session")
def real_api(control_plane: ControlPlane) -> Iterator[RealApi]:
    """The real server with our CRDs (and NodeResourceTopology's) installed."""
    api = RealApi(control_plane)
    try:
        api.install_crds()
        yield api
    finally:
        api.close()
