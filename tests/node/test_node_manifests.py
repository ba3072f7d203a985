"""manifests/node/: valid against the Kubernetes schemas offline, least privilege, and the
commands they run exist with the options they pass."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml
from click.testing import CliRunner

from kubenexus.cli import main

ROOT = Path(__file__).resolve().parents[2]
NODE_MANIFESTS = ROOT / "manifests/node"
KUBERNETES_VERSION = "1.32.0"


def _documents() -> list[dict[str, Any]]:
    docs: list[dict[str, Any]] = []
    for path in sorted(NODE_MANIFESTS.glob("*.yaml")):
        if path.name != "kustomization.yaml":
            docs.extend(d for d in yaml.safe_load_all(path.read_text()) if d)
    return docs


def _one(kind: str, name: str) -> dict[str, Any]:
    matches = [d for d in _documents() if d["kind"] == kind and d["metadata"]["name"] == name]
    assert len(matches) == 1, (kind, name)
    return matches[0]


@pytest.mark.parametrize("doc", _documents(), ids=lambda d: f"{d['kind']}/{d['metadata']['name']}")
def test_every_node_manifest_is_valid_against_the_kubernetes_schema(doc: dict[str, Any]) -> None:
    kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl renders the kustomization")
def test_kustomization_renders_the_node_side() -> None:
    rendered = subprocess.run(
        ["kubectl", "kustomize", str(NODE_MANIFESTS)], check=True, capture_output=True, text=True
    ).stdout
    kinds = sorted(d["kind"] for d in yaml.safe_load_all(rendered) if d)
    assert kinds == sorted(
        [
            "Namespace",
            "ServiceAccount",
            "ClusterRole",
            "ClusterRoleBinding",
            "ValidatingAdmissionPolicy",
            "ValidatingAdmissionPolicyBinding",
            "DaemonSet",
            "DaemonSet",
        ]
    )


def test_discovery_is_least_privilege() -> None:
    role = _one("ClusterRole", "kubenexus-node-discovery")
    assert role["rules"] == [
        {"apiGroups": [""], "resources": ["nodes"], "verbs": ["get", "patch"]},
        {
            "apiGroups": ["topology.node.k8s.io"],
            "resources": ["noderesourcetopologies"],
            "verbs": ["get", "create", "patch"],
        },
    ]
    pod = _one("DaemonSet", "kubenexus-node-discovery")["spec"]["template"]["spec"]
    assert not pod.get("hostPID")
    assert not pod.get("hostNetwork")
    assert not pod.get("hostIPC")
    assert pod["securityContext"]["runAsNonRoot"] is True
    container = pod["containers"][0]
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert container["securityContext"]["capabilities"]["drop"] == ["ALL"]
    assert not container["securityContext"].get("privileged")
    assert {"cpu", "memory"} <= set(container["resources"]["requests"])
    assert "volumes" not in pod  # the container's own read-only /sys: no hostPath
    assert "--sysfs-root=/sys" in container["args"]
    assert container["env"][0]["valueFrom"]["fieldRef"]["fieldPath"] == "spec.nodeName"
    policy = _one("ValidatingAdmissionPolicy", "kubenexus-node-discovery")
    assert (
        "system:serviceaccount:kubenexus-system:kubenexus-node-discovery"
        in policy["spec"]["matchConditions"][0]["expression"]
    )
    assert _one("ValidatingAdmissionPolicyBinding", "kubenexus-node-discovery")["spec"][
        "validationActions"
    ] == ["Deny"]


def test_pods_fit_their_namespaces_pod_security_levels() -> None:
    namespaces = {
        d["metadata"]["name"]: d
        for d in yaml.safe_load_all((ROOT / "manifests/namespace.yaml").read_text())
        if d
    }
    namespaces.update({d["metadata"]["name"]: d for d in _documents() if d["kind"] == "Namespace"})
    levels = {
        n: d["metadata"]["labels"]["pod-security.kubernetes.io/enforce"]
        for n, d in namespaces.items()
    }
    discovery = _one("DaemonSet", "kubenexus-node-discovery")
    installer = _one("DaemonSet", "kubenexus-cpuset-hook-installer")
    assert levels[discovery["metadata"]["namespace"]] == "restricted"
    assert levels[installer["metadata"]["namespace"]] == "privileged"  # hostPath needs it
    assert [
        d["metadata"]["namespace"]
        for d in _documents()
        if d["kind"] == "DaemonSet" and d["metadata"]["namespace"] == "kubenexus-node"
    ] == ["kubenexus-node"]


def test_installer_touches_only_its_three_host_directories() -> None:
    pod = _one("DaemonSet", "kubenexus-cpuset-hook-installer")["spec"]["template"]["spec"]
    assert pod["automountServiceAccountToken"] is False
    assert not pod.get("hostPID")
    assert not pod.get("hostNetwork")
    assert sorted(v["hostPath"]["path"] for v in pod["volumes"]) == [
        "/etc/containers/oci/hooks.d",
        "/etc/kubenexus",
        "/opt/kubenexus",
    ]
    for container in pod["initContainers"] + pod["containers"]:
        security = container["securityContext"]
        assert security["capabilities"]["drop"] == ["ALL"]
        assert security["allowPrivilegeEscalation"] is False
        assert security["readOnlyRootFilesystem"] is True
        assert "memory" in container["resources"]["limits"]
    assert pod["containers"][0]["securityContext"]["runAsNonRoot"] is True


@pytest.mark.parametrize("name", ["kubenexus-node-discovery", "kubenexus-cpuset-hook-installer"])
def test_the_commands_the_daemonsets_run_exist(name: str) -> None:
    pod = _one("DaemonSet", name)["spec"]["template"]["spec"]
    container = (pod.get("initContainers") or pod["containers"])[0]
    result = CliRunner().invoke(main, [*container["args"], "--help"])
    assert result.exit_code == 0, result.output
    for arg in container["args"]:
        if arg.startswith("--"):
            assert arg.split("=")[0] in result.stdout
