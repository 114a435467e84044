"""What only a GPU can check about the trainer, in one run of a few minutes.

    python -m bench.gpu_check                 # on a CUDA machine (README install + pip install flash-attn)
    python -m bench.gpu_check --cpu           # reduced smoke run on CPU (tiny models, no flash checks)

Checks, one table at the end, exit status 1 when any check fails:

1. every attention layer takes the flash-attn varlen path in bf16 (ModernBERT-base config), and the
   forward makes no host-device synchronisation (``torch.cuda.set_sync_debug_mode("error")``);
2. packed rows give every document (all longer than 128 tokens, so sliding windows matter) the logits
   it gets alone: flash bf16 packed vs fp32 SDPA per document;
3. tokens/s and peak memory of training steps for the base and large configs at ``--token-budget``;
4. a run stopped at step N and resumed reads the same rows and reproduces the losses of an
   uninterrupted run.

Flash checks are skipped, with a line saying so, when flash-attn is not importable or there is no GPU.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time

BASE = {"hidden_size": 768, "num_hidden_layers": 22, "num_attention_heads": 12, "intermediate_size": 1152,
        "global_attn_every_n_layers": 3, "local_attention": 128, "vocab_size": 50368}
LARGE = {"hidden_size": 1024, "num_hidden_layers": 28, "num_attention_heads": 16, "intermediate_size": 2624,
         "global_attn_every_n_layers": 3, "local_attention": 128, "vocab_size": 50368}
TINY = {"hidden_size": 64, "num_hidden_layers": 3, "num_attention_heads": 4, "intermediate_size": 128,
        "global_attn_every_n_layers": 3, "local_attention": 128, "vocab_size": 1024}
SPECIAL = dict(pad_token_id=3, cls_token_id=1, sep_token_id=2, bos_token_id=1, eos_token_id=2)


class Table:
    def __init__(self):
        self.rows: list[tuple[str, str, str]] = []

    def add(self, check: str, status: str, detail: str) -> None:
        self.rows.append((check, status, detail))
        print(f"  {status:4s} {check}: {detail}", flush=True)

    @property
    def failed(self) -> bool:
        return any(s == "FAIL" for _, s, _ in self.rows)

    def print(self) -> None:
        w = max(len(c) for c, _, _ in self.rows)
        print("\n" + f"{'check':{w}s}  status  result")
        print("-" * (w + 60))
        for c, s, d in self.rows:
            print(f"{c:{w}s}  {s:6s}  {d}")


def model_of(fields: dict, attn: str, max_pos: int):
    from transformers import ModernBertConfig, ModernBertForMaskedLM

    cfg = ModernBertConfig(**fields, **SPECIAL, max_position_embeddings=max_pos)
    m = ModernBertForMaskedLM(cfg)
    m.config._attn_implementation = attn
    return m


def packed_docs(lens: list[int], vocab: int, seed: int = 0):
    import torch

    from engine.train.varlen_attention import cu_seqlens_from_lens, position_ids_from_cu_seqlens

    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(5, vocab, (sum(lens),), generator=g)
    cu = cu_seqlens_from_lens(lens)
    ids[cu[:-1].long()] = 1
    ids[cu[1:].long() - 1] = 2
    return ids, cu, position_ids_from_cu_seqlens(cu)


def check_flash_path(t: Table, dev, flash: bool) -> None:
    import torch

    from engine.train.varlen_attention import attention_calls, no_mask_mapping, register_modernbert_attention

    if not flash:
        t.add("flash path, every layer", "SKIP", "flash-attn not importable or no CUDA device")
        t.add("no host sync in the forward", "SKIP", "needs CUDA and flash-attn")
        return
    m = model_of(BASE, register_modernbert_attention("auto"), 8192).to(dev).eval()
    ids, cu, pos = packed_docs([700, 300, 1500, 129, 2000], BASE["vocab_size"])
    args = dict(input_ids=ids[None].to(dev), position_ids=pos[None].to(dev), attention_mask=no_mask_mapping(),
                doc_cu_seqlens=cu.to(dev), doc_max_seqlen=2000, doc_cu_seqlens_cpu=cu)
    attention_calls(reset=True)
    with torch.no_grad(), torch.autocast("cuda", dtype=torch.bfloat16):
        m.model(**args)
    calls = attention_calls(reset=True)
    torch.cuda.synchronize()
    sync_error = None
    torch.cuda.set_sync_debug_mode("error")  # any host-device synchronisation in the forward raises
    try:
        with torch.no_grad(), torch.autocast("cuda", dtype=torch.bfloat16):
            m.model(**args)
    except RuntimeError as e:
        sync_error = str(e).splitlines()[0][:120]
    finally:
        torch.cuda.set_sync_debug_mode("default")
    t.add("no host sync in the forward", "FAIL" if sync_error else "PASS",
          sync_error or "torch.cuda.set_sync_debug_mode('error') raised nothing (flash path, bf16)")
    ok = calls["flash"] == BASE["num_hidden_layers"] and calls["sdpa"] == 0 and calls["loop"] == 0
    t.add("flash path, every layer", "PASS" if ok else "FAIL",
          f"flash {calls['flash']}/{BASE['num_hidden_layers']} layers, sdpa {calls['sdpa']}, loop {calls['loop']} (bf16)")


def check_equivalence(t: Table, dev, flash: bool, cpu: bool) -> None:
    import torch

    from engine.train.varlen_attention import no_mask_mapping, register_modernbert_attention

    fields = TINY if cpu else BASE
    lens = [129, 300, 257, 700] if cpu else [129, 300, 1500, 257, 2000, 700]
    torch.manual_seed(0)
    stock = model_of(fields, "sdpa", 4096).to(dev).eval()
    backend = "flash" if flash else "sdpa"
    packed = model_of(fields, register_modernbert_attention(backend), 4096).to(dev).eval()
    packed.load_state_dict(stock.state_dict())
    ids, cu, pos = packed_docs(lens, fields["vocab_size"], 1)
    ctx = torch.autocast("cuda", dtype=torch.bfloat16) if flash else torch.autocast("cpu", enabled=False)
    with torch.no_grad():
        with ctx:
            out = packed(input_ids=ids[None].to(dev), position_ids=pos[None].to(dev), attention_mask=no_mask_mapping(),
                         doc_cu_seqlens=cu.to(dev), doc_max_seqlen=max(lens), doc_cu_seqlens_cpu=cu).logits[0].float()
        ref = torch.cat([stock(input_ids=ids[None, a:b].to(dev)).logits[0].float()
                         for a, b in zip(cu[:-1].tolist(), cu[1:].tolist())])
    diff = (out - ref).abs()
    top1 = (out.argmax(-1) == ref.argmax(-1)).float().mean().item()
    rel = (diff.mean() / ref.abs().mean()).item()
    ok = (rel < 0.02 and top1 > 0.97) if flash else diff.max().item() < 1e-4
    label = "flash bf16 packed vs fp32 SDPA alone" if flash else "SDPA fp32 packed vs fp32 SDPA alone"
    t.add("packed == per-document logits", "PASS" if ok else "FAIL",
          f"{label}, docs {lens}: max |diff| {diff.max().item():.2e}, mean rel {rel:.2e}, top-1 agree {top1:.4f}")


def check_throughput(t: Table, dev, name: str, fields: dict, budget: int, steps: int) -> None:
    import torch

    from engine.train.model import packed_mlm
    from engine.train.optim import make_optimizer
    from engine.train.varlen_attention import register_modernbert_attention

    cuda = dev.type == "cuda"
    m = model_of(fields, register_modernbert_attention("auto"), max(budget, 1024)).to(dev).train()
    net = packed_mlm(m)
    opt = make_optimizer("stableadamw", m, lr=8e-4, betas=(0.9, 0.98), eps=1e-6, weight_decay=1e-5, device_type=dev.type)
    lens, left = [], budget
    while left:
        lens.append(min(left, 1024))
        left -= lens[-1]
    ids, cu, pos = packed_docs(lens, fields["vocab_size"], 2)
    idx = torch.arange(0, budget, 3)
    args = (ids.to(dev), pos.to(dev), cu.to(dev), max(lens), idx.to(dev), ids[idx].to(dev), cu)
    if cuda:
        torch.cuda.reset_peak_memory_stats()
    ctx = (lambda: torch.autocast("cuda", dtype=torch.bfloat16)) if cuda else (lambda: torch.autocast("cpu", enabled=False))
    times = []
    for i in range(steps + 2):
        if cuda:
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        with ctx():
            loss = net(*args)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(m.parameters(), 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)
        if cuda:
            torch.cuda.synchronize()
        if i >= 2:
            times.append(time.perf_counter() - t0)
    tps = budget * len(times) / sum(times)
    peak = f"{torch.cuda.max_memory_allocated() / 2**30:.1f} GiB peak" if cuda else "peak memory: CUDA only"
    ok = bool(torch.isfinite(loss).item())
    t.add(f"throughput {name}", "PASS" if ok else "FAIL",
          f"{tps:,.0f} tokens/s, {peak}, token budget {budget}, {sum(p.numel() for p in m.parameters()) / 1e6:.1f}M params")


def check_resume(t: Table, n: int, cpu: bool) -> None:
    import math

    from bench.loader import synth_build
    from engine.train import trainer

    with tempfile.TemporaryDirectory(prefix="gpu-check-") as tmp:
        seq = 512 if cpu else 2048
        out = synth_build(os.path.join(tmp, "out"), sources=3, shards=1, rows=16 if cpu else 64, seq=seq,
                          vocab=TINY["vocab_size"] if cpu else 50368)
        cfg = os.path.join(tmp, "cfg.json")
        with open(cfg, "w") as f:
            f.write(__import__("json").dumps(TINY if cpu else {**BASE, "num_hidden_layers": 4}))
        common = ["--shards", out, "--model-config", cfg, "--steps", str(2 * n), "--token-budget", str(2 * seq),
                  "--warmup-steps", "2", "--quiet", "--num-workers", "2", "--seed", "1"]
        full = trainer.main(common + ["--output", os.path.join(tmp, "a")])["history"]
        part = trainer.main(common + ["--output", os.path.join(tmp, "b"), "--stop-after", str(n)])["history"]
        rest = trainer.main(common + ["--output", os.path.join(tmp, "b"), "--resume"])["history"]
    both = part + rest
    rows = [h["rows_sha1"] for h in full] == [h["rows_sha1"] for h in both]
    tol = 1e-5 if cpu else 2e-2  # flash-attn's backward is not bitwise deterministic
    worst = max(abs(a["loss"] - b["loss"]) / max(abs(a["loss"]), 1e-9) for a, b in zip(full, both)) if both else math.inf
    ok = rows and len(both) == len(full) == 2 * n and worst <= tol
    t.add("stop at step N, resume", "PASS" if ok else "FAIL",
          f"N={n}: rows {'identical' if rows else 'DIFFER'} over {len(full)} steps, max rel loss diff {worst:.1e} (tol {tol:g})")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.gpu_check", description=__doc__.split("\n\n")[0])
    p.add_argument("--cpu", action="store_true", help="reduced smoke run on CPU (also chosen when there is no CUDA device)")
    p.add_argument("--token-budget", type=int, default=8192)
    p.add_argument("--steps", type=int, default=10, help="timed training steps per config")
    p.add_argument("--resume-at", type=int, default=4, help="N of the stop/resume check")
    a = p.parse_args(argv)
    import torch

    from engine.train.varlen_attention import _flash_varlen

    cpu = a.cpu or not torch.cuda.is_available()
    dev = torch.device("cpu" if cpu else "cuda")
    flash = not cpu and _flash_varlen is not None
    print(f"gpu_check on {torch.cuda.get_device_name() if not cpu else 'CPU (reduced smoke mode: tiny models, no flash)'}; "
          f"torch {torch.__version__}", flush=True)
    if not flash:
        print("SKIP flash-attn checks: " + ("no CUDA device" if cpu else "flash-attn is not installed (pip install flash-attn)"))
    t = Table()
    check_flash_path(t, dev, flash)
    check_equivalence(t, dev, flash, cpu)
    if cpu:
        check_throughput(t, dev, "tiny (CPU)", TINY, min(a.token_budget, 1024), min(a.steps, 3))
    else:
        check_throughput(t, dev, "base", BASE, a.token_budget, a.steps)
        check_throughput(t, dev, "large", LARGE, a.token_budget, a.steps)
    check_resume(t, 2 if cpu else a.resume_at, cpu)
    t.print()
    return 1 if t.failed else 0


if __name__ == "__main__":
    sys.exit(main())
