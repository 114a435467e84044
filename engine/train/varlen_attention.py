"""Document-restricted ("varlen") attention over packed sequences.

Packed rows hold several documents back to back; ``cu_seqlens`` (int32, ``[0, l0, l0+l1, ...]``)
marks where each one starts.  A token may attend only to tokens of its own document
(optionally also within a bidirectional sliding window ``|i - j| <= window``).

Backends of :func:`varlen_attention` (``q``, ``k``, ``v`` in flash-attn's layout ``(total, heads, dim)``):

* ``"flash"``: ``flash_attn.flash_attn_varlen_func`` (CUDA, fp16/bf16), used by ``"auto"`` when importable.
* ``"sdpa"``: PyTorch ``scaled_dot_product_attention`` with a block-diagonal boolean mask built from
  ``cu_seqlens``.  Documents are grouped into chunks of at most ``chunk_tokens`` tokens (default: the
  longest document; never split), so the masks are ``chunk x chunk``, not ``total x total``.
* ``"loop"``: one unmasked SDPA call per document (what varlen kernels compute), for checks.

:func:`register_modernbert_attention` plugs this into transformers' attention interface under the
name ``"doc_varlen"``: ModernBERT then receives ``doc_cu_seqlens`` / ``doc_max_seqlen`` keyword
arguments on its forward and never lets documents of a packed row attend to each other.
"""
from __future__ import annotations

import math
from typing import Sequence

import torch
import torch.nn.functional as F

try:  # optional: only on CUDA machines with flash-attn built
    from flash_attn import flash_attn_varlen_func as _flash_varlen  # type: ignore
except Exception:  # pragma: no cover - not installable here
    _flash_varlen = None

ATTN_NAME = "doc_varlen"


def flash_attn_available() -> bool:
    return _flash_varlen is not None and torch.cuda.is_available()


# ---------------------------------------------------------------- cu_seqlens helpers
def cu_seqlens_from_lens(lens: Sequence[int] | torch.Tensor, device=None) -> torch.Tensor:
    """``[0, l0, l0+l1, ...]`` as int32 (flash-attn's ``cu_seqlens``)."""
    lens_t = torch.as_tensor(lens, dtype=torch.int32, device=device).reshape(-1)
    out = torch.zeros(lens_t.numel() + 1, dtype=torch.int32, device=lens_t.device)
    torch.cumsum(lens_t, 0, out=out[1:])
    return out


def segment_ids(cu_seqlens: torch.Tensor, total: int | None = None) -> torch.Tensor:
    """Document index of every token position (int64, length ``total``)."""
    cu = cu_seqlens.to(torch.int64)
    total = int(cu[-1]) if total is None else total
    lens = cu[1:] - cu[:-1]
    return torch.repeat_interleave(torch.arange(lens.numel(), device=cu.device), lens, output_size=total)


def position_ids_from_cu_seqlens(cu_seqlens: torch.Tensor) -> torch.Tensor:
    """Positions restarting at 0 at every document start."""
    cu = cu_seqlens.to(torch.int64)
    seg = segment_ids(cu)
    return torch.arange(seg.numel(), device=cu.device) - cu[:-1][seg]


def band_mask(n: int, window: int, device=None) -> torch.Tensor:
    """Boolean ``(n, n)`` band ``|i - j| <= window``, built without an integer distance matrix."""
    return torch.ones(n, n, dtype=torch.bool, device=device).tril_(window).triu_(-window)


def block_diagonal_mask(cu_seqlens: torch.Tensor, window: int | None = None) -> torch.Tensor:
    """Boolean ``(total, total)`` mask, True where query i may attend key j (same document
    and, with ``window``, ``|i - j| <= window``)."""
    seg = segment_ids(cu_seqlens)
    mask = seg[:, None] == seg[None, :]
    if window is not None:
        mask &= band_mask(seg.numel(), window, seg.device)
    return mask


def cu_seqlens_from_mask(mask: torch.Tensor) -> torch.Tensor:
    """Inverse of :func:`block_diagonal_mask` (without window): document starts of a block-diagonal mask."""
    if mask.dim() != 2 or mask.shape[0] != mask.shape[1]:
        raise ValueError("expected a square (total, total) mask")
    n = mask.shape[0]
    if n == 0:
        return torch.zeros(1, dtype=torch.int32, device=mask.device)
    # position i starts a new document when it cannot see position i-1
    idx = torch.arange(1, n, device=mask.device)
    starts = torch.nonzero(~mask[idx, idx - 1]).reshape(-1) + 1
    zero = torch.zeros(1, dtype=starts.dtype, device=mask.device)
    end = torch.full((1,), n, dtype=starts.dtype, device=mask.device)
    cu = torch.cat([zero, starts, end]).to(torch.int32)
    if not torch.equal(block_diagonal_mask(cu), mask.bool()):
        raise ValueError("mask is not block-diagonal")
    return cu


