"""Thin MLM trainer: ModernBertForMaskedLM over packed shards streamed by engine.train.stream.

Every micro-batch is one packed sequence (rows concatenated up to ``--token-budget`` tokens) with
``cu_seqlens`` and position ids restarting per document; attention is restricted to each document
(flash-attn varlen on GPU when importable, block-diagonal SDPA otherwise, see varlen_attention.py).
Masking (masking.py) is seeded by a hash of (seed, step, micro-batch, rank), so a resumed run sees the
same rows with the same masks and reproduces the uninterrupted run's losses.

Ranks stay in step by construction: every step starts with a collective that agrees on how many
micro-batches all ranks have, so when one rank's stream ends (``--epochs``, or ``--follow`` once the
build is complete) every rank stops at the same step and writes the final checkpoint together.
"""
from __future__ import annotations

import gc
import hashlib
import json
import math
import os
import time
import warnings
from contextlib import nullcontext
from typing import Any

from engine.train.cli import USAGE, ConfigError, check_args, fail, parse_args  # noqa: F401 (parse_args re-exported)
from engine.train.model import TINY, ModelMismatchError, build_model, build_tokenizer, packed_mlm, replacement_ids  # noqa: F401

__doc__ = __doc__ + "\n" + USAGE


def wsd_lambda(total: int, warmup: int, decay: int, min_ratio: float = 0.0):
    """The schedule's multiplier at each step (the curve ``make_schedule`` gives ``LambdaLR``)."""
    import torch

    from engine.train.optim import make_schedule

    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    sched = make_schedule(opt, total=total, warmup=warmup, decay=decay, min_ratio=min_ratio)
    return lambda step: sched.lr_lambdas[0](step)


class Ranks:
    """This process's place in the job and the few collectives the loop needs (no-ops alone)."""

    def __init__(self, device_arg: str | None):
        import torch
        import torch.distributed as dist

        self.dist = dist
        self.world = int(os.environ.get("WORLD_SIZE", 1))
        self.on = self.world > 1
        self.device = torch.device(device_arg or ("cuda" if torch.cuda.is_available() else "cpu"))
        if self.on:
            if self.device.type == "cuda":
                torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", 0)))
                self.device = torch.device("cuda", torch.cuda.current_device())
            dist.init_process_group("nccl" if self.device.type == "cuda" else "gloo")
        self.rank = dist.get_rank() if self.on else 0

    def reduce(self, values: list[float], op: str = "sum") -> list[float]:
        import torch

        if not self.on:
            return list(values)
        t = torch.tensor(values, dtype=torch.float64, device=self.device)
        self.dist.all_reduce(t, op=self.dist.ReduceOp.MIN if op == "min" else self.dist.ReduceOp.SUM)
        return t.tolist()

    def gather(self, obj) -> list:
        if not self.on:
            return [obj]
        got = [None] * self.world
        self.dist.all_gather_object(got, obj)
        return got

    def sum_counts(self, counts: dict[str, int]) -> dict[str, int]:
        out: dict[str, int] = {}
        for c in self.gather(counts):
            for k, v in c.items():
                out[k] = out.get(k, 0) + v
        return out

    def close(self) -> None:
        if self.on:
            self.dist.barrier()
            self.dist.destroy_process_group()


def _eta(seconds: float) -> str:
    s = int(max(seconds, 0))
    return f"{s // 3600}h{s // 60 % 60:02d}m" if s >= 3600 else f"{s // 60}m{s % 60:02d}s"


