"""The cpuset OCI hook (seed 004, ``createRuntime``): pins a container to the CPUs and memory
nodes the scheduler chose for its pod.

The runtime runs it on the host on every container start, with the container's state on stdin
(``bundle`` names the directory holding ``config.json``; a whole spec on stdin is read too). From
the annotations (the pod's, passed through by the runtime) it takes ``cpu-set`` (``0-3,8``) and
``numa.kubenexus.io/zones`` (``0,1``: their memory nodes go to ``cpuset.mems``), checks them
against the host (CPUs online, zones that exist, CPUs inside the zones), resolves the container's
cgroup from ``linux.cgroupsPath`` (cgroup v1 or v2; cgroupfs or systemd driver) without ever
leaving the cgroup root, opens ``cpuset.cpus`` and ``cpuset.mems`` and only then writes them
(``cpus`` put back when the kernel refuses ``mems``). Anything wrong: exit code 1 with one short
line on stderr, nothing written. No ``cpu-set``: exit 0 at once.

Standard library only and no kubenexus import beyond ``node.sysfs``: it must start fast.
"""

from __future__ import annotations

import os
import sys

TYPE_CHECKING = False  # typing is not imported at run time (start time)
if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence
    from typing import Any, Final

CPU_SET: Final = "cpu-set"  # kubenexus.api.keys.CPU_SET (not imported: start time)
NUMA_ZONES: Final = "numa.kubenexus.io/zones"  # kubenexus.api.keys.NUMA_ZONES
# The longest line the hook prints: the runtime puts it in the pod's Events.
MAX_LINE: Final = 1000
USAGE: Final = (
    "usage: cpuset-hook [--cgroup-root DIR] [--sysfs-root DIR] "
    "[--cgroup-driver auto|cgroupfs|systemd] [--cgroup-version auto|1|2] < OCI state"
)


class HookError(Exception):
    """Why the hook refused; one line, naming the value."""


def parse_options(argv: Sequence[str]) -> dict[str, str]:
    """The hook's options (also checked by the installer before registering them)."""
    options = {
        "--cgroup-root": "/sys/fs/cgroup",
        "--sysfs-root": "/sys",
        "--cgroup-driver": "auto",
        "--cgroup-version": "auto",
    }
    args = list(argv)
    while args:
        name = args.pop(0)
        value = None
        if "=" in name:
            name, value = name.split("=", 1)
        if name not in options:
            raise HookError(f"unknown option {name!r}; {USAGE}")
        if value is None:
            if not args:
                raise HookError(f"option {name} needs a value; {USAGE}")
            value = args.pop(0)
        options[name] = value
    driver, version = options["--cgroup-driver"], options["--cgroup-version"]
    if driver not in {"auto", "cgroupfs", "systemd"}:
        raise HookError(f"--cgroup-driver: expected auto, cgroupfs or systemd, got {driver!r}")
    if version not in {"auto", "1", "2"}:
        raise HookError(f"--cgroup-version: expected auto, 1 or 2, got {version!r}")
    return options


def _container(state: Mapping[str, Any]) -> tuple[Mapping[str, Any], str]:
    """(annotations, linux.cgroupsPath) from the OCI state (and its bundle's config.json), or
    from a whole spec given on stdin."""
    spec: Mapping[str, Any] = state
    in_state = state.get("annotations")
    if isinstance(in_state, dict) and CPU_SET not in in_state:
        return {}, ""  # the state carries the spec's annotations (runtime spec): not pinned
    if "linux" not in state:
        bundle = state.get("bundle")
        if not isinstance(bundle, str) or not bundle:
            raise HookError("OCI state on stdin has no bundle (and is no spec)")
        config = os.path.join(bundle, "config.json")
        try:
            with open(config, encoding="utf-8") as file:
                spec = loads(file.read())
        except (OSError, ValueError) as exc:
            raise HookError(f"{config}: cannot read the container's spec ({exc})") from None
    annotations: dict[str, Any] = {}
    for where, found in (("spec", spec.get("annotations")), ("state", state.get("annotations"))):
        if found is not None and not isinstance(found, dict):
            raise HookError(f"{where} annotations: expected an object, got {found!r:.60}")
        annotations.update(found or {})
    for key in (CPU_SET, NUMA_ZONES):
        if key in annotations and not isinstance(annotations[key], str):
            raise HookError(f"annotation {key}: expected a string, got {annotations[key]!r:.60}")
    linux = spec.get("linux") or {}
    if not isinstance(linux, dict):
        raise HookError(f"spec linux: expected an object, got {linux!r:.60}")
    return annotations, str(linux.get("cgroupsPath") or "")


