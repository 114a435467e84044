"""Trainer checkpoints: ``ckpt-<step>`` folders holding the model (transformers format), the build's
tokenizer (so ``AutoTokenizer.from_pretrained(ckpt)`` works) and ``trainer_state.pt`` (optimizer,
scheduler, merged loader state, counters; plain containers, loadable with ``weights_only=True``)."""
from __future__ import annotations

import os
import shutil


def ckpt_dirs(out: str) -> list[str]:
    """Checkpoint folders of ``out``, oldest step first (numeric order)."""
    if not os.path.isdir(out):
        return []
    steps = []
    for d in os.listdir(out):
        if d.startswith("ckpt-") and not d.endswith(".tmp") and d[5:].isdigit():
            steps.append((int(d[5:]), d))
    return [os.path.join(out, d) for _, d in sorted(steps)]


def save_tokenizer(path: str, tokenizer, build: dict) -> None:
    """The build's tokenizer as a transformers fast tokenizer (tokenizer.json + config)."""
    from transformers import PreTrainedTokenizerFast

    sp = (build.get("tokenizer") or {}).get("special_ids") or {}
    inv = {i: t for t, i in tokenizer.tokenizer.get_vocab(with_added_tokens=True).items()}
    names = {f"{role}_token": inv[i] for role, i in sp.items() if i in inv and role in ("cls", "sep", "pad", "mask", "unk")}
    PreTrainedTokenizerFast(tokenizer_object=tokenizer.tokenizer, **names).save_pretrained(path)


def save_checkpoint(out: str, step: int, model, state: dict, keep: int, tokenizer=None, build: dict | None = None) -> str:
    import torch

    final = os.path.join(out, f"ckpt-{step:06d}")
    tmp = final + ".tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    os.makedirs(tmp)
    model.save_pretrained(tmp)
    if tokenizer is not None:
        save_tokenizer(tmp, tokenizer, build or {})
    torch.save({"step": step, **state}, os.path.join(tmp, "trainer_state.pt"))
    shutil.rmtree(final, ignore_errors=True)
    os.replace(tmp, final)
    with open(os.path.join(out, "latest.tmp"), "w") as f:
        f.write(os.path.basename(final))
    os.replace(os.path.join(out, "latest.tmp"), os.path.join(out, "latest"))
    for old in ckpt_dirs(out)[:-keep] if keep > 0 else []:
        shutil.rmtree(old, ignore_errors=True)
    return final


def latest_checkpoint(out: str) -> str | None:
    p = os.path.join(out, "latest")
    if os.path.exists(p):
        d = os.path.join(out, open(p).read().strip())
        if os.path.isdir(d):
            return d
    d = ckpt_dirs(out)
    return d[-1] if d else None


def load_trainer_state(ckpt: str) -> dict:
    import torch

    return torch.load(os.path.join(ckpt, "trainer_state.pt"), map_location="cpu", weights_only=True)
