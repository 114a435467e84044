"""Planning a build: work units per source, pack groups, the stages to run, and where to run them."""
from __future__ import annotations

import logging
import os
import sys

from connectors import registry as connectors
from engine.core.executor import Executor
from engine.core.manifest import Manifest
from engine.core.records import WorkUnit
from engine.stages import registry as stages
from engine.run.worker import WorkerSpec

log = logging.getLogger("engine.build")

#: input size from which ``executor: auto`` runs the build on Ray
AUTO_RAY_BYTES = 2 << 30
#: input size from which the local executor uses a process pool (below: one in-process worker)
LOCAL_POOL_BYTES = 256 << 20


class BuildError(RuntimeError):
    """A build that cannot start or finish: the message says why (never document text)."""


def plan_units(manifest: Manifest) -> dict[str, list[WorkUnit]]:
    """Work units per source, in manifest order; a source whose input is missing is an error naming it."""
    plan: dict[str, list[WorkUnit]] = {}
    for src in manifest.sources:
        conn = connectors.get(src.connector)(src, manifest)
        try:
            units = conn.discover()
        except FileNotFoundError as e:
            raise BuildError(str(e) if src.name in str(e) else f"source {src.name!r}: {e}") from None
        except Exception as e:
            raise BuildError(f"source {src.name!r}: cannot list its input ({type(e).__name__}: {e})") from None
        if not units:
            raise BuildError(f"source {src.name!r}: no input files under {src.uri}")
        plan[src.name] = units
    return plan


def check_stages(manifest: Manifest) -> list[str]:
    """The manifest's stage names, each known to the registry (else a :class:`BuildError`)."""
    names = stages.stage_names(manifest)
    for i, n in enumerate(names):
        try:
            stages.get(n)
        except stages.UnknownStage as e:
            raise BuildError(f"stages[{i}]: {e}") from None
    if len(set(names)) != len(names):
        raise BuildError(f"stages: a stage is listed twice ({', '.join(names)})")
    return names


def unit_bytes(u: WorkUnit) -> int:
    return u.size if u.end < 0 else u.end - u.start


def input_bytes(plan: dict[str, list[WorkUnit]]) -> int:
    return sum(unit_bytes(u) for units in plan.values() for u in units)


def print_check(manifest: Manifest, plan: dict[str, list[WorkUnit]], executor: str = "auto", out=sys.stdout) -> None:
    print(f"manifest {manifest.name}: {len(manifest.sources)} sources -> {manifest.output}", file=out)
    print(f"tokenizer {manifest.tokenizer}, max_seq_len {manifest.max_seq_len}", file=out)
    print(f"stages: {', '.join(check_stages(manifest))}", file=out)
    kind, why = choose_executor(executor, plan)
    print(f"executor: {kind} ({why})", file=out)
    for src in manifest.sources:
        units = plan[src.name]
        files = sorted({u.path for u in units})
        size = sum(unit_bytes(u) for u in units)
        print(
            f"  {src.name:<28} {src.connector:<20} deid={manifest.deid_policy(src):<6} priority={src.priority:<3} "
            f"weight={src.weight:<5} {len(files)} file(s), {len(units)} unit(s), {size / 1e6:,.1f} MB",
            file=out,
        )
        for f in files[:3]:
            print(f"      {f}", file=out)
        if len(files) > 3:
            print(f"      ... {len(files) - 3} more", file=out)


def pack_groups(manifest: Manifest, plan: dict[str, list[WorkUnit]], kept_chars: dict[str, int]) -> list[tuple[str, int, list[str]]]:
    """Runs of consecutive units per source, each holding about ``pack_group_bytes`` of surviving text."""
    limit = manifest.resources.pack_group_bytes
    groups = []
    for src in manifest.sources:
        cur: list[str] = []
        size = 0
        g = 0
        for u in plan[src.name]:
            cur.append(u.unit_id)
            size += kept_chars[u.unit_id]
            if size >= limit:
                groups.append((src.name, g, cur))
                g, cur, size = g + 1, [], 0
        if cur:
            groups.append((src.name, g, cur))
    return groups


def choose_executor(requested: str, plan: dict[str, list[WorkUnit]]) -> tuple[str, str]:
    """``(local | ray, why)``: as requested, else Ray for a cluster (RAY_ADDRESS) or a big input, local otherwise."""
    if requested in ("local", "ray"):
        return requested, "requested"
    if os.environ.get("RAY_ADDRESS"):
        return "ray", "RAY_ADDRESS is set"
    size = input_bytes(plan)
    if size >= AUTO_RAY_BYTES:
        return "ray", f"auto: input {size / 2**30:,.1f} GiB >= {AUTO_RAY_BYTES / 2**30:.0f} GiB"
    return "local", f"auto: input {size / 2**20:,.1f} MiB < {AUTO_RAY_BYTES / 2**30:.0f} GiB and no RAY_ADDRESS"


def make_executor(kind: str, spec: WorkerSpec, workers: int | None, manifest: Manifest, size: int) -> Executor:
    """The executor of ``kind``, sized from ``workers`` and what the stages need per worker."""
    need = stages.worker_resources(manifest)
    cpus_per_worker = manifest.resources.cpus_per_worker or need.num_cpus
    env = {k: v for k, v in os.environ.items() if k.startswith("ENGINE_IO_")}
    if kind == "ray":
        from engine.run.ray_executor import RayExecutor

        return RayExecutor(spec, workers, cpus_per_worker, env)
    from engine.run.local import LocalExecutor

    cpus = os.cpu_count() or 1
    n = workers or (1 if size < LOCAL_POOL_BYTES else max(1, int(cpus // cpus_per_worker)))
    threads = str(max(1, cpus // n))
    return LocalExecutor(spec, n, env | {"RAYON_NUM_THREADS": threads, "OMP_NUM_THREADS": threads})
