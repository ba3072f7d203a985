"""``kubenexus node install-hook``: put the built cpuset hook on the node and register it, from
the installer DaemonSet (the host's directories mounted under ``--host-root``).

- the program directory → ``/opt/kubenexus/cpuset-hook-<digest>/``, and
  ``/opt/kubenexus/cpuset-hook`` a symlink to it, switched by renaming a new symlink over it (one
  atomic rename): a container starting meanwhile runs the old or the new build, never none and
  never half of one. The previous build stays until the next install (a hook started from it
  still loads its libraries); older ones go. A real directory there (the layout before) is
  swapped for the symlink with ``renameat2(RENAME_EXCHANGE)``, also atomic;
- CRI-O: ``/etc/containers/oci/hooks.d/kubenexus-cpuset.json`` (CRI-O reads hooks.d at run
  time), run at ``createRuntime`` only for containers with a ``cpu-set`` annotation;
- containerd (no hooks directory): ``/etc/kubenexus/containerd-hooks.json``, the ``hooks`` to
  merge into the base runtime spec, and ``/etc/kubenexus/containerd-config.toml``, the config
  lines (``base_runtime_spec``, ``pod_annotations``). containerd's config is not edited here:
  merging them and restarting containerd is the administrator's step (docs/node-setup.md).

Each file is written only when its content differs (the DaemonSet may run it again any time).
"""

from __future__ import annotations

import ctypes
import filecmp
import hashlib
import json
import os
import shutil
from pathlib import Path
from typing import Final

from kubenexus.node.build import NAME
from kubenexus.node.hook import CPU_SET, NUMA_ZONES, HookError, parse_options

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


def _digest(tree: Path) -> str:
    """A short hash of a directory's paths, modes and contents: the name of its version."""
    digest = hashlib.sha256()
    for path in sorted(tree.rglob("*")):
        relative = path.relative_to(tree).as_posix()
        digest.update(f"{relative}\0{path.lstat().st_mode:o}\0".encode())
        if path.is_symlink():
            digest.update(os.readlink(path).encode())
        elif path.is_file():
            digest.update(path.read_bytes())
        digest.update(b"\0")
    return digest.hexdigest()[:16]


def _exchange(a: Path, b: Path) -> bool:
    """Swap two paths in one step (Linux ``renameat2(RENAME_EXCHANGE)``); False: unsupported."""
    renameat2 = getattr(ctypes.CDLL(None, use_errno=True), "renameat2", None)
    if renameat2 is None:
        return False
    at_fdcwd, rename_exchange = -100, 2
    result: int = renameat2(at_fdcwd, bytes(a), at_fdcwd, bytes(b), rename_exchange)
    return result == 0


def _switch(link: Path, version: str) -> None:
    """Point ``link`` at the sibling ``version`` in one rename, whatever was there."""
    fresh = link.with_name(f".{link.name}.link")
    fresh.unlink(missing_ok=True)
    fresh.symlink_to(version)  # relative: the same on the host and under the installer's mount
    if link.is_symlink() or not link.exists():
        os.replace(fresh, link)
    elif _exchange(fresh, link):  # the directory of the layout before: now at ``fresh``
        shutil.rmtree(fresh)
    else:  # no renameat2 here: two renames, once (the program is missing between them)
        old = link.with_name(f".{link.name}.old")
        shutil.rmtree(old, ignore_errors=True)
        os.replace(link, old)
        os.replace(fresh, link)
        shutil.rmtree(old)


def _install_tree(source: Path, link: Path) -> bool:
    """Install ``source`` as a version beside ``link`` and switch ``link`` to it."""
    if link.is_symlink() and _same_tree(source, link):
        return False
    link.parent.mkdir(parents=True, exist_ok=True)
    previous = os.readlink(link) if link.is_symlink() else None
    version = f"{link.name}-{_digest(source)}"
    if version == previous:  # the build in use was altered: never rewrite it in place
        version += "-1"
    target = link.with_name(version)
    if not _same_tree(source, target):
        partial = link.with_name(f".{version}.new")
        shutil.rmtree(partial, ignore_errors=True)
        shutil.copytree(source, partial, symlinks=True)
        shutil.rmtree(target, ignore_errors=True)  # not the one in use (checked above)
        os.replace(partial, target)
    _switch(link, version)
    for old in link.parent.glob(f"{link.name}-*"):  # keep the new and the previous build
        if old.name not in {version, previous} and old.is_dir() and not old.is_symlink():
            shutil.rmtree(old, ignore_errors=True)
    return True


class HookArgumentError(ValueError):
    """A ``--hook-arg`` the hook would refuse at every container start."""


def install_hook(source: Path, host_root: Path, hook_args: list[str]) -> list[str]:
    """Install and register; one line per file saying whether it changed."""
    try:
        parse_options(hook_args)
    except HookError as exc:
        # Registered, it would fail every container start (under containerd: all of them).
        raise HookArgumentError(f"--hook-arg {' '.join(hook_args)!r}: {exc}") from exc
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
