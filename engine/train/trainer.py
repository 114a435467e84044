"""Thin MLM trainer: ModernBertForMaskedLM over packed shards streamed by engine.train.stream.

    python -m engine.train --shards OUT --model-config tiny --output runs/demo --steps 300
    python -m engine.train --shards OUT --init-from runs/demo/ckpt-000300 --weights mimic_notes=1,pubmed=0 ...
    torchrun --nproc-per-node 8 -m engine.train --shards s3://bucket/build --model-config cfg.json ...

Every micro-batch is one packed sequence (rows concatenated up to ``--token-budget`` tokens) with
``cu_seqlens`` and position ids restarting per document; attention is restricted to each document
(flash-attn varlen on GPU when importable, block-diagonal SDPA otherwise, see kernels/varlen_attention.py).
Masking (kernels/masking.py) is seeded by (seed, step, micro-batch, rank), so a resumed run sees the
same rows with the same masks and reproduces the uninterrupted run's losses.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import shutil
import sys
import time
from contextlib import nullcontext
from typing import Any

TINY = {
    "hidden_size": 64, "num_hidden_layers": 2, "num_attention_heads": 4, "intermediate_size": 128,
    "global_attn_every_n_layers": 2, "local_attention": 128,
}


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m engine.train", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--shards", required=True, help="build output (path or fsspec URI) holding build.json")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--model-config", help="'tiny' or a JSON file of ModernBertConfig fields (vocab/special ids come from build.json)")
    src.add_argument("--init-from", help="a checkpoint folder of this trainer or a transformers model folder (weights only)")
    p.add_argument("--output", default="runs/train", help="checkpoint folder")
    p.add_argument("--resume", action="store_true", help="continue from the latest checkpoint in --output (model, optimizer, scheduler, loader)")
    p.add_argument("--steps", type=int, default=300, help="optimizer steps in total")
    p.add_argument("--token-budget", type=int, default=8192, help="tokens per micro-batch (one packed sequence)")
    p.add_argument("--grad-accum", type=int, default=1, help="micro-batches per optimizer step")
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--min-lr", type=float, default=0.0)
    p.add_argument("--warmup-steps", type=int, default=30)
    p.add_argument("--decay-steps", type=int, default=None, help="length of the final 1-sqrt decay (default: 10%% of --steps)")
    p.add_argument("--schedule", choices=["wsd", "constant"], default="wsd", help="warmup-stable-decay (1-sqrt) or constant after warmup")
    p.add_argument("--weight-decay", type=float, default=1e-5)
    p.add_argument("--betas", default="0.9,0.98")
    p.add_argument("--eps", type=float, default=1e-6)
    p.add_argument("--max-grad-norm", type=float, default=1.0)
    p.add_argument("--mask-rate", type=float, default=0.30)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--weights", default=None, help="source weight overrides, e.g. mimic_notes=2,pubmed=0")
    p.add_argument("--partitions", type=int, default=64, help="canonical loader partitions (keep fixed across resumes)")
    p.add_argument("--block-rows", type=int, default=128, help="rows per loader block (mixing granularity; a multiple of the build's record batch rows reads fastest)")
    p.add_argument("--shuffle-blocks", type=int, default=8)
    p.add_argument("--num-workers", type=int, default=0, help="dataloader worker processes")
    p.add_argument("--follow", action="store_true", help="stream a build that is still running")
    p.add_argument("--attn", choices=["auto", "flash", "sdpa", "loop"], default="auto", help="document-restricted attention backend")
    p.add_argument("--device", default=None, help="cuda / cpu (default: cuda when available)")
    p.add_argument("--no-bf16", action="store_true", help="disable bf16 autocast on GPU")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    p.add_argument("--log-every", type=int, default=10)
    p.add_argument("--log-jsonl", default=None, help="also append one JSON line per step here")
    p.add_argument("--save-every", type=int, default=0, help="checkpoint every N steps (0: only at the end)")
    p.add_argument("--keep", type=int, default=2, help="checkpoints to keep")
    p.add_argument("--stop-after", type=int, default=None, help="stop (with a checkpoint) after this step, as if interrupted")
    p.add_argument("--quiet", action="store_true")
    return p.parse_args(argv)


# --------------------------------------------------------------------------- schedule
def wsd_lambda(total: int, warmup: int, decay: int, min_ratio: float = 0.0, schedule: str = "wsd"):
    """LR multiplier: linear warmup, constant, then 1-sqrt decay over the last ``decay`` steps."""
    decay_start = max(warmup, total - decay)

    def f(step: int) -> float:
        if warmup and step < warmup:
            return (step + 1) / warmup
        if schedule == "constant" or step < decay_start or decay <= 0:
            return 1.0
        frac = min(1.0, (step - decay_start) / max(1, total - decay_start))
        return min_ratio + (1.0 - min_ratio) * (1.0 - math.sqrt(frac))

    return f


# --------------------------------------------------------------------------- model
def build_model(args, build: dict):
    import torch
    from transformers import ModernBertConfig, ModernBertForMaskedLM

    from engine.train.varlen_attention import register_modernbert_attention

    attn = register_modernbert_attention(args.attn)
    tok = build.get("tokenizer") or {}
    sp = tok.get("special_ids") or {}
    if args.init_from:
        path = args.init_from
        model = ModernBertForMaskedLM.from_pretrained(path)
    else:
        fields = dict(TINY) if args.model_config == "tiny" else json.load(open(args.model_config))
        fields.setdefault("max_position_embeddings", int(build.get("max_seq_len", 8192)))
        fields.setdefault("vocab_size", int(tok.get("vocab_size", 50368)))
        for k, name in (("pad_token_id", "pad"), ("cls_token_id", "cls"), ("sep_token_id", "sep"),
                        ("bos_token_id", "cls"), ("eos_token_id", "sep")):
            if name in sp:
                fields.setdefault(k, sp[name])
        torch.manual_seed(args.seed)
        model = ModernBertForMaskedLM(ModernBertConfig(**fields))
    if tok.get("vocab_size") and model.config.vocab_size < int(tok["vocab_size"]):
        raise ValueError(f"model vocab {model.config.vocab_size} < tokenizer vocab {tok['vocab_size']}")
    model.config._attn_implementation = attn
    return model


class MLMObjective:
    """forward(batch) -> (sum of token losses over masked positions, masked count), through the packed path."""

    def __init__(self, model):
        import torch

        class _Wrap(torch.nn.Module):
            def __init__(self, m):
                super().__init__()
                self.m = m

            def forward(self, input_ids, position_ids, labels, cu_seqlens, max_seqlen):
                from engine.train.varlen_attention import no_mask_mapping

                h = self.m.model(input_ids=input_ids[None], position_ids=position_ids[None],
                                 attention_mask=no_mask_mapping(), doc_cu_seqlens=cu_seqlens,
                                 doc_max_seqlen=max_seqlen).last_hidden_state[0]
                sel = labels != -100
                logits = self.m.decoder(self.m.head(h[sel]))
                return torch.nn.functional.cross_entropy(logits.float(), labels[sel], reduction="sum")

        self.module = _Wrap(model)


# --------------------------------------------------------------------------- checkpoints
def _ckpt_dirs(out: str) -> list[str]:
    if not os.path.isdir(out):
        return []
    return sorted(os.path.join(out, d) for d in os.listdir(out) if d.startswith("ckpt-") and not d.endswith(".tmp"))


def save_checkpoint(out: str, step: int, model, opt, sched, loader_state: dict, extra: dict, keep: int) -> str:
    import torch

    final = os.path.join(out, f"ckpt-{step:06d}")
    tmp = final + ".tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    os.makedirs(tmp)
    model.save_pretrained(tmp)
    torch.save({"step": step, "optimizer": opt.state_dict(), "scheduler": sched.state_dict(),
                "loader": loader_state, **extra}, os.path.join(tmp, "trainer_state.pt"))
    shutil.rmtree(final, ignore_errors=True)
    os.replace(tmp, final)
    with open(os.path.join(out, "latest.tmp"), "w") as f:
        f.write(os.path.basename(final))
    os.replace(os.path.join(out, "latest.tmp"), os.path.join(out, "latest"))
    for old in _ckpt_dirs(out)[:-keep] if keep > 0 else []:
        shutil.rmtree(old, ignore_errors=True)
    return final


def latest_checkpoint(out: str) -> str | None:
    p = os.path.join(out, "latest")
    if os.path.exists(p):
        d = os.path.join(out, open(p).read().strip())
        if os.path.isdir(d):
            return d
    d = _ckpt_dirs(out)
    return d[-1] if d else None


# --------------------------------------------------------------------------- main
def main(argv=None) -> dict[str, Any]:
    args = parse_args(argv)
    import torch
    import torch.distributed as dist

    from engine.train.stream import ShardStream, StreamLoader, merge_states, read_build
    from engine.train.masking import mask_tokens, step_generator

    if args.threads:
        torch.set_num_threads(args.threads)
    world = int(os.environ.get("WORLD_SIZE", 1))
    distributed = world > 1
    device = torch.device(args.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    if distributed:
        if device.type == "cuda":
            torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", 0)))
            device = torch.device("cuda", torch.cuda.current_device())
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    rank = dist.get_rank() if distributed else 0
    log = (lambda *a: None) if (args.quiet or rank != 0) else (lambda *a: print(*a, flush=True))

    build = read_build(args.shards)
    sp = (build.get("tokenizer") or {}).get("special_ids") or {}
    if "mask" not in sp:
        raise ValueError("build.json tokenizer.special_ids has no 'mask' id")
    ckpt = latest_checkpoint(args.output) if args.resume else None
    if ckpt:
        args.init_from, args.model_config = ckpt, None
    model = build_model(args, build).to(device)
    vocab = model.config.vocab_size
    obj = MLMObjective(model).module
    net = torch.nn.parallel.DistributedDataParallel(obj, device_ids=[device.index] if device.type == "cuda" else None) if distributed else obj

    decay_names = ("bias", "norm")
    params = [
        {"params": [p for n, p in model.named_parameters() if not any(k in n.lower() for k in decay_names)], "weight_decay": args.weight_decay},
        {"params": [p for n, p in model.named_parameters() if any(k in n.lower() for k in decay_names)], "weight_decay": 0.0},
    ]
    betas = tuple(float(x) for x in args.betas.split(","))
    opt = torch.optim.AdamW(params, lr=args.lr, betas=betas, eps=args.eps, fused=device.type == "cuda")
    decay = args.decay_steps if args.decay_steps is not None else max(1, args.steps // 10)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, wsd_lambda(args.steps, args.warmup_steps, decay,
                                                              args.min_lr / args.lr if args.lr else 0.0, args.schedule))

    ds = ShardStream(args.shards, weights=args.weights, seed=args.seed, partitions=args.partitions,
                     block_rows=args.block_rows, shuffle_blocks=args.shuffle_blocks, token_budget=args.token_budget,
                     follow=args.follow)
    start_step, seen_src, seen_tokens, loader_ckpt = 0, {}, 0, None
    if ckpt:
        st = torch.load(os.path.join(ckpt, "trainer_state.pt"), map_location="cpu", weights_only=False)
        opt.load_state_dict(st["optimizer"])
        sched.load_state_dict(st["scheduler"])
        loader_ckpt = st["loader"]
        start_step = int(st["step"])
        if rank == 0:  # totals live on rank 0; the others count from zero (logs and checkpoints sum ranks)
            seen_src, seen_tokens = dict(st.get("source_tokens", {})), int(st.get("tokens", 0))
        log(f"resumed from {ckpt} at step {start_step}")
    loader = StreamLoader(ds, num_workers=args.num_workers, pin_memory=device.type == "cuda")
    if loader_ckpt is not None:
        loader.load_state_dict(loader_ckpt)
    it = iter(loader)
    special = sorted(set(int(v) for v in sp.values()))
    use_bf16 = device.type == "cuda" and not args.no_bf16
    autocast = (lambda: torch.autocast("cuda", dtype=torch.bfloat16)) if use_bf16 else nullcontext

    def loader_state() -> dict:
        st = loader.state_dict()
        if distributed:
            states = [None] * world
            dist.all_gather_object(states, st)
            st = merge_states(states)
        return st

    def checkpoint(step):
        st = loader_state()
        tot_src, tot_tokens = dict(seen_src), seen_tokens
        if distributed:  # consumed-token counters summed over ranks
            got = [None] * world
            dist.all_gather_object(got, (seen_src, seen_tokens))
            tot_src, tot_tokens = {}, 0
            for s_, t_ in got:
                tot_tokens += t_
                for k, v in s_.items():
                    tot_src[k] = tot_src.get(k, 0) + v
        if rank == 0:
            path = save_checkpoint(args.output, step, model, opt, sched, st,
                                   {"source_tokens": tot_src, "tokens": tot_tokens, "args": vars(args)}, args.keep)
            log(f"checkpoint {path}")
        if distributed:
            dist.barrier()

    history: list[dict] = []
    t0, win_tokens = time.perf_counter(), 0
    model.train()
    step = start_step
    ended = False
    jsonl = open(args.log_jsonl, "a") if (args.log_jsonl and rank == 0) else None
    while step < args.steps:
        micro = []
        for _ in range(args.grad_accum):
            try:
                micro.append(next(it))
            except StopIteration:
                ended = True
                break
        if not micro:
            break
        masked = []
        for m_i, b in enumerate(micro):
            g = step_generator(args.seed, step, m_i, rank)
            inp, labels = mask_tokens(b["input_ids"], mask_id=int(sp["mask"]), vocab_size=vocab, special_ids=special,
                                      rate=args.mask_rate, generator=g)
            masked.append((inp, labels))
        n_local = sum(int((lab != -100).sum()) for _, lab in masked)
        n_all = torch.tensor([n_local], dtype=torch.float64, device=device)
        if distributed:
            dist.all_reduce(n_all)
        denom = max(float(n_all.item()), 1.0)
        loss_sum = 0.0
        h = hashlib.sha1()
        for m_i, (b, (inp, labels)) in enumerate(zip(micro, masked)):
            sync = (not distributed) or m_i == len(micro) - 1
            ctx = nullcontext() if sync else net.no_sync()
            with ctx, autocast():
                ls = net(inp.to(device, non_blocking=True), b["position_ids"].to(device, non_blocking=True),
                         labels.to(device, non_blocking=True), b["cu_seqlens"].to(device, non_blocking=True),
                         int(b["max_seqlen"]))
                ((ls / denom) * (world if distributed else 1)).backward()
            loss_sum += float(ls.detach())
            h.update(b["input_ids"].numpy().tobytes())
            for s, n in b["source_tokens"].items():
                seen_src[s] = seen_src.get(s, 0) + n
            seen_tokens += b["num_tokens"]
            win_tokens += b["num_tokens"]
        if args.max_grad_norm:
            torch.nn.utils.clip_grad_norm_(model.parameters(), args.max_grad_norm)
        opt.step()
        sched.step()
        opt.zero_grad(set_to_none=True)
        step += 1
        lt = torch.tensor([loss_sum], dtype=torch.float64, device=device)
        if distributed:
            dist.all_reduce(lt)
        loss = float(lt.item()) / denom
        rec = {"step": step, "loss": loss, "lr": sched.get_last_lr()[0], "masked": int(denom),
               "tokens": seen_tokens, "rows_sha1": h.hexdigest()[:16]}
        history.append(rec)
        if jsonl:
            jsonl.write(json.dumps(rec) + "\n")
            jsonl.flush()
        if step % args.log_every == 0 or step == args.steps or step == start_step + 1:
            dt = time.perf_counter() - t0
            all_src, all_win = dict(seen_src), win_tokens
            if distributed:  # totals over ranks (every rank reaches this line at the same step)
                got = [None] * world
                dist.all_gather_object(got, (seen_src, win_tokens))
                all_src, all_win = {}, 0
                for s_, w_ in got:
                    all_win += w_
                    for k, v in s_.items():
                        all_src[k] = all_src.get(k, 0) + v
            tps = all_win / max(dt, 1e-9)
            src = " ".join(f"{k}={v}" for k, v in sorted(all_src.items()))
            log(f"step {step} loss {loss:.4f} lr {rec['lr']:.2e} tok/s {tps:,.0f} tokens {sum(all_src.values())} | {src}")
            t0, win_tokens = time.perf_counter(), 0
        if args.save_every and step % args.save_every == 0 and step < args.steps:
            checkpoint(step)
        if args.stop_after is not None and step >= args.stop_after:
            break
        if ended:
            break
    if step > start_step:
        checkpoint(step)
    if jsonl:
        jsonl.close()
    if distributed:
        dist.destroy_process_group()
    return {"history": history, "step": step, "source_tokens": seen_src, "tokens": seen_tokens}
