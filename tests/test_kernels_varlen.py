"""engine.train.varlen_attention: varlen / masked SDPA paths vs a reference, no attention across documents."""
from __future__ import annotations

import copy
import math

import pytest
import torch

from engine.train.varlen_attention import (
    block_diagonal_mask, cu_seqlens_from_lens, cu_seqlens_from_mask, position_ids_from_cu_seqlens, segment_ids,
    varlen_attention,
)

torch.set_num_threads(1)
LENS = [5, 17, 1, 9, 30, 2]


def reference(q, k, v, lens, window=None):
    """Plain softmax attention document by document, written out."""
    outs, s = [], 0
    for n in lens:
        qs, ks, vs = q[s : s + n], k[s : s + n], v[s : s + n]  # (n, h, d)
        scores = torch.einsum("ihd,jhd->hij", qs, ks) / math.sqrt(q.shape[-1])
        if window is not None:
            i = torch.arange(n)
            scores = scores.masked_fill((i[:, None] - i[None, :]).abs() > window, float("-inf"))
        outs.append(torch.einsum("hij,jhd->ihd", scores.softmax(-1), vs))
        s += n
    return torch.cat(outs)


@pytest.mark.parametrize("window", [None, 3])
@pytest.mark.parametrize("backend", ["sdpa", "loop", "auto"])
def test_paths_match_reference(backend, window):
    g = torch.Generator().manual_seed(0)
    total = sum(LENS)
    q, k, v = (torch.randn(total, 4, 8, generator=g, dtype=torch.float64) for _ in range(3))
    cu = cu_seqlens_from_lens(LENS)
    ref = reference(q, k, v, LENS, window)
    out = varlen_attention(q, k, v, cu, max(LENS), backend=backend, window=window)
    torch.testing.assert_close(out, ref, rtol=1e-10, atol=1e-10)
    # small chunks (many mask groups, padding) give the same result
    out2 = varlen_attention(q, k, v, cu, max(LENS), backend="sdpa", window=window, chunk_tokens=8)
    torch.testing.assert_close(out2, ref, rtol=1e-10, atol=1e-10)


def test_masked_sdpa_equals_varlen_on_packed_batch():
    g = torch.Generator().manual_seed(1)
    total = sum(LENS)
    q, k, v = (torch.randn(total, 2, 16, generator=g) for _ in range(3))
    cu = cu_seqlens_from_lens(LENS)
    one_mask = torch.nn.functional.scaled_dot_product_attention(
        q.transpose(0, 1), k.transpose(0, 1), v.transpose(0, 1), attn_mask=block_diagonal_mask(cu)
    ).transpose(0, 1)
    torch.testing.assert_close(varlen_attention(q, k, v, cu, backend="loop"), one_mask, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(varlen_attention(q, k, v, cu, backend="sdpa"), one_mask, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("backend", ["sdpa", "loop"])
def test_no_attention_across_documents(backend):
    """Changing one document's keys/values never changes another document's outputs; gradients agree."""
    g = torch.Generator().manual_seed(2)
    total = sum(LENS)
    q, k, v = (torch.randn(total, 2, 8, generator=g) for _ in range(3))
    cu = cu_seqlens_from_lens(LENS)
    seg = segment_ids(cu)
    base = varlen_attention(q, k, v, cu, backend=backend)
    for d in range(len(LENS)):
        k2, v2 = k.clone(), v.clone()
        k2[seg == d] += 5 * torch.randn_like(k2[seg == d])
        v2[seg == d] += 5
        out = varlen_attention(q, k2, v2, cu, backend=backend)
        torch.testing.assert_close(out[seg != d], base[seg != d])
    # gradient of one document's outputs w.r.t. the inputs is zero outside that document
    kk = k.clone().requires_grad_(True)
    out = varlen_attention(q, kk, v, cu, backend=backend)
    out[seg == 4].sum().backward()
    assert torch.all(kk.grad[seg != 4] == 0)


def test_mask_helpers_roundtrip():
    cu = cu_seqlens_from_lens(LENS)
    assert cu.dtype == torch.int32 and cu.tolist() == [0, 5, 22, 23, 32, 62, 64]
    m = block_diagonal_mask(cu)
    assert m.shape == (64, 64) and m.dtype == torch.bool
    assert torch.equal(cu_seqlens_from_mask(m), cu)
    seg = segment_ids(cu)
    assert torch.equal(m, seg[:, None] == seg[None, :])
    pos = position_ids_from_cu_seqlens(cu)
    assert pos[:6].tolist() == [0, 1, 2, 3, 4, 0] and pos[22].item() == 0 and pos[23].item() == 0
    bad = m.clone()
    bad[0, 10] = True
    with pytest.raises(ValueError):
        cu_seqlens_from_mask(bad)


def test_modernbert_packed_equals_documents_alone():
    """The trainer's glue: a packed row through ModernBERT (doc_varlen attention, sliding + global layers)
    gives each document exactly what it gets alone through stock transformers SDPA."""
    from transformers import ModernBertConfig, ModernBertForMaskedLM

    from engine.train.varlen_attention import no_mask_mapping, register_modernbert_attention

    cfg = ModernBertConfig(vocab_size=100, hidden_size=32, intermediate_size=64, num_hidden_layers=3,
                           num_attention_heads=2, local_attention=8, global_attn_every_n_layers=3,
                           max_position_embeddings=128, pad_token_id=3, bos_token_id=1, eos_token_id=2,
                           cls_token_id=1, sep_token_id=2)
    torch.manual_seed(0)
    stock = ModernBertForMaskedLM(copy.deepcopy(cfg)).eval()
    stock.config._attn_implementation = "sdpa"
    packed = ModernBertForMaskedLM(copy.deepcopy(cfg)).eval()
    packed.load_state_dict(stock.state_dict())
    packed.config._attn_implementation = register_modernbert_attention("sdpa")
    lens = [5, 20, 7, 1]
    ids = torch.randint(5, 100, (sum(lens),))
    cu = cu_seqlens_from_lens(lens)
    with torch.no_grad():
        out = packed(input_ids=ids[None], position_ids=position_ids_from_cu_seqlens(cu)[None],
                     attention_mask=no_mask_mapping(), doc_cu_seqlens=cu, doc_max_seqlen=max(lens)).logits[0]
        ref = torch.cat([stock(input_ids=ids[None, s:e]).logits[0] for s, e in zip(cu[:-1].tolist(), cu[1:].tolist())])
    torch.testing.assert_close(out, ref, rtol=1e-4, atol=1e-5)


def test_band_mask_and_host_copy_of_cu_seqlens():
    from engine.train.varlen_attention import attention_calls, band_mask

    i = torch.arange(40)
    assert torch.equal(band_mask(40, 3), (i[:, None] - i[None, :]).abs() <= 3)
    assert band_mask(40, 3).dtype == torch.bool
    g = torch.Generator().manual_seed(3)
    total = sum(LENS)
    q, k, v = (torch.randn(total, 2, 8, generator=g, dtype=torch.float64) for _ in range(3))
    cu = cu_seqlens_from_lens(LENS)
    ref = reference(q, k, v, LENS, 3)
    out = varlen_attention(q, k, v, cu, max(LENS), backend="sdpa", window=3, cu_seqlens_cpu=cu.clone())
    torch.testing.assert_close(out, ref, rtol=1e-10, atol=1e-10)
    with pytest.raises(ValueError, match="cu_seqlens ends at"):
        varlen_attention(q[:-1], k[:-1], v[:-1], cu, backend="sdpa")
    assert set(attention_calls()) == {"flash", "sdpa", "loop"}
