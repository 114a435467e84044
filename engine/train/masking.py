"""MLM masking, vectorized in torch.

Each non-special token is selected with probability ``rate`` (default 0.30, ModernBERT's rate);
a selected token becomes [MASK] with probability ``mask_frac`` (0.8), a random token with
``random_frac`` (0.1), and stays itself otherwise (0.1).  Random tokens are drawn from
``replace_ids`` (the tokenizer's real ids: no specials, no ``[unused]`` slots, none of the rows a
model vocabulary is padded with), or from the non-special ids below ``vocab_size``.  Labels hold the original id at
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
    vocab_size: int | None = None,
    special_ids: Iterable[int],
    replace_ids: torch.Tensor | Iterable[int] | None = None,
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

    if replace_ids is not None:
        pool = torch.as_tensor(replace_ids, dtype=torch.int64, device=dev).reshape(-1)
    else:
        if vocab_size is None:
            raise ValueError("give replace_ids or vocab_size")
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
    import numpy as np

    g = torch.Generator(device=device)
    # a hash of the tuple, not a linear mix: distinct (step, micro, rank) never share a stream
    state = np.random.SeedSequence([int(seed) & 0xFFFFFFFF, int(step), int(micro), int(rank)]).generate_state(2, np.uint32)
    g.manual_seed(int(state[0]) << 31 | int(state[1]) >> 1)
    return g
