"""One pod as the API shows it now, through the daemon's parser (for explain)."""

from __future__ import annotations

from typing import Any

from kubenexus.api.objects import PodInfo, pod_from_dict
from kubenexus.errors import InvalidInputError, KubeNexusError
from kubenexus.shell.client import ApiError, KubeClient, pod_path


class PodNotFoundError(KubeNexusError):
    """The pod asked about does not exist, or cannot be read."""


async def read_pod(client: KubeClient, namespace: str, name: str) -> tuple[PodInfo, dict[str, Any]]:
    """The pod (parsed by the daemon's parser) and its body. Read by a list of one (a field
    selector on its name): the daemon's RBAC lists pods, it does not get them."""
    query = {"fieldSelector": f"metadata.name={name}"}
    try:
        found = await client.request("GET", pod_path(namespace), query=query)
    except ApiError as exc:
        if exc.status == 404:  # no such namespace
            raise PodNotFoundError(f"pod {namespace}/{name}: not found") from None
        raise
    items = [i for i in found.get("items") or [] if (i.get("metadata") or {}).get("name") == name]
    if not items:
        raise PodNotFoundError(f"pod {namespace}/{name}: not found")
    body: dict[str, Any] = items[0]
    try:
        return pod_from_dict(body), body
    except InvalidInputError as exc:
        raise PodNotFoundError(f"pod {namespace}/{name}: invalid: {exc}") from None
