"""The tests' view of a real API server, shaped like the emulator's test helpers (``put_object``,
``get_object``, ``objects``, ``bindings``), so one test body runs against either.

Synchronous (http.client, one kept-alive connection): tests call it between awaits, as they call the in-process emulator; each
call is a few milliseconds on loopback.
"""

from __future__ import annotations

import http.client
import json
import time
import urllib.parse
from collections import Counter
from pathlib import Path
from typing import Any

import yaml

from tests.emulator.server import KINDS
from tests.realk8s.controlplane import ControlPlane

ROOT = Path(__file__).resolve().parents[2]
# Namespaces the control plane makes itself: never wiped.
SYSTEM_NAMESPACES = frozenset({"default", "kube-system", "kube-public", "kube-node-lease"})
# Wiped between test modules, in this order (namespaced kinds in every namespace).
WIPED: tuple[tuple[str, str, str], ...] = (
    ("", "v1", "pods"),
    ("", "v1", "events"),
    ("policy", "v1", "poddisruptionbudgets"),
    ("coordination.k8s.io", "v1", "leases"),
    ("scheduling.kubenexus.io", "v1alpha1", "podgroups"),
    ("scheduling.kubenexus.io", "v1alpha1", "resourcereservations"),
    ("topology.node.k8s.io", "v1alpha2", "noderesourcetopologies"),
    ("", "v1", "nodes"),
)


class RealApiError(Exception):
    def __init__(self, status: int, body: dict[str, Any]) -> None:
        super().__init__(f"{status}: {body.get('message', body)}")
        self.status, self.body = status, body


def _base(group: str, version: str) -> str:
    return f"/apis/{group}/{version}" if group else f"/api/{version}"