def _zones(text: str) -> list[int]:
    """``0`` or ``0,1`` as the scheduler writes it: ASCII digits between commas, nothing else
    (``int()`` would take ``+1``, ``0_1`` or Arabic-Indic digits)."""
    from kubenexus.node.sysfs import quoted  # noqa: PLC0415 - only pinned containers pay for it

    parts = [part.strip() for part in text.split(",")]
    # Four digits are past any node id (the kernel's limit is 1024 nodes).
    if not all(part.isascii() and part.isdigit() and len(part) <= 4 for part in parts):
        raise HookError(
            f"annotation {NUMA_ZONES}: expected zone numbers like 0,1, got {quoted(text)}"
        )
    return sorted({int(part) for part in parts})


def _slice_dirs(slice_name: str, cgroups_path: str) -> list[str]:
    """``kubepods-burstable-pod1.slice`` → the nested directories systemd makes for it."""
    if slice_name == "":
        return ["system.slice"]  # runc's (and crun's, runsc's) default parent
    if slice_name == "-.slice":
        return []  # the root slice
    if not slice_name.endswith(".slice") or "/" in slice_name:
        raise HookError(f"linux.cgroupsPath {cgroups_path!r}: {slice_name!r} is not a slice")
    words = slice_name.removesuffix(".slice").split("-")
    if "" in words:
        raise HookError(f"linux.cgroupsPath {cgroups_path!r}: invalid slice name {slice_name!r}")
    return [f"{'-'.join(words[: i + 1])}.slice" for i in range(len(words))]


def cgroup_parts(cgroups_path: str, driver: str) -> list[str]:
    """The container's cgroup as directories below the cgroup root (or the v1 cpuset root)."""
    if not cgroups_path:
        raise HookError("the container's spec has no linux.cgroupsPath")
    if driver == "auto":
        systemd = ":" in cgroups_path and not cgroups_path.startswith("/")
        driver = "systemd" if systemd else "cgroupfs"
    if driver == "systemd":
        fields = cgroups_path.split(":")
        if len(fields) != 3 or not fields[2]:
            raise HookError(
                f"linux.cgroupsPath {cgroups_path!r}: expected slice:prefix:name (systemd driver)"
            )
        slice_name, prefix, name = fields
        unit = name if name.endswith(".slice") else f"{prefix}-{name}.scope" if prefix else name
        parts = [*_slice_dirs(slice_name, cgroups_path), unit]
    else:
        parts = cgroups_path.strip("/").split("/")
    for part in parts:
        if part in {"", ".", ".."} or "\0" in part or "/" in part:
            raise HookError(f"linux.cgroupsPath {cgroups_path!r}: {part!r} is not a cgroup name")
    return parts


