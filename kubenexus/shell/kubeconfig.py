"""Which kubeconfig, which context, which namespace — as kubectl chooses them.

``--kubeconfig FILE`` (it must exist), else every file of ``$KUBECONFIG`` (merged: the first
file to define a context or ``current-context`` wins, missing files are skipped), else
``~/.kube/config``; with none, the caller goes in-cluster. Every problem is one
``KubeconfigError`` line naming the file."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import yaml

from kubenexus.errors import KubeNexusError

DEFAULT_PATH: Final = "~/.kube/config"
IN_CLUSTER_NAMESPACE: Final = Path("/var/run/secrets/kubernetes.io/serviceaccount/namespace")


class KubeconfigError(KubeNexusError):
    """The kubeconfig is missing, unreadable, or lacks the context asked for."""


@dataclass(frozen=True, slots=True)
class KubeconfigChoice:
    files: tuple[str, ...]
    context: str
    namespace: str  # the context's namespace ("default" when it names none)

    @property
    def joined(self) -> str:
        """The files as kubernetes-asyncio's merger takes them."""
        return os.pathsep.join(self.files)


def kubeconfig_files(explicit: str | None) -> tuple[str, ...]:
    """The files to read: the explicit one (which must exist), else $KUBECONFIG's existing
    files, else ~/.kube/config when it exists. Empty: none."""
    if explicit is not None:
        path = Path(explicit).expanduser()
        if not path.is_file():
            raise KubeconfigError(f"kubeconfig {explicit}: no such file")
        return (str(path),)
    listed = [p for p in os.environ.get("KUBECONFIG", "").split(os.pathsep) if p]
    if listed:
        return tuple(str(Path(p).expanduser()) for p in listed if Path(p).expanduser().is_file())
    default = Path(DEFAULT_PATH).expanduser()
    return (str(default),) if default.is_file() else ()


def _read(path: str) -> dict[str, Any]:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise KubeconfigError(f"kubeconfig {path}: {exc.strerror or exc}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        where = getattr(exc, "problem_mark", None)
        line = f" (line {where.line + 1})" if where is not None else ""
        problem = getattr(exc, "problem", None) or "cannot be parsed"
        raise KubeconfigError(f"kubeconfig {path}: not valid YAML{line}: {problem}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise KubeconfigError(f"kubeconfig {path}: expected a mapping (kind: Config)")
    return data


def choose(explicit: str | None, context: str | None) -> KubeconfigChoice | None:
    """The files, context and namespace kubectl would use; None when there is no file."""
    files = kubeconfig_files(explicit)
    if not files:
        return None
    current = ""
    contexts: dict[str, Any] = {}
    for path in files:
        data = _read(path)
        if not current and isinstance(data.get("current-context"), str):
            current = data["current-context"]
        for entry in data.get("contexts") or []:
            if isinstance(entry, dict) and isinstance(entry.get("name"), str):
                contexts.setdefault(entry["name"], entry.get("context") or {})
    name = context or current
    where = ", ".join(files)
    if not name:
        raise KubeconfigError(f"kubeconfig {where}: no current-context set; pass --context")
    if name not in contexts:
        raise KubeconfigError(f"kubeconfig {where}: context {name!r} not found")
    found = contexts[name]
    namespace = found.get("namespace") if isinstance(found, dict) else None
    return KubeconfigChoice(files, name, str(namespace or "default"))


def default_namespace(explicit: str | None, context: str | None) -> str:
    """The namespace a bare name is read in: the context's, in a pod its own, else default."""
    choice = choose(explicit, context)
    if choice is not None:
        return choice.namespace
    try:
        return IN_CLUSTER_NAMESPACE.read_text(encoding="utf-8").strip() or "default"
    except OSError:
        return "default"
