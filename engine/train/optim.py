"""Optimizer and learning-rate schedule of the trainer.

``stableadamw`` (the default) is optimi's StableAdamW with fully decoupled weight decay: each step
multiplies a parameter by ``1 - weight_decay * lr_t / lr_max``, so the decay follows the schedule's
shape but is not scaled by the learning rate's magnitude.  With the default betas ``0.9,0.98``, eps
``1e-6`` and weight decay ``1e-5`` (none on biases and norms) this is ModernBERT's optimizer.
``adamw`` is ``torch.optim.AdamW``, whose decay is multiplied by the learning rate: at lr 8e-4 the
same ``--weight-decay`` is 1250x weaker; ``decoupled_to_adamw`` gives the equivalent AdamW value.

The schedule is ``transformers.get_wsd_schedule`` with a 1-sqrt decay (Hägele et al. 2024): linear
warmup from 0, constant, then ``1 - sqrt(progress)`` down to ``min_lr`` over the last decay steps.
"""
from __future__ import annotations

NO_DECAY = ("bias", "norm")


def param_groups(model, weight_decay: float) -> list[dict]:
    named = list(model.named_parameters())
    return [
        {"params": [p for n, p in named if not any(k in n.lower() for k in NO_DECAY)], "weight_decay": weight_decay},
        {"params": [p for n, p in named if any(k in n.lower() for k in NO_DECAY)], "weight_decay": 0.0},
    ]


def decoupled_to_adamw(weight_decay: float, lr: float) -> float:
    """The torch AdamW ``weight_decay`` that decays like a fully decoupled one at peak ``lr``."""
    return weight_decay / lr if lr else 0.0


def make_optimizer(name: str, model, *, lr: float, betas: tuple[float, float], eps: float, weight_decay: float,
                   device_type: str = "cpu"):
    import torch

    groups = param_groups(model, weight_decay)
    if name == "stableadamw":
        from optimi import StableAdamW

        return StableAdamW(groups, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, decouple_lr=True,
                           max_lr=lr, kahan_sum=False, foreach=device_type == "cuda")
    if name == "adamw":
        return torch.optim.AdamW(groups, lr=lr, betas=betas, eps=eps, fused=device_type == "cuda")
    raise ValueError(f"unknown optimizer {name!r} (stableadamw, adamw)")


def make_schedule(opt, *, total: int, warmup: int, decay: int, min_ratio: float = 0.0, kind: str = "wsd"):
    """LambdaLR: warmup, then constant (``kind="constant"``) or warmup-stable-1-sqrt-decay."""
    from transformers import get_constant_schedule_with_warmup, get_wsd_schedule

    if kind == "constant":
        return get_constant_schedule_with_warmup(opt, num_warmup_steps=warmup)
    warmup = min(warmup, total)
    decay = max(0, min(decay, total - warmup))
    return get_wsd_schedule(opt, num_warmup_steps=warmup, num_decay_steps=decay, num_training_steps=total,
                            decay_type="1-sqrt", min_lr_ratio=min_ratio)