def cgroup_dir(root: str, cgroups_path: str, driver: str, version: str) -> str:
    """The container's cgroup directory, checked to lie inside the (cpuset) cgroup root."""
    if version == "auto":
        if os.path.exists(os.path.join(root, "cgroup.controllers")):
            version = "2"
        elif os.path.isdir(os.path.join(root, "cpuset")):
            version = "1"
        else:
            raise HookError(f"{root}: neither a cgroup v2 mount nor a v1 root with cpuset/")
    base = os.path.realpath(root if version == "2" else os.path.join(root, "cpuset"))
    target = os.path.realpath(os.path.join(base, *cgroup_parts(cgroups_path, driver)))
    if not target.startswith(base + os.sep):
        raise HookError(f"linux.cgroupsPath {cgroups_path!r} leads outside {base}")
    if not os.path.isdir(target):
        raise HookError(f"linux.cgroupsPath {cgroups_path!r}: no cgroup at {target}")
    if not os.path.exists(os.path.join(target, "cpuset.cpus")):
        raise HookError(f"{target}: no cpuset.cpus (is the cpuset controller enabled there?)")
    return target


def plan(
    annotations: Mapping[str, str], cgroups_path: str, options: Mapping[str, str]
) -> list[tuple[str, str]] | None:
    """The (file, value) writes for a container, all checks done; None: nothing to do."""
    raw = annotations.get(CPU_SET)
    if raw is None:
        return None
    from kubenexus.node.sysfs import (  # noqa: PLC0415 - only pinned containers pay for it
        SysfsError,
        format_cpus,
        online_cpus,
        parse_cpus,
        quoted,
        read_host,
        shortened,
    )

    sysfs_root = options["--sysfs-root"]
    try:
        cpus = parse_cpus(raw, f"annotation {CPU_SET}")
        if not cpus:
            raise HookError(f"annotation {CPU_SET}: empty CPU list")
        online = online_cpus(sysfs_root)
        if not cpus <= online:
            raise HookError(
                f"annotation {CPU_SET} {quoted(raw)}: CPUs {shortened(format_cpus(cpus - online))} "
                f"are not online on this host (online: {shortened(format_cpus(online))})"
            )
        mems: set[int] = set()
        raw_zones = annotations.get(NUMA_ZONES)
        if raw_zones is not None:
            zones = _zones(raw_zones)
            host = read_host(sysfs_root)
            if zones[-1] >= len(host.zones):
                raise HookError(
                    f"annotation {NUMA_ZONES} {quoted(raw_zones)}: zone {zones[-1]} does not exist "
                    f"(this host has {len(host.zones)})"
                )
            zone_cpus = frozenset().union(*(host.zones[z].cpus for z in zones))
            if not cpus <= zone_cpus:
                raise HookError(
                    f"annotation {CPU_SET} {quoted(raw)}: CPUs "
                    f"{shortened(format_cpus(cpus - zone_cpus))} are outside zones "
                    f"{shortened(raw_zones)} (CPUs {shortened(format_cpus(zone_cpus))})"
                )
            for zone in zones:
                mems.update(host.zones[zone].mems)
    except SysfsError as exc:
        raise HookError(str(exc)) from None
    target = cgroup_dir(
        options["--cgroup-root"],
        cgroups_path,
        options["--cgroup-driver"],
        options["--cgroup-version"],
    )
    writes = [(os.path.join(target, "cpuset.cpus"), format_cpus(cpus))]
    if mems:
        writes.append((os.path.join(target, "cpuset.mems"), format_cpus(mems)))
    return writes