# ---------------------------------------------------------------- attention
def _group_documents(lens: list[int], chunk_tokens: int) -> list[tuple[int, int]]:
    """Consecutive document index ranges ``[a, b)`` whose total length is at most ``chunk_tokens``
    (a longer document gets a group of its own)."""
    groups, a, acc = [], 0, 0
    for i, n in enumerate(lens):
        if i > a and acc + n > chunk_tokens:
            groups.append((a, i))
            a, acc = i, 0
        acc += n
    if a < len(lens):
        groups.append((a, len(lens)))
    return groups


_MASKS: dict = {}  # the layers of one forward share their masks (a few entries, newest kept)


def _group_masks(cu: list[int], window, chunk_tokens: int, device):
    key = (tuple(cu), window, chunk_tokens, str(device))
    hit = _MASKS.get(key)
    if hit is not None:
        return hit
    lens = [cu[i + 1] - cu[i] for i in range(len(cu) - 1)]
    groups = _group_documents(lens, max(chunk_tokens, 1))
    spans = [(cu[a], cu[b]) for a, b in groups]
    L = max(e - s for s, e in spans)
    mask = torch.zeros(len(spans), L, L, dtype=torch.bool, device=device)
    eye = torch.eye(L, dtype=torch.bool, device=device)
    for g, ((a, b), (s, e)) in enumerate(zip(groups, spans)):
        n = e - s
        local = cu_seqlens_from_lens(lens[a:b], device=device)
        mask[g, :n, :n] = block_diagonal_mask(local, window)
        mask[g, n:] = eye[n:]  # padded queries see themselves only (no NaN); their output is dropped
    if len(_MASKS) >= 4:
        _MASKS.pop(next(iter(_MASKS)))
    _MASKS[key] = (spans, L, mask)
    return _MASKS[key]


def _sdpa_masked(q, k, v, cu_seqlens, scale, window, dropout_p, chunk_tokens, cu_host=None):
    total, heads, dim = q.shape
    cu = cu_host if cu_host is not None else cu_seqlens.to(torch.int64).tolist()
    spans, L, mask = _group_masks(cu, window, chunk_tokens, q.device)
    G = len(spans)
    qg = q.new_zeros(G, L, heads, dim)
    kg = k.new_zeros(G, L, heads, k.shape[-1])
    vg = v.new_zeros(G, L, heads, v.shape[-1])
    for g, (s, e) in enumerate(spans):
        n = e - s
        qg[g, :n], kg[g, :n], vg[g, :n] = q[s:e], k[s:e], v[s:e]
    out = F.scaled_dot_product_attention(
        qg.transpose(1, 2), kg.transpose(1, 2), vg.transpose(1, 2),
        attn_mask=mask[:, None], dropout_p=dropout_p, scale=scale,
    ).transpose(1, 2)
    return torch.cat([out[g, : e - s] for g, (s, e) in enumerate(spans)], 0)


def _sdpa_loop(q, k, v, cu_seqlens, scale, window, dropout_p):
    cu = cu_seqlens.to(torch.int64).tolist()
    outs = []
    for i in range(len(cu) - 1):
        s, e = cu[i], cu[i + 1]
        mask = None if window is None else band_mask(e - s, window, q.device)
        o = F.scaled_dot_product_attention(
            q[s:e].transpose(0, 1), k[s:e].transpose(0, 1), v[s:e].transpose(0, 1),
            attn_mask=mask, dropout_p=dropout_p, scale=scale,
        )
        outs.append(o.transpose(0, 1))
    return torch.cat(outs, 0) if outs else q.new_zeros(q.shape)


