"""`kubenexus node discover --apply` against the API emulator: it publishes what the scheduler
reads, a second run sends no write, a change patches only the keys that differ, and the
NodeResourceTopology is created, updated, left alone when someone else owns it, and skipped when
its CRD is not served."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from kubenexus.cli import main
from kubenexus.node.discover import discover, nrt_object
from kubenexus.node.publish import publish, publish_loop
from kubenexus.shell.client import KubeClient, load_configuration
from tests.builders import make_node
from tests.emulator import KubeEmulator, running_emulator
from tests.node.hosts import FakeSysfs
from tests.node.test_discover import two_zone_host

N = "numa.kubenexus.io/"
NRT = ("noderesourcetopologies", "topology.node.k8s.io", "v1alpha2")


def writes(api: KubeEmulator) -> list[tuple[str, str]]:
    return [(m, p) for m, p, _ in api.calls if m not in {"GET"}]


def node_meta(api: KubeEmulator, name: str) -> dict[str, Any]:
    node = api.get_object("nodes", name)
    assert node is not None
    return node["metadata"]  # type: ignore[no-any-return]


async def test_apply_publishes_then_changes_only_what_differs(tmp_path: Path) -> None:
    root = two_zone_host(tmp_path)
    async with running_emulator() as (api, url):
        node = make_node("gpu-1").alloc(cpu="60", memory="128Gi").label("team", "ml").dict()
        node["metadata"]["annotations"] = {"keep": "me", f"{N}node-5-cpus": "99"}  # stale zone
        api.put_object("nodes", node)
        client = KubeClient(await load_configuration(None, host=url))
        try:
            found = discover(str(root), nvidia_smi=None)
            lines = await publish(client, "gpu-1", found)
            meta = node_meta(api, "gpu-1")
            assert meta["labels"]["team"] == "ml"
            assert meta["labels"][f"{N}node-count"] == "2"
            assert meta["labels"]["gpu.kubenexus.io/gpu1-numa"] == "1"
            assert meta["annotations"]["keep"] == "me"
            assert meta["annotations"][f"{N}node-1-cpus"] == "16-31,48-59"
            assert f"{N}node-5-cpus" not in meta["annotations"]
            assert lines[0] == "node gpu-1: 15 change(s)"
            assert "  annotation numa.kubenexus.io/node-5-cpus=(removed)" in lines
            assert writes(api) == [("PATCH", "/api/v1/nodes/gpu-1")]

            # Nothing differs: no write at all.
            api.calls.clear()
            assert await publish(client, "gpu-1", found) == [
                "node gpu-1: labels and annotations up to date"
            ]
            assert writes(api) == []

            # CPU 60-63 come online: one annotation changes, and only it is sent.
            (root / "devices/system/cpu/online").write_text("0-63\n")
            api.calls.clear()
            lines = await publish(client, "gpu-1", discover(str(root), nvidia_smi=None))
            assert lines == [
                "node gpu-1: 1 change(s)",
                "  annotation numa.kubenexus.io/node-1-cpus=16-31,48-63",
            ]
            assert writes(api) == [("PATCH", "/api/v1/nodes/gpu-1")]
            assert node_meta(api, "gpu-1")["annotations"][f"{N}node-1-cpus"] == "16-31,48-63"
        finally:
            await client.close()


async def test_node_resource_topology_created_updated_and_owned(tmp_path: Path) -> None:
    found = discover(str(two_zone_host(tmp_path)), nvidia_smi=None)
    async with running_emulator() as (api, url):
        api.put_object("nodes", make_node("n1").dict())
        api.put_object("nodes", make_node("n2").dict())
        client = KubeClient(await load_configuration(None, host=url))
        try:
            assert await publish(client, "n1", found, "nrt") == ["NodeResourceTopology n1: created"]
            stored = api.get_object(*NRT[:1], "n1", group=NRT[1], version=NRT[2])
            assert stored is not None
            assert stored["zones"] == nrt_object("n1", found)["zones"]
            assert node_meta(api, "n1")["labels"] == {"kubernetes.io/hostname": "n1"}  # untouched

            api.calls.clear()
            assert await publish(client, "n1", found, "nrt") == [
                "NodeResourceTopology n1: up to date"
            ]
            assert writes(api) == []

            smaller = discover(
                str(FakeSysfs(tmp_path / "s").node(0, "0-3", 2**30).build()), nvidia_smi=None
            )
            assert await publish(client, "n1", smaller, "both") == [
                "node n1: 4 change(s)",
                "  label numa.kubenexus.io/node-count=1",
                "  annotation numa.kubenexus.io/node-0-cpus=0-3",
                "  annotation numa.kubenexus.io/node-0-distance-0=10",
                "  annotation numa.kubenexus.io/node-0-memory=1073741824",
                "NodeResourceTopology n1: updated",
            ]
            stored = api.get_object(*NRT[:1], "n1", group=NRT[1], version=NRT[2])
            assert stored is not None
            assert [z["name"] for z in stored["zones"]] == ["node-0"]

            foreign = nrt_object("n2", found)
            foreign["metadata"]["labels"] = {"app.kubernetes.io/managed-by": "nfd-topology-updater"}
            api.put_object("noderesourcetopologies", foreign, group=NRT[1], version=NRT[2])
            api.calls.clear()
            assert await publish(client, "n2", smaller, "nrt") == [
                "NodeResourceTopology n2 is managed by nfd-topology-updater: left alone"
            ]
            assert writes(api) == []
        finally:
            await client.close()


@pytest.mark.emulator("injects a 404 for the NodeResourceTopology API group")
async def test_without_the_crd_nothing_is_published_and_it_says_so(tmp_path: Path) -> None:
    found = discover(str(two_zone_host(tmp_path)), nvidia_smi=None)
    async with running_emulator() as (api, url):
        api.put_object("nodes", make_node("n1").dict())
        api.inject(
            method="GET", path=r"^/apis/topology\.node\.k8s\.io/v1alpha2$", status=404, times=None
        )
        client = KubeClient(await load_configuration(None, host=url))
        try:
            assert await publish(client, "n1", found, "nrt") == [
                "NodeResourceTopology (topology.node.k8s.io/v1alpha2) is not served here: not published"
            ]
            assert writes(api) == []
        finally:
            await client.close()


async def test_the_loop_reports_errors_and_goes_on(tmp_path: Path) -> None:
    root = two_zone_host(tmp_path)
    async with running_emulator() as (api, url):
        client = KubeClient(await load_configuration(None, host=url))
        lines: list[str] = []
        try:
            # No such node yet: reported, and a one-shot run exits 1.
            code = await publish_loop(
                client,
                "late",
                lambda: discover(str(root), nvidia_smi=None),
                what="labels",
                interval=0,
                report=lines.append,
            )
            assert code == 1
            assert lines[0].startswith("error: 404")
            api.put_object("nodes", make_node("late").dict())
            lines.clear()
            task = asyncio.create_task(
                publish_loop(
                    client,
                    "late",
                    lambda: discover(str(root), nvidia_smi=None),
                    what="labels",
                    interval=0.05,
                    report=lines.append,
                )
            )
            for _ in range(100):
                if len(lines) >= 16:
                    break
                await asyncio.sleep(0.02)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            assert lines[0] == "node late: 14 change(s)"
            assert "node late: labels and annotations up to date" in lines
        finally:
            await client.close()


def test_cli_apply_once(tmp_path: Path) -> None:
    root = str(two_zone_host(tmp_path))

    async def serve() -> tuple[int, str, dict[str, Any]]:
        async with running_emulator() as (api, url):
            api.put_object("nodes", make_node("cli-node").dict())
            kubeconfig = tmp_path / "kubeconfig"
            kubeconfig.write_text(
                "apiVersion: v1\nkind: Config\nclusters: [{name: e, cluster: {server: '"
                + url
                + "'}}]\n"
                "users: [{name: u, user: {token: t}}]\ncontexts: [{name: c, context: {cluster: e, user: u}}]\ncurrent-context: c\n"
            )
            args = [
                "node",
                "discover",
                "--sysfs-root",
                root,
                "--nvidia-smi",
                "",
                "--apply",
                "--kubeconfig",
                str(kubeconfig),
                "-o",
                "json",
            ]
            result = await asyncio.to_thread(
                CliRunner().invoke, main, args, env={"NODE_NAME": "cli-node"}
            )
            return result.exit_code, result.stderr, node_meta(api, "cli-node")

    code, err, meta = asyncio.run(serve())
    assert code == 0, err
    assert err.splitlines()[0] == "node cli-node: 14 change(s)"
    assert meta["annotations"][f"{N}node-0-cpus"] == "0-15,32-47"


async def test_hand_written_keys_stay_and_a_stray_zone_is_reported(tmp_path: Path) -> None:
    """node-N-bandwidth and a gpuK-numa discovery did not write are never removed; one of a zone
    the host does not have is reported (the scheduler ignores the node's topology for it)."""
    root = two_zone_host(tmp_path)
    async with running_emulator() as (api, url):
        node = make_node("n1").dict()
        node["metadata"]["annotations"] = {
            f"{N}node-0-bandwidth": "102400",
            f"{N}node-2-bandwidth": "102400",  # a zone this host does not have
        }
        node["metadata"]["labels"]["gpu.kubenexus.io/gpu7-numa"] = "1"  # a GPU it cannot see
        api.put_object("nodes", node)
        client = KubeClient(await load_configuration(None, host=url))
        try:
            found = discover(str(root), nvidia_smi=None)
            lines = await publish(client, "n1", found)
            assert lines[-1] == (
                "warning: node n1: numa.kubenexus.io/node-2-bandwidth describes a zone this host "
                "does not have (it has 2): the scheduler ignores the node's topology until it is "
                "removed"
            )
            meta = node_meta(api, "n1")
            assert meta["annotations"][f"{N}node-0-bandwidth"] == "102400"
            assert meta["annotations"][f"{N}node-2-bandwidth"] == "102400"
            assert meta["labels"]["gpu.kubenexus.io/gpu7-numa"] == "1"
            assert meta["annotations"]["gpu.kubenexus.io/discovered-numa-gpus"] == "0-1"
            api.calls.clear()
            assert (await publish(client, "n1", found))[0] == (
                "node n1: labels and annotations up to date"
            )
            assert writes(api) == []
        finally:
            await client.close()
