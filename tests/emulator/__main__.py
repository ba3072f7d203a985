"""Run the emulator on its own, preloaded with a synthetic cluster, for `kubenexus bench --e2e`.

    python -m tests.emulator --port 8001 --nodes 5000 --running-pods 40000 --pending-pods 10000

Prints the URL, then serves until interrupted. A test double: the product never imports it.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import random
import signal
from typing import Any

import kmock

from tests.emulator.server import KubeEmulator

GIB = 2**30


def _node(i: int, rng: random.Random) -> dict[str, Any]:
    cpu, memory = rng.choice([(8, 32), (32, 128), (64, 256)])
    name = f"node-{i:05d}"
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": name,
            "labels": {
                "kubernetes.io/hostname": name,
                "topology.kubernetes.io/zone": f"zone-{i % 3}",
                "node.kubernetes.io/instance-type": f"m.{cpu}x",
            },
        },
        "status": {
            "allocatable": {
                "cpu": str(cpu),
                "memory": f"{memory}Gi",
                "pods": "110",
                "ephemeral-storage": "100Gi",
            }
        },
    }


def _pod(name: str, rng: random.Random, scheduler: str, node: str = "") -> dict[str, Any]:
    """A pod body of a realistic size (~2.5 KB of JSON): labels, annotations, env, probes."""
    spec: dict[str, Any] = {
        "schedulerName": scheduler,
        "containers": [
            {
                "name": "app",
                "image": "registry.example.com/team/app:1.2.3",
                "resources": {
                    "requests": {
                        "cpu": rng.choice(["100m", "250m", "500m"]),
                        "memory": rng.choice(["128Mi", "256Mi", "512Mi"]),
                    }
                },
                "env": [
                    {"name": f"VAR_{k}", "value": f"value-{k}-{rng.randrange(10**6)}"}
                    for k in range(8)
                ],
                "ports": [{"containerPort": 8080, "name": "http"}],
                "readinessProbe": {"httpGet": {"path": "/ready", "port": 8080}, "periodSeconds": 5},
                "volumeMounts": [{"name": "config", "mountPath": "/etc/app"}],
            }
        ],
        "volumes": [{"name": "config", "configMap": {"name": "app-config"}}],
        "tolerations": [
            {
                "key": "node.kubernetes.io/not-ready",
                "operator": "Exists",
                "effect": "NoExecute",
                "tolerationSeconds": 300,
            }
        ],
    }
    if node:
        spec["nodeName"] = node
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": name,
            "namespace": "bench",
            "labels": {
                "app": "bench",
                "team": "platform",
                "pod-template-hash": "5d8f7c9b6d",
                "tier": "web",
            },
            "annotations": {
                "kubectl.kubernetes.io/restartedAt": "2026-11-01T00:00:00Z",
                "prometheus.io/scrape": "true",
                "prometheus.io/port": "8080",
            },
            "ownerReferences": [
                {
                    "apiVersion": "apps/v1",
                    "kind": "ReplicaSet",
                    "name": "bench-5d8f7c9b6d",
                    "uid": "0000",
                    "controller": True,
                }
            ],
        },
        "spec": spec,
        "status": {"phase": "Running" if node else "Pending"},
    }


def preload(emulator: KubeEmulator, nodes: int, running: int, pending: int, seed: int = 1) -> None:
    rng = random.Random(seed)
    for i in range(nodes):
        emulator.put_object("nodes", _node(i, rng))
    for i in range(running):
        emulator.put_object(
            "pods", _pod(f"running-{i:06d}", rng, "default-scheduler", node=f"node-{i % nodes:05d}")
        )
    for i in range(pending):
        emulator.put_object("pods", _pod(f"pending-{i:06d}", rng, "kubenexus-scheduler"))


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--nodes", type=int, default=0)
    parser.add_argument("--running-pods", type=int, default=0)
    parser.add_argument("--pending-pods", type=int, default=0)
    args = parser.parse_args()
    # The preloaded history is not needed for watches that start after it.
    async with (
        KubeEmulator(history=10_000) as emulator,
        kmock.Server(emulator, host="127.0.0.1", port=args.port or None) as server,
    ):
        preload(emulator, args.nodes, args.running_pods, args.pending_pods)
        print(str(server.url).rstrip("/"), flush=True)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        await stop.wait()


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(main())
