"""The scheduler configuration: a ``KubeSchedulerConfiguration`` file, as kube-scheduler reads.

``profiles[].plugins.<extension point>.enabled/disabled`` change the default plugin set (``*``
disables every default at that point); ``pluginConfig[].args`` set each plugin's own arguments.
Every error names its path in the file in one line. No file is needed: every setting has a default.
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Annotated, Any, Final, Literal

import yaml
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, model_validator
from pydantic.alias_generators import to_camel

from kubenexus.api import keys
from kubenexus.errors import ConfigError
from kubenexus.framework import (
    AnnotatingPlugin,
    FilterPlugin,
    PermitPlugin,
    Plugin,
    PostFilterPlugin,
    PreFilterPlugin,
    Profile,
    QueueSortPlugin,
    ReservePlugin,
    ScorePlugin,
    WeightedScore,
)
from kubenexus.plugins import DEFAULT_PLUGINS, REGISTRY
from kubenexus.scheduler import QueueSettings, Scheduler

API_VERSION: Final = "kubescheduler.config.k8s.io/v1"

# Extension points we run, and the hook a plugin needs to be enabled there.
EXTENSION_POINTS: Final[dict[str, type]] = {
    "queueSort": QueueSortPlugin,
    "preFilter": PreFilterPlugin,
    "filter": FilterPlugin,
    "score": ScorePlugin,
    "reserve": ReservePlugin,
    "permit": PermitPlugin,
    "postFilter": PostFilterPlugin,
}
# Points kube-scheduler has that no KubeNexus plugin extends yet: accepted, must stay empty.
UNUSED_POINTS: Final = ("preScore", "preBind", "bind", "postBind", "preEnqueue")


class _Model(BaseModel):
    # No .inf/.nan: YAML reads them as numbers, and no setting means them.
    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, extra="forbid", allow_inf_nan=False
    )


class PluginRef(_Model):
    name: str = Field(min_length=1)
    weight: int | None = Field(default=None, ge=1, le=100)


class PluginSet(_Model):
    enabled: list[PluginRef] = []
    disabled: list[PluginRef] = []


class Plugins(_Model):
    multi_point: PluginSet = PluginSet()
    queue_sort: PluginSet = PluginSet()
    pre_filter: PluginSet = PluginSet()
    filter: PluginSet = PluginSet()
    score: PluginSet = PluginSet()
    reserve: PluginSet = PluginSet()
    permit: PluginSet = PluginSet()
    post_filter: PluginSet = PluginSet()
    pre_score: PluginSet = PluginSet()
    pre_bind: PluginSet = PluginSet()
    bind: PluginSet = PluginSet()
    post_bind: PluginSet = PluginSet()
    pre_enqueue: PluginSet = PluginSet()


class PluginConfig(_Model):
    name: str = Field(min_length=1)
    args: dict[str, Any] = {}


class ProfileConfig(_Model):
    scheduler_name: str = Field(default=keys.SCHEDULER_NAME, min_length=1)
    plugins: Plugins = Plugins()
    plugin_config: list[PluginConfig] = []


_DURATION = re.compile(r"^(?:(\d+(?:\.\d+)?)(h|ms|m|s))+$")
_PART = re.compile(r"(\d+(?:\.\d+)?)(h|ms|m|s)")
_UNIT_SECONDS = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001}
# A Lease holds its duration as whole seconds in an int32.
MAX_DURATION_SECONDS: Final = 2**31 - 1


def parse_duration(value: object) -> float:
    """A Kubernetes duration (``15s``, ``1m30s``, ``500ms``) or a number of seconds."""
    if isinstance(value, bool):
        raise ValueError("expected a duration such as '15s', '1m30s' or '500ms'")
    if isinstance(value, int | float):
        seconds = float(value)
    elif isinstance(value, str) and _DURATION.match(value.strip()):
        seconds = sum(float(n) * _UNIT_SECONDS[u] for n, u in _PART.findall(value))
    else:
        raise ValueError("expected a duration such as '15s', '1m30s' or '500ms'")
    if not math.isfinite(seconds):
        raise ValueError("must be a finite number")
    if seconds <= 0:
        raise ValueError("must be positive")
    if seconds > MAX_DURATION_SECONDS:
        raise ValueError(f"must be at most {MAX_DURATION_SECONDS}s")
    return seconds


Duration = Annotated[float, BeforeValidator(parse_duration)]


class LeaderElectionConfig(_Model):
    """kube-scheduler's ``leaderElection`` block; only Lease locks exist in current Kubernetes."""

    leader_elect: bool = True
    lease_duration: Duration = 15.0
    renew_deadline: Duration = 10.0
    retry_period: Duration = 2.0
    resource_lock: Literal["leases"] = "leases"
    resource_name: str = Field(default="kubenexus-scheduler", min_length=1)
    resource_namespace: str = Field(default="", description="empty: the pod's namespace")

    @model_validator(mode="after")
    def _ordered(self) -> LeaderElectionConfig:
        if not self.retry_period < self.renew_deadline < self.lease_duration:
            raise ValueError("needs retryPeriod < renewDeadline < leaseDuration")
        return self


