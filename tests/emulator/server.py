"""A Kubernetes API server emulator for the integration tests, built on kmock.

kmock (pinned in pyproject) gives the HTTP server, request parsing and recording, resource
discovery and Kubernetes-style error rendering. Its bundled ``KubernetesEmulator`` lacks what a
scheduler needs (see ../shared/PITFALLS.md), so this subclass of ``kmock.KubernetesScaffold``
keeps its own object store with the API server's real behaviour:

- uid, resourceVersion (one counter for the server), creationTimestamp, generateName;
- list with label/field selectors and limit/continue; watch from a resourceVersion with
  ``watch=true`` or ``watch=True``, ``timeoutSeconds``, selector-aware ADDED/DELETED on
  transitions, and 410 Gone (an ERROR event) when the history was compacted;
- create/get/put/patch (merge, strategic-merge subset, JSON patch)/delete with finalizers;
- graceful deletion of pods as kube-apiserver v1.36 does it (measured): a pod on a node, not
  finished, is only marked (deletionTimestamp = now + its grace period, from
  ``gracePeriodSeconds`` or ``spec.terminationGracePeriodSeconds``, 30 by default) and stays
  until deleted again with a shorter grace period — 0 removes it (there is no kubelet here, nor
  on a bare control plane); a pod on no node, or Succeeded/Failed, goes at once;
- ``status.nominatedNodeName``: a valid node name, never newly set on a bound pod (422);
- the ``status`` subresource (status is written only there) and ``pods/binding`` with the
  checks and replies of kube-apiserver v1.36 (201 + Status; 400 for a name or namespace that does
  not match the URL; 500 for a target without a name; 404 when gone; 409 for a uid or
  resourceVersion precondition that fails, a terminating pod, a pod already bound and a pod with
  scheduling gates); the binding's annotations and labels are merged onto the pod (null as "");
- pod scheduling gates: a gated pod is created with the PodScheduled=False/SchedulingGated
  condition, gates can only be removed, and a pod cannot be created bound and gated;
- Kubernetes status codes and ``Status`` bodies (404, 409 AlreadyExists/Conflict, 410, 422, 500);
- fault injection: failing or slow requests, dropped watch streams, compacted history;
- a record of every request: who sent it (the bearer token stands for the user) and when it
  arrived (the event loop's clock, before any injected delay).

It is a test double: the product never imports it.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import copy
import datetime
import json
import re
import secrets
import uuid
from collections import Counter, deque
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp.web
import attrs
import jsonschema
import kmock
import yaml
from kmock._internal import parsing as kmock_parsing

from tests.emulator.patches import PatchError, json_patch, merge_patch
from tests.emulator.selectors import SelectorError, field_selector, label_selector

ResKey = tuple[str, str, str]  # (group, version, plural)
ObjKey = tuple[str, str]  # (namespace or "", name)

_NAME = re.compile(r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$")
_NODE_NAME = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_NAMESPACE_MISMATCH = (
    "the namespace of the provided object does not match the namespace sent on the request"
)
# What kube-apiserver writes on a pod created with scheduling gates.
_SCHEDULING_GATED = {
    "type": "PodScheduled",
    "status": "False",
    "lastProbeTime": None,
    "reason": "SchedulingGated",
    "message": "Scheduling is blocked due to non-empty scheduling gates",
}


@dataclass(frozen=True)
class Kind:
    kind: str
    namespaced: bool
    status_subresource: bool = False


KINDS: dict[ResKey, Kind] = {
    ("", "v1", "pods"): Kind("Pod", True, status_subresource=True),
    ("", "v1", "nodes"): Kind("Node", False, status_subresource=True),
    ("", "v1", "namespaces"): Kind("Namespace", False, status_subresource=True),
    ("", "v1", "events"): Kind("Event", True),
    ("", "v1", "services"): Kind("Service", True, status_subresource=True),
    ("", "v1", "replicationcontrollers"): Kind(
        "ReplicationController", True, status_subresource=True
    ),
    ("apps", "v1", "replicasets"): Kind("ReplicaSet", True, status_subresource=True),
    ("apps", "v1", "statefulsets"): Kind("StatefulSet", True, status_subresource=True),
    ("policy", "v1", "poddisruptionbudgets"): Kind(
        "PodDisruptionBudget", True, status_subresource=True
    ),
    ("events.k8s.io", "v1", "events"): Kind("Event", True),
    ("coordination.k8s.io", "v1", "leases"): Kind("Lease", True),
    ("apiextensions.k8s.io", "v1", "customresourcedefinitions"): Kind(
        "CustomResourceDefinition", False, status_subresource=True
    ),
    ("scheduling.kubenexus.io", "v1alpha1", "podgroups"): Kind(
        "PodGroup", True, status_subresource=True
    ),
    ("scheduling.kubenexus.io", "v1alpha1", "resourcereservations"): Kind(
        "ResourceReservation", True, status_subresource=True
    ),
    ("topology.node.k8s.io", "v1alpha2", "noderesourcetopologies"): Kind(
        "NodeResourceTopology", False
    ),
    ("resource.k8s.io", "v1", "resourceslices"): Kind("ResourceSlice", False),
}


def _load_crd_schemas() -> dict[str, tuple[str, dict[str, Any]]]:
    """Our CRDs' schemas (kind → (group, openAPIV3Schema)), from crds/ as installed."""
    schemas: dict[str, tuple[str, dict[str, Any]]] = {}
    for path in sorted((Path(__file__).resolve().parents[2] / "crds").glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if doc and doc.get("kind") == "CustomResourceDefinition":
                version = doc["spec"]["versions"][0]
                schemas[doc["spec"]["names"]["kind"]] = (
                    doc["spec"]["group"],
                    version["schema"]["openAPIV3Schema"],
                )
    return schemas


_CRD_SCHEMAS = _load_crd_schemas()


def _apply_defaults(schema: Mapping[str, Any], value: Any) -> None:
    """Structural-schema defaulting, as kube-apiserver does for custom resources."""
    if not isinstance(value, dict):
        return
    for prop, sub in (schema.get("properties") or {}).items():
        if prop not in value and "default" in sub:
            value[prop] = copy.deepcopy(sub["default"])
        if prop in value:
            _apply_defaults(sub, value[prop])


def _has_cel_rules(schema: Any) -> bool:
    if isinstance(schema, Mapping):
        return "x-kubernetes-validations" in schema or any(
            _has_cel_rules(v) for v in schema.values()
        )
    if isinstance(schema, list):
        return any(_has_cel_rules(v) for v in schema)
    return False


# Schema errors after which kube-apiserver does not evaluate a CRD's CEL rules (and says so):
# required, type, enum, maxLength, maxItems/maxProperties (apiextensions hasBlockingErr).
_BLOCKING = frozenset({"required", "type", "enum", "maxLength", "maxItems", "maxProperties"})
_CEL_SKIPPED = (
    "<nil>: Invalid value: null: some validation rules were not checked because the object "
    "was invalid; correct the existing errors to complete validation"
)


def _json_type(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    return "array" if isinstance(value, list) else "object"


def _schema_error(error: jsonschema.ValidationError) -> str:
    """One schema violation, worded as kube-apiserver words it (measured on v1.36)."""
    path = ".".join(str(part) for part in error.absolute_path)
    value, limit = error.instance, error.validator_value
    shown = json.dumps(value) if isinstance(value, str) else value
    if error.validator == "required":
        missing = error.message.split("'")[1]
        return f"{path}.{missing}: Required value"
    if error.validator == "minimum":
        return f"{path}: Invalid value: {shown}: {path} in body should be greater than or equal to {limit}"
    if error.validator == "maximum":
        return f"{path}: Invalid value: {shown}: {path} in body should be less than or equal to {limit}"
    if error.validator == "minItems":
        return f"{path}: Invalid value: {len(value)}: {path} in body should have at least {limit} items"
    if error.validator == "minProperties":
        return (
            f"{path}: Invalid value: {len(value)}: {path} in body should have at least {limit} "
            "properties"
        )
    if error.validator == "minLength":
        return (
            f"{path}: Invalid value: {shown}: {path} in body should be at least {limit} chars long"
        )
    if error.validator == "pattern":
        return f"{path}: Invalid value: {shown}: {path} in body should match '{limit}'"
    if error.validator == "enum":
        supported = ", ".join(json.dumps(v) for v in limit)
        return f"{path}: Unsupported value: {json.dumps(value)}: supported values: {supported}"
    if error.validator == "type":
        kind = json.dumps(_json_type(value))
        return f"{path}: Invalid value: {kind}: {path} in body must be of type {limit}: {kind}"
    return f"{path}: Invalid value: {value!r}: {error.message}"


def _check_custom_resource(
    kind: str, crd: tuple[str, dict[str, Any]], name: str, obj: dict[str, Any]
) -> None:
    """Default and validate a custom resource against its CRD's schema (the real server's 422,
    worded as it words the common cases). CEL rules (x-kubernetes-validations) are not
    evaluated: an object only they refuse is accepted here."""
    group, schema = crd
    _apply_defaults(schema, obj)
    errors = sorted(
        jsonschema.Draft7Validator(schema).iter_errors(obj), key=lambda e: list(e.absolute_path)
    )
    if not errors:
        return
    details = [_schema_error(error) for error in errors]
    if _has_cel_rules(schema) and any(e.validator in _BLOCKING for e in errors):
        details.append(_CEL_SKIPPED)
    text = details[0] if len(details) == 1 else f"[{', '.join(details)}]"
    raise ApiError(
        422,
        "Invalid",
        f'{kind}.{group} "{name}" is invalid: {text}',
        {"name": name, "group": group, "kind": kind},
    )


class ApiError(Exception):
    def __init__(
        self, code: int, reason: str, message: str, details: Mapping[str, Any] | None = None
    ) -> None:
        super().__init__(message)
        self.code, self.reason, self.message, self.details = (
            code,
            reason,
            message,
            dict(details or {}),
        )

    def body(self) -> dict[str, Any]:
        # kube-apiserver leaves out an empty reason and empty details (a validation error of a
        # Binding is a bare 500 with a message only).
        body: dict[str, Any] = {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
        }
        if self.reason:
            body["reason"] = self.reason
        if self.details:
            body["details"] = self.details
        body["code"] = self.code
        return body


@dataclass
class Fault:
    """Matching requests fail with ``status`` (or are delayed by ``delay`` seconds first)."""

    method: str | None = None
    path: re.Pattern[str] | None = None
    status: int | None = 500
    delay: float = 0.0
    times: int | None = 1  # None: every matching request
    hits: int = 0

    def matches(self, method: str, path: str) -> bool:
        if self.times is not None and self.hits >= self.times:
            return False
        if self.method is not None and self.method.upper() != method.upper():
            return False
        return self.path is None or self.path.search(path) is not None


@dataclass(frozen=True)
class Received:
    """One request as it arrived: ``user`` is its bearer token ("" without one), ``at`` the
    event loop's time on arrival (``time.monotonic()`` in the same process)."""

    method: str
    path: str
    query: dict[str, str]
    user: str
    at: float


@dataclass
class _Event:
    rv: int
    type: str
    obj: dict[str, Any]
    old: dict[str, Any] | None


@dataclass(eq=False)
class _Watcher:
    queue: asyncio.Queue[_Event | None] = field(default_factory=asyncio.Queue)


def _now() -> str:
    return datetime.datetime.now(tz=datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


_kmock_parse_path = kmock_parsing.parse_path


def _parse_path(path: str) -> kmock_parsing.ParsedPath:
    """kmock reads ``/api/v1/namespaces[/name[/status]]`` as the start of a namespaced path
    (the list fails, a get finds no plural): Namespaces themselves are read here."""
    parts = path.strip("/").split("/")
    if parts[:3] == ["api", "v1", "namespaces"] and (
        len(parts) <= 4 or (len(parts) == 5 and parts[4] in {"status", "finalize"})
    ):
        name = parts[3] if len(parts) > 3 else None
        sub = parts[4] if len(parts) > 4 else None
        return kmock_parsing.ParsedPath("", "v1", "namespaces", None, name, sub)
    return _kmock_parse_path(path)


kmock_parsing.parse_path = _parse_path


def _grace(query: Mapping[str, str], request: kmock.Request) -> int | None:
    """The grace period a DELETE asks for: ``gracePeriodSeconds`` in the query or in its
    DeleteOptions body (None: the object's own)."""
    value = query.get("gracePeriodSeconds")
    body = request.data
    if value is None and isinstance(body, dict):
        value = body.get("gracePeriodSeconds")
    if value is None:
        return None
    try:
        return int(value)
    except (TypeError, ValueError) as exc:
        raise ApiError(400, "BadRequest", f"invalid gracePeriodSeconds: {value!r}") from exc


@attrs.define(kw_only=True)
class KubeEmulator(kmock.KubernetesScaffold):
    """The API server double. ``history`` is how many events per resource a watch can resume from."""

    history: int = 100_000
    _store: dict[ResKey, dict[ObjKey, dict[str, Any]]] = attrs.field(factory=dict, init=False)
    _log: dict[ResKey, deque[_Event]] = attrs.field(factory=dict, init=False)
    _compacted: dict[ResKey, int] = attrs.field(factory=dict, init=False)
    _watchers: dict[ResKey, set[_Watcher]] = attrs.field(factory=dict, init=False)
    _rv: int = attrs.field(default=0, init=False)
    # Sorted object keys per resource and the resourceVersion they were sorted at (paged lists
    # of 50,000 pods must not sort everything for every page).
    _sorted: dict[ResKey, tuple[int, list[ObjKey]]] = attrs.field(factory=dict, init=False)
    _last_write: dict[ResKey, int] = attrs.field(factory=dict, init=False)
    faults: list[Fault] = attrs.field(factory=list, init=False)
    # Every request as (method, path, query) — for asserting what the daemon called.
    calls: list[tuple[str, str, dict[str, str]]] = attrs.field(factory=list, init=False)
    # The same requests with who sent them and when they arrived.
    received: list[Received] = attrs.field(factory=list, init=False)
    # Successful bindings per "namespace/name": a pod bound twice would show 2.
    bindings: Counter[str] = attrs.field(factory=Counter, init=False)

    def __attrs_post_init__(self) -> None:
        super().__attrs_post_init__()
        self.resources.load_bundled()
        for (group, version, plural), kind in KINDS.items():
            subresources = {"status"} if kind.status_subresource else set()
            if plural == "pods":
                subresources |= {"binding"}
            self.resources[f"{group}/{version}/{plural}" if group else f"v1/{plural}"] = (
                kmock.ResourceInfo(
                    kind=kind.kind,
                    namespaced=kind.namespaced,
                    singular=kind.kind.lower(),
                    verbs={"get", "list", "watch", "create", "update", "patch", "delete"},
                    subresources=subresources,
                )
            )

    # ------------------------------------------------------------------ test helpers

    def inject(
        self,
        *,
        method: str | None = None,
        path: str | None = None,
        status: int | None = 500,
        delay: float = 0.0,
        times: int | None = 1,
    ) -> Fault:
        """Make matching requests fail with ``status`` (None: only delay them)."""
        fault = Fault(method, re.compile(path) if path else None, status, delay, times)
        self.faults.append(fault)
        return fault

    def drop_watches(self, plural: str | None = None) -> int:
        """End every open watch stream (of one resource, or all) as a dropped connection would."""
        dropped = 0
        for key, watchers in self._watchers.items():
            if plural is None or key[2] == plural:
                for watcher in list(watchers):
                    watcher.queue.put_nowait(None)
                    dropped += 1
        return dropped

    def compact(self) -> None:
        """Forget the event history: a watch resuming from an older resourceVersion gets 410."""
        for key in list(self._log):
            self._log[key].clear()
            self._compacted[key] = self._rv

    def watch_count(self, plural: str | None = None) -> int:
        return sum(len(w) for k, w in self._watchers.items() if plural is None or k[2] == plural)

    def get_object(
        self, plural: str, name: str, namespace: str = "", group: str = "", version: str = "v1"
    ) -> dict[str, Any] | None:
        return self._store.get((group, version, plural), {}).get((namespace, name))

    def objects(self, plural: str, group: str = "", version: str = "v1") -> list[dict[str, Any]]:
        return list(self._store.get((group, version, plural), {}).values())

    def delete_object(
        self, plural: str, name: str, namespace: str = "", group: str = "", version: str = "v1"
    ) -> None:
        """Delete as a client would, with no grace period (a pod on a node goes at once, as
        the kubelet would let it; finalizers honoured); nothing when it is already gone."""
        key = (group, version, plural)
        kind = KINDS[key]
        with contextlib.suppress(ApiError):
            self._delete(key, kind, namespace if kind.namespaced else "", name, grace=0)

    def put_object(
        self, plural: str, obj: dict[str, Any], group: str = "", version: str = "v1"
    ) -> dict[str, Any]:
        """Store an object as-is (status included), as if a controller had written it."""
        key = (group, version, plural)
        kind = KINDS[key]
        meta = obj.setdefault("metadata", {})
        namespace = (meta.get("namespace") or "default") if kind.namespaced else ""
        if kind.namespaced:
            meta["namespace"] = namespace
        existing = self._store.get(key, {}).get((namespace, meta["name"]))
        self._stamp(obj, kind, existing)
        return self._write(key, (namespace, meta["name"]), obj, existing)

    # ------------------------------------------------------------------ dispatch

    async def _handle(self, request: kmock.Request) -> aiohttp.web.StreamResponse:
        raw = request._raw_request
        assert raw is not None
        self.calls.append((raw.method, raw.path, dict(raw.query)))
        scheme, _, token = raw.headers.get("Authorization", "").partition(" ")
        self.received.append(
            Received(
                raw.method,
                raw.path,
                dict(raw.query),
                token if scheme.lower() == "bearer" else "",
                asyncio.get_running_loop().time(),
            )
        )
        for fault in self.faults:
            if fault.matches(raw.method, raw.path_qs):
                fault.hits += 1
                if fault.delay:
                    await asyncio.sleep(fault.delay)
                if fault.status is not None:
                    error = ApiError(
                        fault.status,
                        "InternalError" if fault.status >= 500 else "Injected",
                        f"injected fault: {fault.status}",
                    )
                    return aiohttp.web.json_response(error.body(), status=fault.status)
                break
        resource = request.resource
        if resource is None or resource.plural is None:
            return await super()._handle(request)
        key: ResKey = (resource.group or "", resource.version or "", resource.plural)
        if key not in KINDS:
            return await super()._handle(request)
        try:
            return await self._serve(request, key, raw)
        except ApiError as error:
            return aiohttp.web.json_response(error.body(), status=error.code)
        except (PatchError, SelectorError) as error:
            status = 422 if isinstance(error, PatchError) else 400
            body = ApiError(status, "Invalid" if status == 422 else "BadRequest", str(error)).body()
            return aiohttp.web.json_response(body, status=status)

    async def _serve(
        self, request: kmock.Request, key: ResKey, raw: aiohttp.web.BaseRequest
    ) -> aiohttp.web.StreamResponse:
        kind = KINDS[key]
        method = raw.method.upper()
        query = dict(raw.query)
        namespace = request.namespace or ""
        name = request.name
        sub = request.subresource
        if method == "GET" and query.get("watch", "").lower() in {"true", "1"}:
            return await self._watch(key, kind, namespace, name, query, raw)
        if name is None:
            if method == "GET":
                return self._json(self._list(key, kind, namespace, query))
            if method == "POST":
                return self._json(self._create(key, kind, namespace, request.data), 201)
            raise ApiError(405, "MethodNotAllowed", f"{method} is not allowed on a collection")
        if sub == "binding" and key == ("", "v1", "pods") and method == "POST":
            return self._json(self._bind(namespace, name, request.data), 201)
        if sub not in {None, "status"} or (sub == "status" and not kind.status_subresource):
            raise ApiError(
                404, "NotFound", f"the server could not find the requested resource ({sub})"
            )
        if method == "GET":
            return self._json(self._get(key, kind, namespace, name))
        if method == "PUT":
            return self._json(
                self._replace(key, kind, namespace, name, request.data, status_only=sub == "status")
            )
        if method == "PATCH":
            content_type = raw.headers.get("Content-Type", "application/merge-patch+json")
            return self._json(
                self._patch(
                    key,
                    kind,
                    namespace,
                    name,
                    request.data,
                    content_type,
                    status_only=sub == "status",
                )
            )
        if method == "DELETE":
            return self._json(self._delete(key, kind, namespace, name, _grace(query, request)))
        raise ApiError(405, "MethodNotAllowed", f"{method} is not allowed here")

    @staticmethod
    def _json(body: Mapping[str, Any], status: int = 200) -> aiohttp.web.Response:
        return aiohttp.web.json_response(body, status=status)

    # ------------------------------------------------------------------ storage

    def _objects(self, key: ResKey) -> dict[ObjKey, dict[str, Any]]:
        return self._store.setdefault(key, {})

    def _not_found(self, kind: Kind, name: str) -> ApiError:
        return ApiError(
            404,
            "NotFound",
            f'{kind.kind.lower()}s "{name}" not found',
            {"name": name, "kind": kind.kind.lower() + "s"},
        )

    def _stamp(self, obj: dict[str, Any], kind: Kind, existing: dict[str, Any] | None) -> None:
        meta = obj.setdefault("metadata", {})
        if existing is not None:
            for keep in ("uid", "creationTimestamp"):
                meta[keep] = existing["metadata"][keep]
        else:
            meta.setdefault("uid", str(uuid.uuid4()))
            meta.setdefault("creationTimestamp", _now())
        obj.setdefault("kind", kind.kind)

    def _write(
        self,
        key: ResKey,
        okey: ObjKey,
        obj: dict[str, Any],
        old: dict[str, Any] | None,
        kind_of_event: str | None = None,
    ) -> dict[str, Any]:
        self._rv += 1
        self._last_write[key] = self._rv
        obj["metadata"]["resourceVersion"] = str(self._rv)
        objects = self._objects(key)
        event_type = kind_of_event or ("MODIFIED" if old is not None else "ADDED")
        if event_type == "DELETED":
            objects.pop(okey, None)
        else:
            objects[okey] = obj
        self._record(key, _Event(self._rv, event_type, obj, old))
        return obj

    def _record(self, key: ResKey, event: _Event) -> None:
        log = self._log.setdefault(key, deque())
        log.append(event)
        while len(log) > self.history:
            dropped = log.popleft()
            self._compacted[key] = dropped.rv
        for watcher in self._watchers.get(key, ()):
            watcher.queue.put_nowait(event)

    def _validate(self, kind: Kind, obj: Mapping[str, Any]) -> None:
        name = obj["metadata"].get("name", "")
        if not _NAME.match(name) or len(name) > 253:
            raise ApiError(
                422,
                "Invalid",
                f'{kind.kind} "{name}" is invalid: metadata.name: Invalid value: "{name}": '
                "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.'",
                {"name": name, "kind": kind.kind},
            )
        schema = _CRD_SCHEMAS.get(kind.kind)
        if schema is not None:
            _check_custom_resource(kind.kind, schema, name, obj)
        if kind.kind == "Pod":
            containers = (obj.get("spec") or {}).get("containers")
            if not isinstance(containers, list) or not containers:
                raise ApiError(
                    422,
                    "Invalid",
                    f'Pod "{name}" is invalid: spec.containers: Required value',
                    {"name": name, "kind": "Pod"},
                )

    @staticmethod
    def _validate_gates(pod: dict[str, Any], old: Mapping[str, Any] | None) -> None:
        """Scheduling gates as kube-apiserver checks them: set at creation only (and not on a
        pod created bound), afterwards only removed; an emptied list is dropped."""
        spec = pod.get("spec") or {}
        gates = spec.get("schedulingGates") or []
        if "schedulingGates" in spec and not gates:
            del spec["schedulingGates"]
        if not gates:
            return
        name = pod["metadata"].get("name", "")
        causes: list[dict[str, str]] = []
        if old is None:
            if spec.get("nodeName"):
                causes.append(
                    {
                        "reason": "FieldValueForbidden",
                        "message": "Forbidden: cannot be set until all schedulingGates have been cleared",
                        "field": "spec.nodeName",
                    }
                )
        else:
            known = {g.get("name") for g in (old.get("spec") or {}).get("schedulingGates") or []}
            causes.extend(
                {
                    "reason": "FieldValueForbidden",
                    "message": "Forbidden: only deletion is allowed, but found new scheduling "
                    f"gate '{gate.get('name')}'",
                    "field": f"spec.schedulingGates[{i}].name",
                }
                for i, gate in enumerate(gates)
                if gate.get("name") not in known
            )
        if causes:
            described = [f"{c['field']}: {c['message']}" for c in causes]
            listed = described[0] if len(described) == 1 else f"[{', '.join(described)}]"
            raise ApiError(
                422,
                "Invalid",
                f'Pod "{name}" is invalid: {listed}',
                {"name": name, "kind": "Pod", "causes": causes},
            )

    def _create(self, key: ResKey, kind: Kind, namespace: str, body: Any) -> dict[str, Any]:
        if not isinstance(body, dict):
            raise ApiError(400, "BadRequest", "the body of the request was not a JSON object")
        obj = copy.deepcopy(body)
        meta = obj.setdefault("metadata", {})
        if not meta.get("name") and meta.get("generateName"):
            meta["name"] = meta["generateName"] + secrets.token_hex(3)[:5]
        if kind.namespaced:
            namespace = namespace or meta.get("namespace") or "default"
            if meta.get("namespace", namespace) != namespace:
                raise ApiError(400, "BadRequest", _NAMESPACE_MISMATCH)
            meta["namespace"] = namespace
        else:
            namespace = ""
        if not meta.get("name"):
            raise ApiError(
                422,
                "Invalid",
                f"{kind.kind} is invalid: metadata.name: Required value",
                {"kind": kind.kind},
            )
        self._validate(kind, obj)
        okey = (namespace, meta["name"])
        if okey in self._objects(key):
            raise ApiError(
                409,
                "AlreadyExists",
                f'{kind.kind.lower()}s "{meta["name"]}" already exists',
                {"name": meta["name"], "kind": kind.kind.lower() + "s"},
            )
        for generated in ("uid", "resourceVersion", "creationTimestamp", "deletionTimestamp"):
            meta.pop(generated, None)
        if kind.status_subresource and kind.kind != "Node":
            obj.pop("status", None)  # status is written through the status subresource only
        if kind.kind == "Pod":
            obj.setdefault("status", {})["phase"] = "Pending"
            self._validate_gates(obj, None)
            if (obj.get("spec") or {}).get("schedulingGates"):
                obj["status"]["conditions"] = [dict(_SCHEDULING_GATED, lastTransitionTime=_now())]
        self._stamp(obj, kind, None)
        return self._write(key, okey, obj, None)

    def _get(self, key: ResKey, kind: Kind, namespace: str, name: str) -> dict[str, Any]:
        obj = self._objects(key).get((namespace if kind.namespaced else "", name))
        if obj is None:
            raise self._not_found(kind, name)
        return obj

    def _list(
        self, key: ResKey, kind: Kind, namespace: str, query: Mapping[str, str]
    ) -> dict[str, Any]:
        objects = self._objects(key)
        if namespace or query.get("labelSelector") or query.get("fieldSelector"):
            matches = self._matcher(query)
            keys = [
                okey
                for okey in self._sorted_keys(key)
                if (not namespace or okey[0] == namespace) and matches(objects[okey])
            ]
        else:
            keys = self._sorted_keys(key)
        start = 0
        if query.get("continue"):
            try:
                token = json.loads(base64.b64decode(query["continue"]))
                start, snapshot = int(token["start"]), int(token["rv"])
            except (ValueError, KeyError, TypeError) as exc:
                raise ApiError(400, "BadRequest", "invalid continue token") from exc
            if snapshot < self._compacted.get(key, 0):
                raise ApiError(410, "Expired", "The provided continue parameter is too old")
        limit = int(query.get("limit") or 0)
        page = [objects[k] for k in (keys[start : start + limit] if limit else keys[start:])]
        items = keys
        meta: dict[str, Any] = {"resourceVersion": str(self._rv)}
        if limit and start + limit < len(items):
            token = {"start": start + limit, "rv": self._rv}
            meta["continue"] = base64.b64encode(json.dumps(token).encode()).decode()
            meta["remainingItemCount"] = len(items) - start - limit
        return {"kind": f"{kind.kind}List", "apiVersion": "v1", "metadata": meta, "items": page}

    def _sorted_keys(self, key: ResKey) -> list[ObjKey]:
        written = self._last_write.get(key, 0)
        cached = self._sorted.get(key)
        if cached is None or cached[0] != written:
            cached = self._sorted[key] = (written, sorted(self._objects(key)))
        return cached[1]

    def _matcher(self, query: Mapping[str, str]) -> Any:
        labels = label_selector(query["labelSelector"]) if query.get("labelSelector") else None
        fields = field_selector(query["fieldSelector"]) if query.get("fieldSelector") else None
        return lambda obj: (labels is None or labels(obj)) and (fields is None or fields(obj))

    def _precondition(
        self, kind: Kind, name: str, existing: dict[str, Any], body: Mapping[str, Any]
    ) -> None:
        wanted = (body.get("metadata") or {}).get("resourceVersion")
        if wanted and wanted != existing["metadata"]["resourceVersion"]:
            raise ApiError(
                409,
                "Conflict",
                f'Operation cannot be fulfilled on {kind.kind.lower()}s "{name}": '
                "the object has been modified; please apply your changes to the latest version and try again",
                {"name": name, "kind": kind.kind.lower() + "s"},
            )

    def _apply(
        self,
        key: ResKey,
        kind: Kind,
        namespace: str,
        name: str,
        existing: dict[str, Any],
        new: dict[str, Any],
        *,
        status_only: bool,
    ) -> dict[str, Any]:
        if status_only:
            result = copy.deepcopy(existing)
            result["status"] = new.get("status", {})
            schema = _CRD_SCHEMAS.get(kind.kind)
            if schema is not None:  # the real server checks a status against the schema too
                _check_custom_resource(kind.kind, schema, name, result)
        else:
            result = new
            if kind.status_subresource and kind.kind != "Node":
                result["status"] = copy.deepcopy(existing.get("status", {}))
            result.setdefault("metadata", {})["name"] = name
            if kind.namespaced:
                result["metadata"]["namespace"] = namespace
            self._validate(kind, result)
            if kind.kind == "Pod":
                self._validate_gates(result, existing)
        if kind.kind == "Pod":
            self._validate_nomination(result, existing)
        self._stamp(result, kind, existing)
        for kept in ("deletionTimestamp", "deletionGracePeriodSeconds"):
            if kept in existing["metadata"]:
                result["metadata"][kept] = existing["metadata"][kept]
        okey = (namespace, name)
        meta = result["metadata"]
        if meta.get("deletionTimestamp") and not meta.get("finalizers"):
            return self._write(key, okey, result, existing, "DELETED")
        return self._write(key, okey, result, existing)

    def _replace(
        self, key: ResKey, kind: Kind, namespace: str, name: str, body: Any, *, status_only: bool
    ) -> dict[str, Any]:
        if not isinstance(body, dict):
            raise ApiError(400, "BadRequest", "the body of the request was not a JSON object")
        existing = self._get(key, kind, namespace, name)
        self._precondition(kind, name, existing, body)
        return self._apply(
            key,
            kind,
            namespace if kind.namespaced else "",
            name,
            existing,
            copy.deepcopy(body),
            status_only=status_only,
        )

    def _patch(
        self,
        key: ResKey,
        kind: Kind,
        namespace: str,
        name: str,
        body: Any,
        content_type: str,
        *,
        status_only: bool,
    ) -> dict[str, Any]:
        existing = self._get(key, kind, namespace, name)
        content_type = content_type.split(";", maxsplit=1)[0].strip()
        if content_type == "application/json-patch+json":
            new = json_patch(existing, body)
        elif content_type in {
            "application/merge-patch+json",
            "application/strategic-merge-patch+json",
        }:
            if not isinstance(body, dict):
                raise ApiError(400, "BadRequest", "a merge patch must be a JSON object")
            self._precondition(kind, name, existing, body)
            new = merge_patch(
                existing, body, strategic=content_type.startswith("application/strategic")
            )
        else:
            raise ApiError(
                415,
                "UnsupportedMediaType",
                f"the body of the request was in an unknown format: {content_type}",
            )
        return self._apply(
            key,
            kind,
            namespace if kind.namespaced else "",
            name,
            existing,
            new,
            status_only=status_only,
        )

    def _delete(
        self, key: ResKey, kind: Kind, namespace: str, name: str, grace: int | None = None
    ) -> dict[str, Any]:
        existing = self._get(key, kind, namespace, name)
        okey = (namespace if kind.namespaced else "", name)
        if kind.kind == "Pod":
            return self._delete_pod(key, okey, existing, grace)
        if existing["metadata"].get("finalizers"):
            if existing["metadata"].get("deletionTimestamp"):
                return existing
            marked = copy.deepcopy(existing)
            marked["metadata"]["deletionTimestamp"] = _now()
            return self._write(key, okey, marked, existing)
        gone = copy.deepcopy(existing)
        return self._write(key, okey, gone, existing, "DELETED")

    def _delete_pod(
        self, key: ResKey, okey: ObjKey, existing: dict[str, Any], grace: int | None
    ) -> dict[str, Any]:
        """kube-apiserver's graceful deletion of a pod (v1.36, measured): the grace period asked
        for, else the pod's own (30 s by default); 0 for a pod on no node or finished. With a
        grace period the pod is marked (deletionTimestamp in the future) and stays; a later
        deletion may only shorten it. The reply is the pod as marked or as removed."""
        spec = existing.get("spec") or {}
        meta = existing["metadata"]
        if grace is None:
            grace = int(spec.get("terminationGracePeriodSeconds", 30))
        phase = (existing.get("status") or {}).get("phase")
        if not spec.get("nodeName") or phase in {"Succeeded", "Failed"}:
            grace = 0
        grace = max(grace, 0)
        current = meta.get("deletionGracePeriodSeconds")
        if meta.get("deletionTimestamp") and current is not None and grace >= current:
            return existing  # already terminating at least as soon
        marked = copy.deepcopy(existing)
        stamp = datetime.datetime.now(tz=datetime.UTC) + datetime.timedelta(seconds=grace)
        marked["metadata"]["deletionTimestamp"] = stamp.strftime("%Y-%m-%dT%H:%M:%SZ")
        marked["metadata"]["deletionGracePeriodSeconds"] = grace
        if grace == 0 and not meta.get("finalizers"):
            return self._write(key, okey, marked, existing, "DELETED")
        return self._write(key, okey, marked, existing)

    @staticmethod
    def _validate_nomination(pod: dict[str, Any], old: Mapping[str, Any]) -> None:
        nominated = (pod.get("status") or {}).get("nominatedNodeName")
        if not nominated or nominated == (old.get("status") or {}).get("nominatedNodeName"):
            return
        name = pod["metadata"].get("name", "")
        if not isinstance(nominated, str) or not _NODE_NAME.match(nominated):
            message = (
                f'status.nominatedNodeName: Invalid value: "{nominated}": a lowercase RFC 1123 '
                "subdomain must consist of lower case alphanumeric characters, '-' or '.', and "
                "must start and end with an alphanumeric character (e.g. 'example.com', regex "
                "used for validation is "
                "'[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"
            )
        elif (pod.get("spec") or {}).get("nodeName"):
            message = (
                "status.nominatedNodeName: Forbidden: may not be set on pods that are already "
                "bound to a node"
            )
        else:
            return
        raise ApiError(
            422, "Invalid", f'Pod "{name}" is invalid: {message}', {"name": name, "kind": "Pod"}
        )

    def _bind(self, namespace: str, name: str, body: Any) -> dict[str, Any]:
        """POST pods/NAME/binding, checked in kube-apiserver's order (v1.36, measured): the
        namespace and name against the URL (400), the target (500), the pod (404), then in one
        guarded update the uid and resourceVersion preconditions, a deletionTimestamp, a node
        already assigned and scheduling gates (409). The node itself is not checked."""
        key: ResKey = ("", "v1", "pods")
        kind = KINDS[key]
        if not isinstance(body, dict):
            raise ApiError(
                400,
                "BadRequest",
                "the object provided is unrecognized (must be of type Binding)",
            )
        meta = body.get("metadata") or {}
        if meta.get("namespace") and meta["namespace"] != namespace:
            raise ApiError(400, "BadRequest", _NAMESPACE_MISMATCH)
        if meta.get("name", "") != name:
            raise ApiError(400, "BadRequest", "name in URL does not match name in Binding object")
        target = body.get("target") or {}
        invalid = []
        if target.get("kind") not in {None, "", "Node"}:
            invalid.append(
                f'target.kind: Unsupported value: "{target["kind"]}": '
                'supported values: "Node", "<empty>"'
            )
        if not target.get("name"):
            invalid.append("target.name: Required value")
        if invalid:  # a bare 500 without reason: what kube-apiserver answers
            raise ApiError(500, "", invalid[0] if len(invalid) == 1 else f"[{', '.join(invalid)}]")
        pod = self._get(key, kind, namespace, name)
        pod_meta = pod["metadata"]
        for field_name, wanted, actual in (
            ("UID", meta.get("uid"), pod_meta["uid"]),
            ("ResourceVersion", meta.get("resourceVersion"), pod_meta["resourceVersion"]),
        ):
            if wanted and wanted != actual:
                raise ApiError(
                    409,
                    "Conflict",
                    f'Operation cannot be fulfilled on pods "{name}": StorageError: invalid '
                    f"object, Code: 4, Key: /registry/pods/{namespace}/{name}, ResourceVersion: 0, "
                    f"AdditionalErrorMsg: Precondition failed: {field_name} in precondition: "
                    f"{wanted}, {field_name} in object meta: {actual}",
                    {"name": name, "kind": "pods"},
                )
        spec = pod.get("spec") or {}
        refusal = None
        if pod_meta.get("deletionTimestamp"):
            refusal = f"pod {name} is being deleted, cannot be assigned to a host"
        elif spec.get("nodeName"):
            refusal = f'pod {name} is already assigned to node "{spec["nodeName"]}"'
        elif spec.get("schedulingGates"):
            refusal = f"pod {name} has non-empty .spec.schedulingGates"
        if refusal is not None:
            raise ApiError(
                409,
                "Conflict",
                f'Operation cannot be fulfilled on pods/binding "{name}": {refusal}',
                {"name": name, "kind": "pods/binding"},
            )
        bound = copy.deepcopy(pod)
        bound.setdefault("spec", {})["nodeName"] = target["name"]
        for copied in ("annotations", "labels"):
            if meta.get(copied):
                # Merged over the pod's own; a null value becomes "" (v1.36, measured): a
                # Binding sets keys, it never removes one.
                written = {k: "" if v is None else v for k, v in meta[copied].items()}
                bound["metadata"][copied] = {**bound["metadata"].get(copied, {}), **written}
        conditions = [
            c
            for c in bound.setdefault("status", {}).get("conditions", [])
            if c.get("type") != "PodScheduled"
        ]
        conditions.append(
            {
                "type": "PodScheduled",
                "status": "True",
                "lastProbeTime": None,
                "lastTransitionTime": _now(),
            }
        )
        bound["status"]["conditions"] = conditions
        self._write(key, (namespace, name), bound, pod)
        self.bindings[f"{namespace}/{name}"] += 1
        return {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Success",
            "code": 201,
        }

    # ------------------------------------------------------------------ watch

    def _visible(self, event: _Event, namespace: str, name: str | None, matches: Any) -> str | None:
        """The event type a selector-filtered watch sees (ADDED/DELETED on transitions), or None."""
        meta = event.obj.get("metadata", {})
        if namespace and meta.get("namespace") != namespace:
            return None
        if name is not None and meta.get("name") != name:
            return None
        now = matches(event.obj) and event.type != "DELETED"
        before = event.old is not None and matches(event.old)
        if event.type == "DELETED":
            return "DELETED" if before else None
        if now and before:
            return "MODIFIED"
        if now:
            return "ADDED"
        if before:
            return "DELETED"
        return None

    async def _watch(
        self,
        key: ResKey,
        kind: Kind,
        namespace: str,
        name: str | None,
        query: Mapping[str, str],
        raw: aiohttp.web.BaseRequest,
    ) -> aiohttp.web.StreamResponse:
        matches = self._matcher(query)
        timeout = float(query["timeoutSeconds"]) if query.get("timeoutSeconds") else None
        response = aiohttp.web.StreamResponse(
            status=200, headers={"Content-Type": "application/json"}
        )
        await response.prepare(raw)
        watcher = _Watcher()
        self._watchers.setdefault(key, set()).add(watcher)
        try:
            since = query.get("resourceVersion", "")
            if since and since != "0":
                start = int(since)
                if start < self._compacted.get(key, 0):
                    gone = ApiError(
                        410,
                        "Expired",
                        f"too old resource version: {start} ({self._compacted[key]})",
                    )
                    await response.write(
                        json.dumps({"type": "ERROR", "object": gone.body()}).encode() + b"\n"
                    )
                    return response
                backlog = [e for e in self._log.get(key, ()) if e.rv > start]
            else:
                start = self._rv
                current = [o for (ns, n), o in sorted(self._objects(key).items())]
                backlog = [
                    _Event(int(o["metadata"]["resourceVersion"]), "ADDED", o, None) for o in current
                ]
                backlog.sort(key=lambda e: e.rv)
            last = start
            for event in backlog:
                last = max(last, event.rv)
                await self._send(response, event, namespace, name, matches)
            deadline = asyncio.get_running_loop().time() + timeout if timeout else None
            while True:
                remaining = (
                    None if deadline is None else deadline - asyncio.get_running_loop().time()
                )
                if remaining is not None and remaining <= 0:
                    break
                try:
                    event = await asyncio.wait_for(watcher.queue.get(), remaining)
                except TimeoutError:
                    break
                if event is None:  # dropped by a test
                    if raw.transport is not None:
                        raw.transport.close()
                    return response
                if event.rv <= last:
                    continue
                last = event.rv
                await self._send(response, event, namespace, name, matches)
        except ConnectionResetError:
            pass  # the client went away
        # A cancellation (the server shutting down) is not swallowed: aiohttp then closes the
        # connection itself, where a handler that returned normally would leave it open.
        finally:
            self._watchers[key].discard(watcher)
        with contextlib.suppress(ConnectionResetError):
            await response.write_eof()
        return response

    async def _send(
        self,
        response: aiohttp.web.StreamResponse,
        event: _Event,
        namespace: str,
        name: str | None,
        matches: Any,
    ) -> None:
        visible = self._visible(event, namespace, name, matches)
        if visible is None:
            return
        await response.write(json.dumps({"type": visible, "object": event.obj}).encode() + b"\n")


@contextlib.asynccontextmanager
async def running_emulator(**options: Any) -> AsyncIterator[tuple[KubeEmulator, str]]:
    """The emulator serving on 127.0.0.1 (a free port); yields it and its base URL."""
    async with (
        KubeEmulator(**options) as emulator,
        kmock.Server(emulator, host="127.0.0.1") as server,
    ):
        yield emulator, str(server.url).rstrip("/")
