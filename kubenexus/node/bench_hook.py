"""``kubenexus node bench-hook``: the cpuset hook's wall time per container start, measured as
the runtime pays it (a new process each time, the state on stdin) against a host and a cgroup v2
tree made up in a temporary directory: a container without ``cpu-set`` and one with it."""

from __future__ import annotations

import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from kubenexus.node.hook import CPU_SET, NUMA_ZONES

GOAL_MS = 50.0


@dataclass(frozen=True, slots=True)
class HookTiming:
    case: str
    runs: int
    median_ms: float
    p90_ms: float
    max_ms: float


def _make_host(root: Path) -> tuple[Path, Path]:
    """A two-zone host (CPUs 0-7 and 8-15) and a cgroup v2 tree with one container's cgroup."""
    sysfs = root / "sys"
    (sysfs / "devices/system/cpu").mkdir(parents=True)
    (sysfs / "devices/system/cpu/online").write_text("0-15\n")
    for node in (0, 1):
        base = sysfs / f"devices/system/node/node{node}"
        base.mkdir(parents=True)
        (base / "cpulist").write_text(f"{node * 8}-{node * 8 + 7}\n")
        (base / "meminfo").write_text(f"Node {node} MemTotal:       16384000 kB\n")
        (base / "distance").write_text("10 21\n" if node == 0 else "21 10\n")
    cgroup = root / "cgroup"
    leaf = cgroup / "kubepods/pod1/ctr1"
    leaf.mkdir(parents=True)
    (cgroup / "cgroup.controllers").write_text("cpuset cpu memory\n")
    for name in ("cpuset.cpus", "cpuset.mems"):
        (leaf / name).write_text("")
    return sysfs, cgroup


def _state(root: Path, annotations: dict[str, str]) -> bytes:
    bundle = root / f"bundle-{len(annotations)}"
    bundle.mkdir()
    spec = {
        "ociVersion": "1.2.0",
        "annotations": annotations,
        "linux": {"cgroupsPath": "/kubepods/pod1/ctr1"},
    }
    (bundle / "config.json").write_text(json.dumps(spec))
    state = {"ociVersion": "1.2.0", "id": "ctr1", "status": "creating", "pid": 0}
    return json.dumps({**state, "bundle": str(bundle), "annotations": annotations}).encode()


def _timing(case: str, samples: list[float]) -> HookTiming:
    ordered = sorted(samples)
    p90 = ordered[max(0, int(len(ordered) * 0.9) - 1)]
    return HookTiming(case, len(samples), statistics.median(samples), p90, ordered[-1])


FLOOR = "python -I -S"


def bench_hook(command: Sequence[str], runs: int, seed: int = 1) -> list[HookTiming]:
    """Run ``command`` (the hook) ``runs`` times per case — no annotation, with one — and a bare
    interpreter (``python -I -S -c pass``: what any Python hook pays at least) for scale. The
    three are interleaved in a shuffled order each round, so a change of the machine's load
    during the run weighs on all of them alike."""
    with tempfile.TemporaryDirectory(prefix="kubenexus-hook-bench-") as tmp:
        root = Path(tmp)
        sysfs, cgroup = _make_host(root)
        hook = [*command, "--sysfs-root", str(sysfs), "--cgroup-root", str(cgroup)]
        cases: dict[str, tuple[list[str], bytes]] = {
            "no annotation": (hook, _state(root, {})),
            "with annotation": (hook, _state(root, {CPU_SET: "8-11", NUMA_ZONES: "1"})),
            FLOOR: ([sys.executable, "-I", "-S", "-c", "pass"], b""),
        }
        samples: dict[str, list[float]] = {case: [] for case in cases}
        order = list(cases)
        shuffle = random.Random(seed).shuffle
        env = dict(os.environ)
        for _ in range(runs):
            shuffle(order)
            for case in order:
                args, stdin = cases[case]
                start = time.perf_counter()
                done = subprocess.run(args, input=stdin, capture_output=True, check=False, env=env)
                samples[case].append((time.perf_counter() - start) * 1000)
                if done.returncode != 0:
                    raise RuntimeError(f"the hook failed ({case}): {done.stderr.decode().strip()}")
        written = (cgroup / "kubepods/pod1/ctr1/cpuset.cpus").read_text()
        if written != "8-11":
            raise RuntimeError(f"the hook wrote cpuset.cpus {written!r}, not '8-11'")
    return [_timing(case, values) for case, values in samples.items()]


def default_command() -> list[str]:
    """The hook as the console script runs it: this interpreter, the module."""
    return [sys.executable, "-m", "kubenexus.node.hook"]


def render(command: Sequence[str], timings: Sequence[HookTiming]) -> str:
    lines = [
        f"cpuset hook: {' '.join(command)}",
        f"{'case':<16} {'runs':>5} {'median ms':>10} {'p90 ms':>8} {'max ms':>8}",
    ]
    lines += [
        f"{t.case:<16} {t.runs:>5} {t.median_ms:>10.1f} {t.p90_ms:>8.1f} {t.max_ms:>8.1f}"
        for t in timings
    ]
    with_annotation = next(t for t in timings if t.case == "with annotation")
    verdict = "meets" if with_annotation.median_ms <= GOAL_MS else "MISSES"
    lines.append(f"goal: ≤ {GOAL_MS:.0f} ms with annotation (median): {verdict}")
    return "\n".join(lines)
