"""MLM masking, vectorized in torch.

Each non-special token is selected with probability ``rate`` (default 0.30, ModernBERT's rate);
a selected token becomes [MASK] with probability ``mask_frac`` (0.8), a random non-special token
with ``random_frac`` (0.1), and stays itself otherwise (0.1).  Labels hold the original id at
selected positions and -100 everywhere else.  Special tokens are never selected.  The same
``generator`` state gives the same masking.
"""
from __future__ import annotations

from typing import Iterable

import torch

IGNORE_INDEX = -100


def mask_tokens(
    input_ids: torch.Tensor,
    *,
    mask_id: int,
    vocab_size: int,
    special_ids: Iterable[int],
    rate: float = 0.30,
    mask_frac: float = 0.8,
    random_frac: float = 0.1,
    generator: torch.Generator | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Return ``(masked_input_ids, labels)``; ``input_ids`` is not modified."""
    if not 0.0 <= rate <= 1.0:
        raise ValueError("mask rate must be in [0, 1]")
    if mask_frac < 0 or random_frac < 0 or mask_frac + random_frac > 1:
        raise ValueError("mask_frac + random_frac must be within [0, 1]")
    ids = input_ids.to(torch.int64)
    dev = ids.device
    special = torch.as_tensor(sorted(set(int(s) for s in special_ids)), dtype=torch.int64, device=dev)
    is_special = torch.isin(ids, special) if special.numel() else torch.zeros_like(ids, dtype=torch.bool)

    u = torch.rand(ids.shape, generator=generator, device=dev)
    selected = (u < rate) & ~is_special
    labels = torch.where(selected, ids, torch.full_like(ids, IGNORE_INDEX))

    action = torch.rand(ids.shape, generator=generator, device=dev)
    to_mask = selected & (action < mask_frac)
    to_random = selected & (action >= mask_frac) & (action < mask_frac + random_frac)

    # random replacements drawn from the non-special vocabulary
    allowed = torch.ones(vocab_size, dtype=torch.bool, device=dev)
    allowed[special[special < vocab_size]] = False
    pool = torch.nonzero(allowed).reshape(-1)
    pick = torch.randint(0, max(pool.numel(), 1), ids.shape, generator=generator, device=dev)
    random_tokens = pool[pick] if pool.numel() else ids

    out = torch.where(to_mask, torch.full_like(ids, mask_id), ids)
    out = torch.where(to_random, random_tokens, out)
    return out.to(input_ids.dtype if input_ids.dtype != torch.uint16 else torch.int64), labels


def step_generator(seed: int, step: int, micro: int = 0, rank: int = 0, device="cpu") -> torch.Generator:
    """A generator whose state depends only on (seed, step, micro-batch, rank): masking needs no
    checkpointed RNG state and a resumed run masks exactly like an uninterrupted one."""
    g = torch.Generator(device=device)
    g.manual_seed((seed * 1_000_003 + step * 10_007 + micro * 101 + rank) % (2**63 - 1))
    return g