class RealApi:
    def __init__(self, plane: ControlPlane) -> None:
        self.plane = plane
        self._context = plane.ssl_context()
        self._namespaces: set[str] = set()
        self._conn: http.client.HTTPSConnection | None = None

    # ------------------------------------------------------------------ HTTP

    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        query: dict[str, str] | None = None,
        content_type: str = "application/json",
    ) -> dict[str, Any]:
        target = path + ("?" + urllib.parse.urlencode(query) if query else "")
        data = None if body is None else json.dumps(body).encode()
        headers = {"Content-Type": content_type, "Accept": "application/json"}
        for attempt in range(2):  # once more on a kept-alive connection the server closed
            connection = self._connection()
            try:
                connection.request(method, target, body=data, headers=headers)
                reply = connection.getresponse()
                text = reply.read()
                break
            except (http.client.HTTPException, OSError):
                connection.close()
                self._conn = None
                if attempt:
                    raise
        if not 200 <= reply.status < 300:
            try:
                decoded = json.loads(text)
            except ValueError:
                decoded = {"message": text.decode(errors="replace")}
            raise RealApiError(reply.status, decoded)
        return json.loads(text) if text else {}

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def _connection(self) -> http.client.HTTPSConnection:
        """One kept-alive TLS connection (a handshake per request made bulk set-ups slow)."""
        if self._conn is None:
            self._conn = http.client.HTTPSConnection(
                "127.0.0.1", self.plane.api_port, context=self._context, timeout=30
            )
        return self._conn

    def _path(self, plural: str, group: str, version: str, namespace: str, name: str = "") -> str:
        kind = KINDS[(group, version, plural)]
        path = _base(group, version)
        if kind.namespaced and namespace:
            path += f"/namespaces/{namespace}"
        path += f"/{plural}"
        if name:
            path += f"/{name}"
        return path

    # ------------------------------------------------------------------ the emulator's helpers

    def get_object(
        self, plural: str, name: str, namespace: str = "", group: str = "", version: str = "v1"
    ) -> dict[str, Any] | None:
        try:
            return self.request("GET", self._path(plural, group, version, namespace, name))
        except RealApiError as exc:
            if exc.status == 404:
                return None
            raise

    def objects(self, plural: str, group: str = "", version: str = "v1") -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = self.request("GET", self._path(plural, group, version, ""))[
            "items"
        ]
        return items

    def put_object(
        self, plural: str, obj: dict[str, Any], group: str = "", version: str = "v1"
    ) -> dict[str, Any]:
        """Create or replace the object, status included (written through ``/status``, as a
        controller would). A ``deletionTimestamp`` in the body is reached the real way: the
        object (which must then carry a finalizer) is deleted."""
        kind = KINDS[(group, version, plural)]
        meta = obj.setdefault("metadata", {})
        namespace = ""
        if kind.namespaced:
            namespace = meta.setdefault("namespace", "default")
            self.ensure_namespace(namespace)
        obj.setdefault("apiVersion", f"{group}/{version}" if group else version)
        obj.setdefault("kind", kind.kind)
        deleting = meta.get("deletionTimestamp")
        body = json.loads(json.dumps(obj))
        for generated in ("deletionTimestamp", "creationTimestamp", "uid", "resourceVersion"):
            body["metadata"].pop(generated, None)
        status = body.pop("status", None)
        existing = self.get_object(plural, meta["name"], namespace, group, version)
        if existing is None:
            stored = self.request("POST", self._path(plural, group, version, namespace), body)
        else:
            if existing["metadata"].get("deletionTimestamp"):
                deleting = deleting or existing["metadata"]["deletionTimestamp"]
            body["metadata"]["resourceVersion"] = existing["metadata"]["resourceVersion"]
            body["metadata"]["uid"] = existing["metadata"]["uid"]
            path = self._path(plural, group, version, namespace, meta["name"])
            if plural == "pods" and existing["spec"].get("nodeName"):
                # A body read before the pod was bound: a pod is never unbound.
                body.setdefault("spec", {})["nodeName"] = existing["spec"]["nodeName"]
            stored = self.request("PUT", path, body)
        current = stored.get("status") or {}
        if (
            status
            and kind.status_subresource
            and any(current.get(k) != v for k, v in status.items())
        ):
            path = self._path(plural, group, version, namespace, meta["name"])
            for attempt in range(5):  # a controller (the daemon) may write it meanwhile
                stored["status"] = {**(stored.get("status") or {}), **status}
                try:
                    stored = self.request("PUT", f"{path}/status", stored)
                    break
                except RealApiError as exc:
                    if exc.status != 409 or attempt == 4:
                        raise
                    stored = self.request("GET", path)
        if deleting and not stored["metadata"].get("deletionTimestamp"):
            path = self._path(plural, group, version, namespace, meta["name"])
            self.request("DELETE", path)
            stored = self.get_object(plural, meta["name"], namespace, group, version) or stored
        obj["metadata"].update(
            uid=stored["metadata"]["uid"], resourceVersion=stored["metadata"]["resourceVersion"]
        )
        return stored

    def delete_object(
        self, plural: str, name: str, namespace: str = "", group: str = "", version: str = "v1"
    ) -> None:
        path = self._path(plural, group, version, namespace, name)
        try:
            self.request("DELETE", path, query={"gracePeriodSeconds": "0"})
        except RealApiError as exc:
            if exc.status != 404:
                raise

    @property
    def bindings(self) -> Counter[str]:
        """Pods bound by a Binding (PodScheduled=True, which only a binding sets here: there is
        no kubelet), one each: kube-apiserver refuses a second binding."""
        bound: Counter[str] = Counter()
        for pod in self.objects("pods"):
            conditions = (pod.get("status") or {}).get("conditions") or []
            if pod["spec"].get("nodeName") and any(
                c.get("type") == "PodScheduled" and c.get("status") == "True" for c in conditions
            ):
                bound[f"{pod['metadata']['namespace']}/{pod['metadata']['name']}"] += 1
        return bound

    # ------------------------------------------------------------------ set-up and wiping

    def ensure_namespace(self, namespace: str) -> None:
        """The namespace and its default ServiceAccount (the controller-manager's job; pods
        are refused by admission without it)."""
        if namespace in self._namespaces:
            return
        for path, body in (
            ("/api/v1/namespaces", {"metadata": {"name": namespace}}),
            (f"/api/v1/namespaces/{namespace}/serviceaccounts", {"metadata": {"name": "default"}}),
        ):
            try:
                self.request("POST", path, body)
            except RealApiError as exc:
                if exc.status != 409:
                    raise
        self._namespaces.add(namespace)

    def install(self, documents: list[dict[str, Any]]) -> None:
        """Create (or replace) objects from manifests, CRDs first, waiting until the CRDs are
        served."""
        for doc in documents:
            if doc["kind"] != "CustomResourceDefinition":
                continue
            self.put_object("customresourcedefinitions", doc, "apiextensions.k8s.io", "v1")
        for doc in documents:
            if doc["kind"] == "CustomResourceDefinition":
                self._wait_served(doc)

    def _wait_served(self, crd: dict[str, Any]) -> None:
        group = crd["spec"]["group"]
        version = crd["spec"]["versions"][0]["name"]
        plural = crd["spec"]["names"]["plural"]
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                self.request("GET", f"/apis/{group}/{version}/{plural}")
                return
            except RealApiError:
                time.sleep(0.1)
        raise RuntimeError(f"CRD {plural}.{group} not served after 30s")

    def install_crds(self) -> None:
        documents = []
        for path in [*sorted((ROOT / "crds").glob("*.yaml")), Path(__file__).parent / "nrt.yaml"]:
            documents += [d for d in yaml.safe_load_all(path.read_text()) if d]
        self.install(documents)

    def wipe(self) -> None:
        """Remove what tests made (pods, Events, Leases, CRs, nodes), keep namespaces and CRDs."""
        for pod in self.objects("pods"):
            meta = pod["metadata"]
            if meta.get("finalizers"):
                path = self._path("pods", "", "v1", meta["namespace"], meta["name"])
                self.request(
                    "PATCH",
                    path,
                    {"metadata": {"finalizers": None}},
                    content_type="application/merge-patch+json",
                )
        for group, version, plural in WIPED:
            kind = KINDS[(group, version, plural)]
            namespaces = (
                [n["metadata"]["name"] for n in self.objects("namespaces")]
                if kind.namespaced
                else [""]
            )
            for namespace in namespaces:
                path = self._path(plural, group, version, namespace)
                try:
                    self.request("DELETE", path, query={"gracePeriodSeconds": "0"})
                except RealApiError as exc:
                    if exc.status not in {404, 405}:
                        raise
        deadline = time.monotonic() + 30
        while self.objects("pods") or self.objects("nodes"):
            if time.monotonic() > deadline:
                raise RuntimeError("pods or nodes still there 30s after wiping")
            time.sleep(0.05)