class ClientConnectionConfig(_Model):
    """kube-scheduler's ``clientConnection``: the daemon's credentials and API rate limit
    (``kubenexus run``'s --kubeconfig, --qps and --burst win over it)."""

    kubeconfig: str = ""
    qps: float | None = Field(default=None, ge=0)
    burst: int | None = Field(default=None, ge=1)
    # Accepted for compatibility: the daemon always speaks JSON.
    accept_content_types: str = ""
    content_type: str = ""


class SchedulerConfiguration(_Model):
    api_version: Literal["kubescheduler.config.k8s.io/v1"] = API_VERSION
    kind: Literal["KubeSchedulerConfiguration"] = "KubeSchedulerConfiguration"
    pod_initial_backoff_seconds: float = Field(default=1.0, gt=0)
    pod_max_backoff_seconds: float = Field(default=10.0, gt=0)
    # Longest a pod waits for a cluster change before it is retried anyway.
    pod_max_in_unschedulable_pods_seconds: float = Field(default=300.0, gt=0)
    profiles: list[ProfileConfig] = Field(default_factory=lambda: [ProfileConfig()], min_length=1)
    # kube-scheduler fields read by the daemon, not by the core.
    leader_election: LeaderElectionConfig = LeaderElectionConfig()
    client_connection: ClientConnectionConfig = ClientConnectionConfig()
    percentage_of_nodes_to_score: int | None = Field(default=None, ge=0, le=100)
    parallelism: int | None = Field(default=None, ge=1)

    def queue_settings(self) -> QueueSettings:
        return QueueSettings(
            initial_backoff_seconds=self.pod_initial_backoff_seconds,
            # parse_config refuses max < initial; a model built in code is clamped.
            max_backoff_seconds=max(self.pod_max_backoff_seconds, self.pod_initial_backoff_seconds),
            max_unschedulable_seconds=self.pod_max_in_unschedulable_pods_seconds,
        )


# --------------------------------------------------------------------------- loading


