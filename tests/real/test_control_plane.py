"""The real-control-plane harness itself: it starts, serves what the tests need, wipes between
tests, and stops everything it started."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from tests.realk8s.client import RealApi, RealApiError
from tests.realk8s.controlplane import ControlPlane, ControlPlaneError, assets_folder


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie is gone for our purposes (its parent, the test, has not reaped it yet).
    stat = Path(f"/proc/{pid}/stat")
    return stat.exists() and stat.read_text().split()[2] != "Z"


def _exists(api: RealApi, path: str) -> bool:
    try:
        api.request("GET", path)
    except RealApiError as exc:
        if exc.status != 404:
            raise
        return False
    return True


def test_a_control_plane_starts_serves_and_stops_leaving_nothing_behind() -> None:
    assets = assets_folder()
    assert assets is not None
    plane = ControlPlane(assets)
    try:
        plane.start()
        if plane.has("kube-controller-manager"):  # not in envtest's own folders
            plane.start_controller_manager()
        api = RealApi(plane)
        api.install_crds()
        # kubectl reads the kubeconfig the harness wrote (TLS, client certificate).
        kubectl = assets / "kubectl"
        if kubectl.exists():
            out = subprocess.run(
                [str(kubectl), "--kubeconfig", str(plane.admin_kubeconfig), "get", "podgroups"],
                capture_output=True,
                text=True,
                timeout=30,
                check=True,
            )
            assert "No resources found" in out.stderr
        # The controller-manager makes default ServiceAccounts in new namespaces.
        api.request("POST", "/api/v1/namespaces", {"metadata": {"name": "fresh"}})
        deadline = time.monotonic() + 30
        while plane.has("kube-controller-manager") and not _exists(
            api, "/api/v1/namespaces/fresh/serviceaccounts/default"
        ):
            assert time.monotonic() < deadline, "no default ServiceAccount after 30s"
            time.sleep(0.2)
        pids = [p.pid for p in plane._processes.values()]
        root, data = plane.root, plane._data
        api.close()
    finally:
        plane.stop()
    assert not any(_alive(pid) for pid in pids)
    assert not root.exists()
    assert not data.exists()


def test_wiping_removes_what_tests_made_and_keeps_namespaces_and_crds(real_api: RealApi) -> None:
    real_api.put_object(
        "nodes",
        {"metadata": {"name": "n1"}, "status": {"allocatable": {"cpu": "1", "pods": "10"}}},
    )
    pinned = {
        "metadata": {"name": "p1", "namespace": "wipe-me", "finalizers": ["example.com/keep"]},
        "spec": {"nodeName": "n1", "containers": [{"name": "c", "image": "busybox"}]},
    }
    real_api.put_object("pods", pinned)
    real_api.put_object(
        "podgroups",
        {"metadata": {"name": "g", "namespace": "wipe-me"}, "spec": {"minMember": 2}},
        "scheduling.kubenexus.io",
        "v1alpha1",
    )
    real_api.wipe()
    assert real_api.objects("pods") == []
    assert real_api.objects("nodes") == []
    assert real_api.objects("podgroups", "scheduling.kubenexus.io", "v1alpha1") == []
    assert real_api.get_object("namespaces", "wipe-me") is not None


def test_a_control_plane_that_cannot_start_says_why(tmp_path: Path) -> None:
    fake = tmp_path / "bin"
    fake.mkdir()
    for name in ("etcd", "kube-apiserver"):
        script = fake / name
        script.write_text("#!/bin/sh\necho 'broken binary' >&2\nexit 3\n")
        script.chmod(0o755)
    plane = ControlPlane(fake)
    try:
        with pytest.raises(RuntimeError, match=r"etcd exited \(3\):\nbroken binary"):
            plane.start()
    finally:
        plane.stop()
    assert not plane.root.exists()


def test_a_component_missing_from_the_folder_is_named(tmp_path: Path) -> None:
    """envtest's own folders hold etcd and kube-apiserver only: starting kube-scheduler from
    one says which binary is missing (the tests that need it are skipped, see has())."""
    plane = ControlPlane(tmp_path)
    assert not plane.has("kube-scheduler")
    with pytest.raises(ControlPlaneError, match=r"^kube-scheduler: not in KUBEBUILDER_ASSETS"):
        plane._spawn("kube-scheduler")
    plane.stop()


def test_stop_is_idempotent_and_kills_a_component_that_ignores_sigterm(tmp_path: Path) -> None:
    assets = assets_folder()
    assert assets is not None
    plane = ControlPlane(assets)
    stubborn = tmp_path / "stubborn"
    stubborn.write_text("#!/bin/sh\ntrap '' TERM\nwhile :; do sleep 0.1; done\n")
    stubborn.chmod(0o755)
    plane._processes["stubborn"] = subprocess.Popen([str(stubborn)], start_new_session=True)
    pid = plane._processes["stubborn"].pid
    os.kill(pid, signal.SIGCONT)
    plane.stop_component("stubborn", grace=0.5)  # SIGTERM ignored: killed after the grace
    assert not _alive(pid)
    plane.stop()
    plane.stop()