def varlen_attention(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    cu_seqlens: torch.Tensor,
    max_seqlen: int | None = None,
    *,
    scale: float | None = None,
    window: int | None = None,
    dropout_p: float = 0.0,
    backend: str = "auto",
    chunk_tokens: int | None = None,
    cu_seqlens_cpu: torch.Tensor | None = None,
) -> torch.Tensor:
    """Attention restricted to each document of a packed sequence.

    ``q``/``k``/``v``: ``(total, heads, dim)``; returns ``(total, heads, dim)``.
    ``window``: bidirectional sliding-window half width (``|i-j| <= window``), None = global.
    ``max_seqlen`` (an int) and ``cu_seqlens_cpu`` (a host copy of ``cu_seqlens``) let a caller keep
    every host-device synchronisation out of the call: flash needs the first, the SDPA fallback the
    second.  ``cu_seqlens`` is checked against the token count only when it lives on the host.
    """
    if q.shape[0] == 0:
        return q.new_zeros(q.shape)
    host = cu_seqlens_cpu if cu_seqlens_cpu is not None else (cu_seqlens if cu_seqlens.device.type == "cpu" else None)
    if host is not None and not torch.compiler.is_compiling() and int(host[-1]) != q.shape[0]:
        raise ValueError(f"cu_seqlens ends at {int(host[-1])}, but there are {q.shape[0]} tokens")
    scale = scale if scale is not None else 1.0 / math.sqrt(q.shape[-1])
    if backend == "auto":
        backend = "flash" if (flash_attn_available() and q.is_cuda and q.dtype in (torch.float16, torch.bfloat16)) else "sdpa"
    if backend == "flash":
        if _flash_varlen is None:
            raise RuntimeError("flash-attn is not installed")
        cu = cu_seqlens.to(device=q.device, dtype=torch.int32)
        if max_seqlen is None:
            max_seqlen = int((cu[1:] - cu[:-1]).max())
        ws = (-1, -1) if window is None else (int(window), int(window))
        return _flash_varlen(q, k, v, cu, cu, max_seqlen, max_seqlen, dropout_p=dropout_p,
                             softmax_scale=scale, causal=False, window_size=ws)
    if backend == "sdpa":
        cu_host = (host if host is not None else cu_seqlens).to(torch.int64).tolist()
        if max_seqlen is None:
            max_seqlen = max(b - a for a, b in zip(cu_host[:-1], cu_host[1:]))
        chunk = max(int(chunk_tokens or 0), int(max_seqlen), 1)
        return _sdpa_masked(q, k, v, cu_seqlens, scale, window, dropout_p, chunk, cu_host)
    if backend == "loop":
        return _sdpa_loop(q, k, v, cu_seqlens, scale, window, dropout_p)
    raise ValueError(f"unknown backend {backend!r} (auto, flash, sdpa, loop)")


# ---------------------------------------------------------------- transformers glue
_BACKEND = {"name": "auto", "chunk_tokens": None}
_CALLS = {"flash": 0, "sdpa": 0, "loop": 0}  # attention calls per backend (checked by bench.gpu_check)


def _resolved(query) -> str:
    return "flash" if (flash_attn_available() and query.is_cuda and query.dtype in (torch.float16, torch.bfloat16)) else "sdpa"


def attention_calls(reset: bool = False) -> dict[str, int]:
    """How many attention calls went to each backend since the last reset."""
    out = dict(_CALLS)
    if reset:
        for k in _CALLS:
            _CALLS[k] = 0
    return out


def _doc_varlen_attention(module, query, key, value, attention_mask, dropout: float = 0.0, scaling=None,
                          sliding_window=None, doc_cu_seqlens=None, doc_max_seqlen=None, doc_cu_seqlens_cpu=None,
                          **kwargs):
    """transformers attention-interface function: query/key/value ``(1, heads, total, dim)`` ->
    ``((1, total, heads, dim), None)``.  Requires ``doc_cu_seqlens`` (a packed batch is one sequence)."""
    if doc_cu_seqlens is None:
        raise ValueError(f"attention {ATTN_NAME!r} needs doc_cu_seqlens= on the model forward")
    if query.shape[0] != 1:
        raise ValueError("doc_varlen attention expects one packed sequence (batch size 1)")
    # transformers passes ModernBERT's sliding_window as config.sliding_window + 1 (flash's inclusive bound):
    # the allowed distance is |i - j| <= config.sliding_window
    window = None if sliding_window is None else int(sliding_window) - 1
    out = varlen_attention(
        query[0].transpose(0, 1), key[0].transpose(0, 1), value[0].transpose(0, 1),
        doc_cu_seqlens, doc_max_seqlen, scale=scaling, window=window, dropout_p=dropout,
        backend=_BACKEND["name"], chunk_tokens=_BACKEND["chunk_tokens"], cu_seqlens_cpu=doc_cu_seqlens_cpu,
    )
    _CALLS[_BACKEND["name"] if _BACKEND["name"] != "auto" else _resolved(query)] += 1
    return out.unsqueeze(0), None


def register_modernbert_attention(backend: str = "auto", chunk_tokens: int | None = None) -> str:
    """Register the ``"doc_varlen"`` attention with transformers; returns its name for
    ``attn_implementation=`` / ``config._attn_implementation``."""
    from transformers import AttentionInterface

    _BACKEND["name"] = backend
    _BACKEND["chunk_tokens"] = chunk_tokens
    AttentionInterface.register(ATTN_NAME, _doc_varlen_attention)
    try:  # masks are built by us (None per layer type), but keep transformers' mask registry consistent
        from transformers.masking_utils import ALL_MASK_ATTENTION_FUNCTIONS, sdpa_mask

        ALL_MASK_ATTENTION_FUNCTIONS.register(ATTN_NAME, sdpa_mask)
    except Exception:  # pragma: no cover
        pass
    return ATTN_NAME


def no_mask_mapping() -> dict:
    """``attention_mask=`` value for ModernBERT that skips its padding-mask construction
    (document restriction comes from ``doc_cu_seqlens``)."""
    return {"full_attention": None, "sliding_attention": None}
