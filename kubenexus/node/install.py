"""``kubenexus node install-hook``: put the built cpuset hook on the node and register it, from
the installer DaemonSet (the host's directories mounted under ``--host-root``).

- the program directory → ``/opt/kubenexus/cpuset-hook/`` (replaced whole, by renames, so a
  container starting meanwhile runs the old or the new one, never half of one);
- CRI-O: ``/etc/containers/oci/hooks.d/kubenexus-cpuset.json`` (CRI-O reads hooks.d at run
  time), run at ``createRuntime`` only for containers with a ``cpu-set`` annotation;
- containerd (no hooks directory): ``/etc/kubenexus/containerd-hooks.json``, the ``hooks`` to
  merge into the base runtime spec, and ``/etc/kubenexus/containerd-config.toml``, the config
  lines (``base_runtime_spec``, ``pod_annotations``). containerd's config is not edited here:
  merging them and restarting containerd is the administrator's step (docs/node-setup.md).

Each file is written only when its content differs (the DaemonSet may run it again any time).
"""

from __future__ import annotations

import filecmp
import json
import os
import shutil
from pathlib import Path
from typing import Final

from kubenexus.node.build import NAME
from kubenexus.node.hook import CPU_SET, NUMA_ZONES

HOOK_DIR: Final = "/opt/kubenexus/cpuset-hook"
HOOK_PATH: Final = f"{HOOK_DIR}/{NAME}"
CRIO_HOOK: Final = "/etc/containers/oci/hooks.d/kubenexus-cpuset.json"
CONTAINERD_HOOKS: Final = "/etc/kubenexus/containerd-hooks.json"
CONTAINERD_CONFIG: Final = "/etc/kubenexus/containerd-config.toml"
# The runtime kills a hook that runs longer (seconds); ours takes tens of milliseconds.
HOOK_TIMEOUT: Final = 5


def _hook_entry(args: list[str]) -> dict[str, object]:
    return {"path": HOOK_PATH, "args": [NAME, *args], "timeout": HOOK_TIMEOUT}


def crio_hook(args: list[str]) -> str:
    """The CRI-O hooks.d file (OCI hooks configuration, version 1.0.0)."""
    config = {
        "version": "1.0.0",
        "hook": _hook_entry(args),
        "when": {"annotations": {f"^{CPU_SET}$": ".+"}},
        "stages": ["createRuntime"],
    }
    return json.dumps(config, indent=2) + "\n"


def containerd_hooks(args: list[str]) -> str:
    """The ``hooks`` member to merge into containerd's base runtime spec."""
    return json.dumps({"hooks": {"createRuntime": [_hook_entry(args)]}}, indent=2) + "\n"


def containerd_config(base_spec: str = "/etc/containerd/cri-base.json") -> str:
    """The containerd config lines: version 2 (containerd 1.x) and 3 (containerd 2.x)."""
    runtime = "runtimes.runc"
    return (
        "# containerd 1.x (config version 2):\n"
        f'[plugins."io.containerd.grpc.v1.cri".containerd.{runtime}]\n'
        f'  base_runtime_spec = "{base_spec}"\n'
        f'  pod_annotations = ["{CPU_SET}", "{NUMA_ZONES}"]\n'
        "\n"
        "# containerd 2.x (config version 3):\n"
        f"# [plugins.'io.containerd.cri.v1.runtime'.containerd.{runtime}]\n"
        f'#   base_runtime_spec = "{base_spec}"\n'
        f'#   pod_annotations = ["{CPU_SET}", "{NUMA_ZONES}"]\n'
    )


def _under(host_root: Path, path: str) -> Path:
    return host_root / path.lstrip("/")


def _write(target: Path, content: str) -> bool:
    if target.is_file() and target.read_text() == content:
        return False
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f".{target.name}.new")
    partial.write_text(content)
    partial.chmod(0o644)
    os.replace(partial, target)
    return True


def _same_tree(a: Path, b: Path) -> bool:
    if not b.is_dir():
        return False
    compared = filecmp.dircmp(a, b)
    if compared.left_only or compared.right_only or compared.funny_files:
        return False
    _, mismatch, errors = filecmp.cmpfiles(a, b, compared.common_files, shallow=False)
    if mismatch or errors:
        return False
    return all(_same_tree(a / d, b / d) for d in compared.common_dirs)


def _install_tree(source: Path, target: Path) -> bool:
    if _same_tree(source, target):
        return False
    target.parent.mkdir(parents=True, exist_ok=True)
    fresh = target.with_name(f".{target.name}.new")
    stale = target.with_name(f".{target.name}.old")
    for leftover in (fresh, stale):
        shutil.rmtree(leftover, ignore_errors=True)
    shutil.copytree(source, fresh, symlinks=True)
    if target.exists():
        os.replace(target, stale)
    os.replace(fresh, target)
    shutil.rmtree(stale, ignore_errors=True)
    return True


def install_hook(source: Path, host_root: Path, hook_args: list[str]) -> list[str]:
    """Install and register; one line per file saying whether it changed."""
    program = source / NAME
    if not program.is_file():
        raise FileNotFoundError(f"{program}: no built hook there (python -m kubenexus.node.build)")
    lines = []
    changed = _install_tree(source, _under(host_root, HOOK_DIR))
    lines.append(f"{HOOK_DIR}: {'installed' if changed else 'up to date'}")
    for path, content in (
        (CRIO_HOOK, crio_hook(hook_args)),
        (CONTAINERD_HOOKS, containerd_hooks(hook_args)),
        (CONTAINERD_CONFIG, containerd_config()),
    ):
        changed = _write(_under(host_root, path), content)
        lines.append(f"{path}: {'written' if changed else 'up to date'}")
    return lines
