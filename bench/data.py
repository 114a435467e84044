"""The benchmarks' inputs: generated corpora (:mod:`bench.synth.corpus`) and a tokenizer trained on them.

    python -m bench.data --mb 10 --out /tmp/gen      # writes generated JSON Lines files, prints a summary
"""
from __future__ import annotations

import hashlib
import os
from pathlib import Path

from bench import common
from bench.synth.corpus import texts, write_jsonl


def bench_tokenizer(cache_dir: str | os.PathLike | None = None, vocab_size: int = 32000, mb: float = 4.0) -> str:
    """Path to a ModernBERT-style byte-level BPE trained on generated text; cached.

    The generated text has a small word inventory, so the trainer stops near 3.5k merges
    whatever ``vocab_size`` asks, and BPE's word cache hits more often than on real text:
    absolute MB/s are optimistic, ratios (same tokenizer on both sides) are not.  Pass a real
    ``tokenizer.json`` (``--tokenizer``) to the benches for absolute numbers.
    """
    from engine.tokenizer import train_bpe

    cache = Path(cache_dir or os.environ.get("BENCH_CACHE", "/tmp/bench-cache"))
    cache.mkdir(parents=True, exist_ok=True)
    key = hashlib.sha256(f"v2-{vocab_size}-{mb}".encode()).hexdigest()[:12]
    path = cache / f"tokenizer-{key}.json"
    if not path.exists():
        tok = train_bpe(texts(mb, "mixed", seed=12345), vocab_size)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tok.save(str(tmp))
        os.replace(tmp, path)
    return str(path)


def _args(ap) -> None:
    ap.add_argument("--mb", type=float, default=10)
    ap.add_argument("--kind", default="mixed", choices=["clinical", "literature", "mixed"])
    ap.add_argument("--files", type=int, default=4)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--dup-rate", type=float, default=0.0)
    ap.add_argument("--near-dup-rate", type=float, default=0.0)
    ap.add_argument("--out", required=True)


def _run(a) -> dict:
    paths = write_jsonl(a.out, a.mb, a.files, a.kind, a.seed, a.dup_rate, a.near_dup_rate)
    return {"out": a.out, "files": [str(p) for p in paths], "mb": sum(p.stat().st_size for p in paths) / 1e6}


def main(argv: list[str] | None = None) -> int:
    common.bench_main(argv, "data", __doc__, _args, _run, lambda r: f"wrote {r['mb']:.1f} MB in {len(r['files'])} files under {r['out']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
