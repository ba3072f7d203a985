"""One pod as the API shows it now, through the daemon's parser (for explain)."""

from __future__ import annotations

from typing import Any

from kubenexus.api.objects import PodInfo, pod_from_dict
from kubenexus.errors import InvalidInputError, KubeNexusError
from kubenexus.shell.client import ApiError, KubeClient, pod_path


class PodNotFoundError(KubeNexusError):
    """The pod asked about does not exist, or cannot be read."""


async def read_pod(client: KubeClient, namespace: str, name: str) -> tuple[PodInfo, dict[str, Any]]:
    """The pod (parsed by the daemon's parser) and its body."""
    try:
        body = await client.request("GET", pod_path(namespace, name))
    except ApiError as exc:
        if exc.status == 404:
            raise PodNotFoundError(f"pod {namespace}/{name}: not found") from None
        raise
    try:
        return pod_from_dict(body), body
    except InvalidInputError as exc:
        raise PodNotFoundError(f"pod {namespace}/{name}: invalid: {exc}") from None