def _path(loc: Sequence[int | str]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def parse_config(data: object, source: str = "config") -> SchedulerConfiguration:
    """Validate a parsed configuration document; errors name ``source`` and the path in it."""
    if data is None:
        data = {}
    if not isinstance(data, Mapping):
        raise ConfigError(f"{source}: expected a KubeSchedulerConfiguration mapping")
    try:
        config = SchedulerConfiguration.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = _path(first["loc"]) or "(top level)"
        got = f" (got {first['input']!r})" if first["type"] != "missing" else ""
        raise ConfigError(f"{source}: {where}: {first['msg']}{got}") from None
    if config.pod_max_backoff_seconds < config.pod_initial_backoff_seconds:
        raise ConfigError(
            f"{source}: podMaxBackoffSeconds: must be at least podInitialBackoffSeconds "
            f"({config.pod_initial_backoff_seconds}) (got {config.pod_max_backoff_seconds})"
        )
    names = [p.scheduler_name for p in config.profiles]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise ConfigError(f"{source}: profiles: schedulerName {duplicates[0]!r} appears twice")
    sorts = []
    for i, profile in enumerate(config.profiles):
        built = _build_profile(profile, f"{source}: profiles[{i}]")  # plugin errors at load time
        sort = built.queue_sort
        sorts.append((sort.name, getattr(sort, "args", None)))
        if sorts[i] != sorts[0]:
            # One queue serves every profile, as in kube-scheduler.
            raise ConfigError(
                f"{source}: profiles[{i}].plugins.queueSort: every profile must use the same "
                f"queue-sort plugin and arguments as profiles[0]"
            )
    return config


def load_config_file(path: str | Path) -> SchedulerConfiguration:
    try:
        text = Path(path).read_text()
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        # PyYAML's context says what it expected, its problem what it found.
        said = [getattr(exc, "context", None), getattr(exc, "problem", None)]
        detail = "; ".join(str(part) for part in said if part)
        raise ConfigError(
            f"{path}: not valid YAML{where}" + (f": {detail}" if detail else "")
        ) from None
    return parse_config(data, str(path))


# --------------------------------------------------------------------------- building


def _plugin_args(profile: ProfileConfig, where: str) -> dict[str, object]:
    args: dict[str, object] = {}
    for i, entry in enumerate(profile.plugin_config):
        spec = REGISTRY.get(entry.name)
        if spec is None:
            raise ConfigError(f"{where}.pluginConfig[{i}].name: unknown plugin {entry.name!r}")
        if entry.name in args:
            raise ConfigError(f"{where}.pluginConfig[{i}].name: {entry.name!r} configured twice")
        try:
            args[entry.name] = spec.args_model.model_validate(entry.args)
        except ValidationError as exc:
            first = exc.errors()[0]
            inner = _path(first["loc"])
            where_in_args = f"{where}.pluginConfig[{i}].args" + (f".{inner}" if inner else "")
            got = f" (got {first['input']!r})" if first["type"] != "missing" and inner else ""
            raise ConfigError(f"{where_in_args}: {first['msg']}{got}") from None
    return args


def _apply(
    current: list[tuple[str, int]],
    plugin_set: PluginSet,
    where: str,
    implements: Callable[[str], bool],
) -> list[tuple[str, int]]:
    """kube-scheduler's merge: drop disabled (``*`` = all), then add or re-weight enabled."""
    disabled = {ref.name for ref in plugin_set.disabled}
    for j, ref in enumerate(plugin_set.disabled):
        if ref.name != "*" and ref.name not in REGISTRY:
            raise ConfigError(f"{where}.disabled[{j}].name: unknown plugin {ref.name!r}")
    result = [] if "*" in disabled else [(n, w) for n, w in current if n not in disabled]
    for j, ref in enumerate(plugin_set.enabled):
        spec = REGISTRY.get(ref.name)
        if spec is None:
            known = ", ".join(sorted(REGISTRY))
            raise ConfigError(
                f"{where}.enabled[{j}].name: unknown plugin {ref.name!r} (known: {known})"
            )
        if not implements(ref.name):
            raise ConfigError(f"{where}.enabled[{j}].name: {ref.name!r} does not extend this point")
        weight = ref.weight or spec.default_weight
        names = [n for n, _ in result]
        if ref.name in names:
            result[names.index(ref.name)] = (ref.name, weight)
        else:
            result.append((ref.name, weight))
    return result


def _build_profile(profile: ProfileConfig, where: str) -> Profile:
    args = _plugin_args(profile, where)
    instances: dict[str, Plugin] = {}

    def instance(name: str) -> Plugin:
        if name not in instances:
            spec = REGISTRY[name]
            instances[name] = spec.build(args.get(name) or spec.args_model())
        return instances[name]

    def implements(point: str) -> Callable[[str], bool]:
        return lambda name: isinstance(instance(name), EXTENSION_POINTS[point])

    plugins = profile.plugins
    for point in UNUSED_POINTS:
        plugin_set: PluginSet = getattr(plugins, to_snake(point))
        if plugin_set.enabled:
            name = plugin_set.enabled[0].name
            raise ConfigError(
                f"{where}.plugins.{point}.enabled[0].name: no KubeNexus plugin extends {point} "
                f"({name!r})"
            )

    chosen: dict[str, list[tuple[str, int]]] = {}
    for point in EXTENSION_POINTS:
        check = implements(point)
        defaults = [
            (n, REGISTRY[n].default_weight)
            for n in DEFAULT_PLUGINS
            if check(n) and point in (REGISTRY[n].default_points or {point})
        ]
        multi = PluginSet(
            enabled=[
                r for r in plugins.multi_point.enabled if r.name not in REGISTRY or check(r.name)
            ],
            disabled=plugins.multi_point.disabled,
        )
        merged = _apply(defaults, multi, f"{where}.plugins.multiPoint", check)
        chosen[point] = _apply(
            merged, getattr(plugins, to_snake(point)), f"{where}.plugins.{point}", check
        )

    sorts = chosen["queueSort"]
    if len(sorts) != 1:
        raise ConfigError(
            f"{where}.plugins.queueSort: exactly one queue-sort plugin must be enabled, "
            f"got {[n for n, _ in sorts] or 'none'}"
        )

    def pick(point: str, kind: type[Any]) -> list[Any]:
        return [instance(n) for n, _ in chosen[point] if isinstance(instance(n), kind)]

    return Profile(
        scheduler_name=profile.scheduler_name,
        queue_sort=instance(sorts[0][0]),  # type: ignore[arg-type]
        pre_filters=pick("preFilter", PreFilterPlugin),
        filters=pick("filter", FilterPlugin),
        scores=[WeightedScore(instance(n), w) for n, w in chosen["score"]],  # type: ignore[arg-type]
        reserves=pick("reserve", ReservePlugin),
        permits=pick("permit", PermitPlugin),
        post_filters=pick("postFilter", PostFilterPlugin),
        annotators=[p for p in instances.values() if isinstance(p, AnnotatingPlugin)],
    )


def to_snake(name: str) -> str:
    return "".join(f"_{c.lower()}" if c.isupper() else c for c in name)


def build_profiles(config: SchedulerConfiguration) -> dict[str, Profile]:
    return {
        p.scheduler_name: _build_profile(p, f"profiles[{i}]") for i, p in enumerate(config.profiles)
    }


def build_scheduler(
    config: SchedulerConfiguration | None = None, *, clock: Callable[[], float] = time.time
) -> Scheduler:
    """A scheduler with one profile per ``schedulerName`` in the configuration (or the defaults)."""
    config = config or SchedulerConfiguration()
    return Scheduler(build_profiles(config), queue_settings=config.queue_settings(), clock=clock)