def estimate_steps(plan: dict, build: dict, args) -> int:
    """Optimizer steps of ``--epochs`` passes: rows per rank per epoch over rows per step."""
    rows = sum(int(s["rows"]) for s in build.get("shards", [])) or 1
    avg_row = sum(int(s.get("tokens", 0)) for s in build.get("shards", [])) / rows or args.token_budget
    rows_per_micro = max(1, int(args.token_budget // max(avg_row, 1)))
    return max(1, math.ceil(plan["rows_per_rank"] * args.epochs / (rows_per_micro * args.grad_accum)))


def _setup(args):
    """Everything before the first step; configuration errors exit 2 before any work."""
    import torch

    try:
        build = check_args(args, torch.cuda.is_available())
    except ConfigError as e:
        fail(str(e))
    from engine.train.checkpoint import latest_checkpoint
    from engine.train.varlen_attention import register_modernbert_attention

    ckpt = latest_checkpoint(args.output) if args.resume else None
    if ckpt:
        args.init_from, args.model_config = ckpt, None
    try:
        tokenizer = build_tokenizer(build, args.tokenizer)
        model = build_model(args, build, register_modernbert_attention(args.attn))
    except (ModelMismatchError, OSError) as e:
        fail(str(e))
    return build, ckpt, tokenizer, model


def main(argv=None) -> dict[str, Any]:
    args = parse_args(argv)
    import torch

    from engine.train.checkpoint import load_trainer_state, save_checkpoint
    from engine.train.masking import IGNORE_INDEX, mask_tokens, step_generator
    from engine.train.optim import make_optimizer, make_schedule
    from engine.train.stream import ShardStream, StreamLoader, merge_states

    if args.threads:
        torch.set_num_threads(args.threads)
    build, ckpt, tokenizer, model = _setup(args)
    ranks = Ranks(args.device)
    rank, world, device = ranks.rank, ranks.world, ranks.device
    log = (lambda *a: None) if (args.quiet or rank != 0) else (lambda *a: print(*a, flush=True))
    sp = build["tokenizer"]["special_ids"]
    model = model.to(device)
    obj = packed_mlm(model)
    net = torch.nn.parallel.DistributedDataParallel(obj, device_ids=[device.index] if device.type == "cuda" else None) if ranks.on else obj
    if args.compile:
        net = torch.compile(net, dynamic=True)

    ds = ShardStream(args.shards, weights=args.weights, seed=args.seed, block_rows=args.block_rows,
                     shuffle_blocks=args.shuffle_blocks, token_budget=args.token_budget, epochs=args.epochs,
                     follow=args.follow, rank=rank, world_size=world)
    plan = ds.epoch_plan()
    total = args.steps if args.steps is not None else estimate_steps(plan, build, args)
    if args.epochs is not None:
        log(f"{args.epochs} epochs of {plan['rows']} rows ({plan['rows_per_rank']} per rank, {plan['pad_rows']} padded): "
            f"about {total} steps")
    opt = make_optimizer(args.optimizer, model, lr=args.lr, betas=tuple(float(x) for x in args.betas.split(",")),
                         eps=args.eps, weight_decay=args.weight_decay, device_type=device.type)
    decay = args.decay_steps if args.decay_steps is not None else max(1, total // 10)
    sched = make_schedule(opt, total=total, warmup=args.warmup_steps, decay=decay,
                          min_ratio=args.min_lr / args.lr if args.lr else 0.0, kind=args.schedule)
    loader = StreamLoader(ds, num_workers=args.num_workers, pin_memory=device.type == "cuda")
    start_step, seen_src, seen_tokens = 0, {}, 0
    if ckpt:
        st = load_trainer_state(ckpt)
        opt.load_state_dict(st["optimizer"])
        sched.load_state_dict(st["scheduler"])
        loader.load_state_dict(st["loader"])
        start_step = int(st["step"])
        if rank == 0:  # totals live on rank 0; the others count from zero (logs and checkpoints sum ranks)
            seen_src, seen_tokens = dict(st.get("source_tokens", {})), int(st.get("tokens", 0))
        log(f"resumed from {ckpt} at step {start_step}")
    it = iter(loader)
    special = sorted(set(int(v) for v in sp.values()))
    repl = torch.tensor(replacement_ids(build, tokenizer), dtype=torch.int64)
    use_bf16 = device.type == "cuda" and not args.no_bf16
    autocast = (lambda: torch.autocast("cuda", dtype=torch.bfloat16)) if use_bf16 else nullcontext
    src_tokens = {}
    for s in build.get("shards", []):
        src_tokens[s["source"]] = src_tokens.get(s["source"], 0) + int(s.get("tokens", 0))
    epoch_tokens = sum(plan["source_tokens"].values()) or 1

    def checkpoint(step):
        states = ranks.gather(loader.state_dict())
        tot_src = ranks.sum_counts(seen_src)
        if rank == 0:
            state = {"optimizer": opt.state_dict(), "scheduler": sched.state_dict(), "loader": merge_states(states),
                     "source_tokens": tot_src, "tokens": sum(tot_src.values()), "args": vars(args)}
            log(f"checkpoint {save_checkpoint(args.output, step, model, state, args.keep, tokenizer, build)}")

    history: list[dict] = []
    t_start = t0 = time.perf_counter()
    win_tokens = 0
    model.train()
    step = saved = start_step
    first_batch_s = None
    jsonl = open(args.log_jsonl, "a") if (args.log_jsonl and rank == 0) else None
    while step < total or args.epochs is not None:
        micro = []
        for _ in range(args.grad_accum):
            try:
                micro.append(next(it))
            except StopIteration:
                break
        if step == start_step:
            first_batch_s = max(ranks.gather(time.perf_counter() - t_start))
        n = int(ranks.reduce([len(micro)], "min")[0])  # every rank takes part, data or not: no rank waits alone
        if n == 0:
            break
        ended, micro = n < args.grad_accum, micro[:n]
        lr = opt.param_groups[0]["lr"]
        masked = []
        for m_i, b in enumerate(micro):
            inp, labels = mask_tokens(b["input_ids"], mask_id=int(sp["mask"]), special_ids=special, replace_ids=repl,
                                      rate=args.mask_rate, generator=step_generator(args.seed, step, m_i, rank))
            idx = torch.nonzero(labels != IGNORE_INDEX).reshape(-1)
            masked.append((inp, idx, labels[idx]))
        denom = max(ranks.reduce([sum(int(i.numel()) for _, i, _ in masked)])[0], 1.0)
        loss_sum = torch.zeros((), dtype=torch.float64, device=device)
        h = hashlib.sha1()
        for m_i, (b, (inp, idx, lab)) in enumerate(zip(micro, masked)):
            ctx = net.no_sync() if (ranks.on and m_i < len(micro) - 1) else nullcontext()
            with ctx, autocast():
                ls = net(inp.to(device, non_blocking=True), b["position_ids"].to(device, non_blocking=True),
                         b["cu_seqlens"].to(device, non_blocking=True), int(b["max_seqlen"]),
                         idx.to(device, non_blocking=True), lab.to(device, non_blocking=True), b["cu_seqlens"])
                ((ls / denom) * world).backward()
            loss_sum += ls.detach().double()
            h.update(b["input_ids"].numpy().tobytes())
            for s, k in b["source_tokens"].items():
                seen_src[s] = seen_src.get(s, 0) + k
            seen_tokens += b["num_tokens"]
            win_tokens += b["num_tokens"]
        if args.max_grad_norm:
            torch.nn.utils.clip_grad_norm_(model.parameters(), args.max_grad_norm)
        opt.step()
        sched.step()
        opt.zero_grad(set_to_none=True)
        step += 1
        loss = ranks.reduce([float(loss_sum)])[0] / denom  # the step's one wait for the device
        rec = {"step": step, "loss": loss, "lr": lr, "masked": int(denom), "tokens": seen_tokens,
               "rows_sha1": h.hexdigest()[:16]}
        history.append(rec)
        if jsonl:
            jsonl.write(json.dumps(rec) + "\n")
            jsonl.flush()
        if step % args.log_every == 0 or step == total or step == start_step + 1:
            dt = time.perf_counter() - t0
            all_src = ranks.sum_counts(seen_src)
            tps = ranks.reduce([win_tokens])[0] / max(dt, 1e-9)
            done = sum(all_src.values())
            eta = (time.perf_counter() - t_start) / (step - start_step) * max(total - step, 0)
            per_src = " ".join(f"{k} {v / max(src_tokens.get(k, 1), 1):.2f}" for k, v in sorted(all_src.items()))
            log(f"step {step}/{total} loss {loss:.4f} lr {lr:.2e} tok/s {tps:,.0f} tokens {done} "
                f"epoch {done / epoch_tokens:.3f} | source epochs: {per_src} | eta {_eta(eta)}"
                + (f" | first batch on every rank within {first_batch_s:.1f}s" if step == start_step + 1 else ""))
            t0, win_tokens = time.perf_counter(), 0
        if args.save_every and step % args.save_every == 0 and step < total:
            checkpoint(step)
            saved = step
        if (args.stop_after is not None and step >= args.stop_after) or ended:
            break
    if step > saved:
        checkpoint(step)
    if jsonl:
        jsonl.close()
    # the DDP reducer holds the process group: release it while the group is still registered, so the
    # group is destroyed by destroy_process_group (which lets go of the GIL), not by the reducer
    net = obj = ls = None  # noqa: F841
    if args.compile:
        torch._dynamo.reset()  # compiled graphs hold the module too
    gc.collect()
    ranks.close()
    return {"history": history, "step": step, "source_tokens": seen_src, "tokens": seen_tokens,
            "first_batch_s": first_batch_s if history else None}
