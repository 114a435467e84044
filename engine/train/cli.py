"""Command line of ``python -m engine.train``: arguments and the checks made before any work."""
from __future__ import annotations

import argparse
import os
import sys
import warnings

USAGE = """Thin MLM trainer: ModernBertForMaskedLM over packed shards streamed by engine.train.stream.

    python -m engine.train --shards OUT --model-config tiny --output runs/demo --steps 300
    python -m engine.train --shards OUT --init-from runs/demo/ckpt-000300 --weights mimic_notes=1,pubmed=0 --epochs 3
    torchrun --nproc-per-node 8 -m engine.train --shards s3://bucket/build --model-config cfg.json ...
"""


class ConfigError(ValueError):
    """Bad configuration: reported as one ``error:`` line, exit status 2."""


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m engine.train", description=USAGE.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--shards", required=True, help="build output (path or fsspec URI) holding build.json")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--model-config", help="'tiny' or a JSON file of ModernBertConfig fields (vocab/special ids come from build.json)")
    src.add_argument("--init-from", help="a checkpoint folder of this trainer or a transformers model folder (weights only); "
                                         "its vocabulary and special ids must match the build's tokenizer")
    p.add_argument("--tokenizer", default=None, help="the build's tokenizer.json (default: the file named in build.json, "
                                                     "if present with the same sha256); saved into checkpoints")
    p.add_argument("--output", default="runs/train", help="checkpoint folder")
    p.add_argument("--resume", action="store_true", help="continue from the latest checkpoint in --output (model, optimizer, scheduler, loader)")
    length = p.add_mutually_exclusive_group()
    length.add_argument("--steps", type=int, default=None, help="optimizer steps in total (default 300)")
    length.add_argument("--epochs", type=int, default=None, help="passes over the weighted build; the run ends when the "
                                                                 "stream does (the schedule uses the estimated step count)")
    p.add_argument("--token-budget", type=int, default=8192, help="tokens per micro-batch (one packed sequence)")
    p.add_argument("--grad-accum", type=int, default=1, help="micro-batches per optimizer step")
    p.add_argument("--optimizer", choices=["stableadamw", "adamw"], default="stableadamw",
                   help="stableadamw: fully decoupled weight decay (not scaled by lr), ModernBERT's; adamw: torch AdamW (decay x lr)")
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--min-lr", type=float, default=0.0)
    p.add_argument("--warmup-steps", type=int, default=30)
    p.add_argument("--decay-steps", type=int, default=None, help="length of the final 1-sqrt decay (default: 10%% of the steps)")
    p.add_argument("--schedule", choices=["wsd", "constant"], default="wsd", help="warmup-stable-decay (1-sqrt) or constant after warmup")
    p.add_argument("--weight-decay", type=float, default=1e-5)
    p.add_argument("--betas", default="0.9,0.98")
    p.add_argument("--eps", type=float, default=1e-6)
    p.add_argument("--max-grad-norm", type=float, default=1.0, help="0 disables gradient clipping")
    p.add_argument("--mask-rate", type=float, default=0.30)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--weights", default=None, help="source weight overrides, e.g. mimic_notes=2,pubmed=0 (names must be the build's)")
    p.add_argument("--block-rows", type=int, default=128, help="rows per loader block (mixing granularity; a multiple of the build's record batch rows reads fastest)")
    p.add_argument("--shuffle-blocks", type=int, default=8)
    p.add_argument("--num-workers", type=int, default=0, help="dataloader worker processes per rank")
    p.add_argument("--follow", action="store_true", help="stream a build that is still running")
    p.add_argument("--attn", choices=["auto", "flash", "sdpa", "loop"], default="auto", help="document-restricted attention backend")
    p.add_argument("--device", default=None, help="cuda / cpu (default: cuda when available)")
    p.add_argument("--no-bf16", action="store_true", help="disable bf16 autocast on GPU")
    p.add_argument("--compile", action="store_true", help="torch.compile the model (dynamic shapes)")
    p.add_argument("--grad-checkpointing", action="store_true", help="recompute activations in the backward pass")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    p.add_argument("--log-every", type=int, default=10)
    p.add_argument("--log-jsonl", default=None, help="also append one JSON line per step here")
    p.add_argument("--save-every", type=int, default=0, help="checkpoint every N steps (0: only at the end)")
    p.add_argument("--keep", type=int, default=2, help="checkpoints to keep")
    p.add_argument("--stop-after", type=int, default=None, help="stop (with a checkpoint) after this step, as if interrupted")
    p.add_argument("--quiet", action="store_true")
    return p.parse_args(argv)


def check_args(args, cuda: bool) -> dict:
    """Checks that need no model: paths, numbers, backend; returns build.json.  Raises ConfigError."""
    from engine.train.stream import read_build, resolve_weights

    try:
        build = read_build(args.shards)
    except FileNotFoundError:
        raise ConfigError(f"--shards {args.shards}: no build.json there") from None
    if args.model_config and args.model_config != "tiny" and not os.path.isfile(args.model_config):
        raise ConfigError(f"--model-config {args.model_config}: not 'tiny' and no such file")
    if args.init_from and not os.path.exists(args.init_from):
        raise ConfigError(f"--init-from {args.init_from}: no such checkpoint folder")
    if "mask" not in ((build.get("tokenizer") or {}).get("special_ids") or {}):
        raise ConfigError(f"{args.shards}: build.json tokenizer.special_ids has no 'mask' id")
    try:
        resolve_weights(build, args.weights)
        betas = tuple(float(x) for x in args.betas.split(","))
    except ValueError as e:
        raise ConfigError(str(e)) from None
    if len(betas) != 2:
        raise ConfigError(f"--betas {args.betas}: give two numbers, e.g. 0.9,0.98")
    for name in ("token_budget", "grad_accum", "steps", "epochs", "block_rows", "shuffle_blocks"):
        v = getattr(args, name)
        if v is not None and v < 1:
            raise ConfigError(f"--{name.replace('_', '-')} must be >= 1")
    if not 0 <= args.mask_rate <= 1:
        raise ConfigError("--mask-rate must be within [0, 1]")
    if args.attn == "flash":
        from engine.train.varlen_attention import _flash_varlen

        if _flash_varlen is None:
            raise ConfigError("--attn flash: flash-attn is not installed (pip install flash-attn), or use --attn auto")
        if not cuda or (args.device or "cuda").startswith("cpu"):
            raise ConfigError("--attn flash runs on CUDA only")
        if args.no_bf16:
            raise ConfigError("--attn flash needs bf16 (flash-attn has no fp32 kernels): drop --no-bf16 or use --attn sdpa")
    if args.steps is None and args.epochs is None:
        args.steps = 300
    if args.steps is not None and args.steps < args.warmup_steps:
        warnings.warn(f"--steps {args.steps} < --warmup-steps {args.warmup_steps}: the learning rate never reaches --lr",
                      stacklevel=2)
    return build


def fail(msg: str) -> None:
    print(f"error: {msg}", file=sys.stderr, flush=True)
    raise SystemExit(2)
