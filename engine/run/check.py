"""``python -m engine.build --check``: every source's status, the tokenizer, the stages and the executor,
without stopping at the first problem; exit 2 with one ``error:`` line naming them all."""
from __future__ import annotations

import sys

from connectors import registry
from engine.core.manifest import Manifest, output_location_error
from engine.run.plan import BuildError, check_stages, choose_executor, unit_bytes


def _source_status(manifest: Manifest, src, unset: dict[str, list[str]]):
    """``(units, problem)`` of one source: its work units, or why it cannot be read."""
    if src.name in unset:
        return None, "unset variable " + ", ".join(f"${{{v}}}" for v in unset[src.name])
    try:
        units = registry.get(src.connector)(src, manifest).discover()
    except FileNotFoundError as e:
        return None, "no input: " + (str(e) if src.name in str(e) else f"source {src.name!r}: {e}")
    except Exception as e:  # unreadable listing: permissions, storage
        return None, f"cannot list its input ({type(e).__name__}: {e})"
    if not units:
        return None, f"no input: source {src.name!r}: no input files under {src.uri}"
    return units, None


def run_check(manifest: Manifest, unset: list[tuple[str, str]], executor: str, out=sys.stdout) -> int:
    """Print the check; return 0 when everything is ready, else print one ``error:`` line and return 2."""
    from engine.tokenizer import load_tokenizer

    by_source: dict[str, list[str]] = {}
    problems: list[str] = []
    for var, where in unset:
        name = where.split("(", 1)[1].split(")", 1)[0] if where.startswith("sources[") else where
        by_source.setdefault(name, [])
        if var not in by_source[name]:
            by_source[name].append(var)
    print(f"manifest {manifest.name}: {len(manifest.sources)} sources -> {manifest.output}", file=out)
    for key in ("output", "tokenizer"):
        if key in by_source:
            problems.append(f"{key}: unset variable " + ", ".join(f"${{{v}}}" for v in by_source[key]))
    if "tokenizer" not in by_source:
        try:
            tok = load_tokenizer(manifest.tokenizer)
            print(f"tokenizer {tok.name}: ok, vocab {tok.vocab_size:,}, sha256 {tok.sha256[:12]}, max_seq_len {manifest.max_seq_len}", file=out)
        except Exception as e:  # missing file, not a tokenizer, no [CLS]/[SEP]
            problems.append(f"tokenizer {manifest.tokenizer}: {type(e).__name__}: {e}")
            print(problems[-1], file=out)
    try:
        print(f"stages: {', '.join(check_stages(manifest))}", file=out)
    except BuildError as e:
        problems.append(str(e))
    plan, lines = {}, []
    for src in manifest.sources:
        units, problem = _source_status(manifest, src, by_source)
        head = f"  {src.name:<28} {src.connector:<20} "
        if problem:
            problems.append(f"{src.name}: {problem}")
            lines.append(head + problem)
            continue
        plan[src.name] = units
        files = sorted({u.path for u in units})
        opts = " ".join(f"{k}={v}" for k, v in sorted(src.options.items()))
        lines.append(head + f"ok  deid={manifest.deid_policy(src):<6} priority={src.priority:<3} weight={src.weight:<5} "
                     f"{len(files)} file(s), {len(units)} unit(s), {sum(unit_bytes(u) for u in units) / 1e6:,.1f} MB"
                     + (f"  options: {opts}" if opts else ""))
        lines += [f"      {f}" for f in files[:3]] + ([f"      ... {len(files) - 3} more"] if len(files) > 3 else [])
    kind, why = choose_executor(executor, plan)
    print(f"executor: {kind} ({why})", file=out)
    print("\n".join(lines), file=out)
    if "output" not in by_source:
        where = output_location_error(manifest.output, kind)
        if where:
            problems.append(where)
    if problems:
        bad = sum(1 for s in manifest.sources if any(p.startswith(f"{s.name}: ") for p in problems))
        print(f"error: {bad} of {len(manifest.sources)} sources not ready" if bad else "error: not ready", end="",
              file=sys.stderr)
        print(": " + "; ".join(problems), file=sys.stderr)
        return 2
    return 0