def _open(path: str, flags: int) -> int:
    try:
        return os.open(path, flags | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError as exc:
        raise HookError(f"{path}: cannot open ({exc.strerror})") from None


def _put_back(path: str, value: str) -> str:
    """Write ``value`` back into a cpuset file; "" when that worked, else why not."""
    try:
        fd = _open(path, os.O_WRONLY | os.O_TRUNC)
        try:
            os.write(fd, (value.strip() + "\n").encode("ascii"))  # "\n": an empty list too
        finally:
            os.close(fd)
    except (HookError, OSError, UnicodeEncodeError) as exc:
        return f"; {path} is left changed, putting back {value.strip()!r} failed ({exc})"
    return ""


def _value(path: str) -> str:
    """A cpuset file's value as it is now (to put it back)."""
    fd = _open(path, os.O_RDONLY)
    try:
        return os.read(fd, 65536).decode("ascii", "replace")
    except OSError as exc:
        raise HookError(f"{path}: cannot read ({exc.strerror})") from None
    finally:
        os.close(fd)


def write_all(writes: Sequence[tuple[str, str]]) -> None:
    """Write each (file, value), all or none: every file is opened and its value read before
    the first write, and when the kernel refuses a value the files already written get their
    old values back."""
    opened: list[tuple[str, str, int]] = []
    try:
        for path, value in writes:
            opened.append((path, value, _open(path, os.O_WRONLY)))
        olds = [_value(path) for path, _, _ in opened]
        for index, (path, value, fd) in enumerate(opened):
            try:
                # write(), not pwrite(): cgroup files are seq_files, which refuse pwrite (ESPIPE).
                os.write(fd, value.encode("ascii"))
            except OSError as exc:
                undone = "".join(_put_back(opened[i][0], olds[i]) for i in reversed(range(index)))
                raise HookError(
                    f"{path}: the kernel refused {value!r} ({exc.strerror}){undone}"
                ) from None
    finally:
        for _, _, fd in opened:
            os.close(fd)


class _Decoding:
    """What the C JSON scanner asks of its decoder: the defaults of ``json.loads``."""

    strict = True
    object_hook = None
    object_pairs_hook = None
    parse_float = float
    parse_int = int
    parse_constant = float  # NaN, Infinity, -Infinity


def loads(text: str) -> Any:
    """``json.loads`` through the C scanner it uses, without importing ``json``, which imports
    ``re``: about 10 ms of every pinned container's start in the PyInstaller program. Falls back
    to ``json`` where that scanner is missing (another interpreter)."""
    try:
        import _json  # noqa: PLC0415 - CPython's accelerator of json (stable since 2.6)

        context: Any = _Decoding  # typeshed types the argument as the scanner itself
        scan = _json.make_scanner(context)
    except (ImportError, AttributeError):
        import json  # noqa: PLC0415

        return json.loads(text)
    blank = " \t\n\r"
    start = len(text) - len(text.lstrip(blank))
    try:
        value, end = scan(text, start)
    except StopIteration:
        raise ValueError(f"Expecting value (char {start})") from None
    rest = text[end:]
    if rest.strip(blank):
        raise ValueError(f"Extra data (char {end + len(rest) - len(rest.lstrip(blank))})")
    return value


def run(argv: Sequence[str], stdin: Any, stdout: Any = None) -> int:
    """The hook; returns the exit code (errors: one line on stderr)."""
    if any(arg in {"--help", "-h"} for arg in argv):
        print(USAGE, file=stdout or sys.stdout)
        return 0
    try:
        options = parse_options(argv)
        try:
            text = stdin.read()
            # Runtimes write the spec's annotations into the state: a state that has them and
            # not the key is a container to leave alone, known without parsing any JSON.
            if '"annotations"' in text and f'"{CPU_SET}"' not in text:
                return 0
            state = loads(text)
        except ValueError as exc:
            raise HookError(f"stdin: not the OCI state as JSON ({exc})") from None
        if not isinstance(state, dict):
            raise HookError("stdin: not the OCI state as JSON (not an object)")
        annotations, cgroups_path = _container(state)
        writes = plan(annotations, cgroups_path, options)
        if writes:
            write_all(writes)
    except HookError as exc:
        _say(f"cpuset-hook: {exc}")
        return 1
    except Exception as exc:  # a bug: still one line for the runtime's error, never a traceback
        _say(f"cpuset-hook: internal error: {exc.__class__.__name__}: {exc}")
        return 1
    return 0


def _say(line: str) -> None:
    """One line on stderr, at most MAX_LINE characters."""
    line = " ".join(line.splitlines())
    if len(line) > MAX_LINE:
        line = line[: MAX_LINE - 1] + "…"
    print(line, file=sys.stderr)


def main() -> None:
    sys.exit(run(sys.argv[1:], sys.stdin))


if __name__ == "__main__":
    main()
