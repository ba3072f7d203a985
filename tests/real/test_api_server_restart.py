"""kube-apiserver restarted under a running daemon (a control-plane upgrade, a crash): the
daemon rides it out — its watches fail, it retries with backoff, resumes or relists — and
schedules what was created after, each pod bound once. Without leader election here: with it,
an outage longer than renewDeadline makes the leader stop on purpose (tests/integration/test_ha)."""

from __future__ import annotations

import asyncio

from structlog.testing import capture_logs

from tests.integration.conftest import Cluster, eventually, running_daemon
from tests.realk8s.client import RealApi


async def test_the_daemon_rides_out_an_api_server_restart(real_api: RealApi) -> None:
    real_api.wipe()
    cluster = Cluster(real_api, real_api.plane.url, kubeconfig=real_api.plane.admin_kubeconfig)
    cluster.node("a", cpu="16")
    with capture_logs() as logs:
        async with running_daemon(cluster) as daemon:
            for i in range(3):
                cluster.pod(f"before-{i}", cpu="1")
            await eventually(lambda: sum(real_api.bindings.values()) == 3, timeout=30)
            real_api.close()
            await asyncio.to_thread(real_api.plane.restart_api_server)
            for i in range(3):
                cluster.pod(f"after-{i}", cpu="1")
            await eventually(lambda: sum(real_api.bindings.values()) == 6, timeout=60)
            assert daemon.healthy
    assert max(real_api.bindings.values()) == 1
    retries = [e for e in logs if e["event"] == "informer.retry" and e["informer"] == "pods"]
    assert retries, "the outage went unnoticed"
    assert all(e["log_level"] == "warning" for e in retries)
