"""engine.train.masking: rate, 80/10/10, special tokens never masked, labels, determinism."""
from __future__ import annotations

import torch

from engine.train.masking import IGNORE_INDEX, mask_tokens, step_generator

torch.set_num_threads(1)
SPECIAL = [0, 1, 2, 3, 4]
MASK = 4
VOCAB = 1000


def sample(n=200_000, seed=0):
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(5, VOCAB, (n,), generator=g)
    ids[::50] = 1  # [CLS]
    ids[49::50] = 2  # [SEP]
    return ids


def test_rate_and_80_10_10():
    ids = sample()
    out, labels = mask_tokens(ids, mask_id=MASK, vocab_size=VOCAB, special_ids=SPECIAL, rate=0.3,
                              generator=torch.Generator().manual_seed(1))
    maskable = ~torch.isin(ids, torch.tensor(SPECIAL))
    sel = labels != IGNORE_INDEX
    rate = sel.sum().item() / maskable.sum().item()
    assert abs(rate - 0.3) < 0.005
    n = sel.sum().item()
    as_mask = (out[sel] == MASK).sum().item() / n
    kept = (out[sel] == ids[sel]).sum().item() / n
    rand = 1 - as_mask - kept
    assert abs(as_mask - 0.8) < 0.01 and abs(kept - 0.1) < 0.01 and abs(rand - 0.1) < 0.01
    # random replacements are never special tokens
    replaced = sel & (out != MASK) & (out != ids)
    assert not torch.isin(out[replaced], torch.tensor(SPECIAL)).any()
    assert out.min() >= 0 and out.max() < VOCAB


def test_specials_never_masked_labels_elsewhere():
    ids = sample(50_000)
    out, labels = mask_tokens(ids, mask_id=MASK, vocab_size=VOCAB, special_ids=SPECIAL, rate=0.9,
                              generator=torch.Generator().manual_seed(2))
    special = torch.isin(ids, torch.tensor(SPECIAL))
    assert torch.all(out[special] == ids[special])
    assert torch.all(labels[special] == IGNORE_INDEX)
    sel = labels != IGNORE_INDEX
    assert torch.all(labels[sel] == ids[sel])  # labels hold the original ids
    assert torch.all(out[~sel] == ids[~sel])  # unselected tokens untouched


def test_rate_from_config_and_edges():
    ids = sample(20_000)
    for rate in (0.0, 0.15, 1.0):
        _, labels = mask_tokens(ids, mask_id=MASK, vocab_size=VOCAB, special_ids=SPECIAL, rate=rate,
                                generator=torch.Generator().manual_seed(3))
        maskable = ~torch.isin(ids, torch.tensor(SPECIAL))
        got = (labels != IGNORE_INDEX).sum().item() / maskable.sum().item()
        assert abs(got - rate) < 0.01


def test_seeded_and_input_untouched():
    ids = sample(10_000)
    before = ids.clone()
    a = mask_tokens(ids, mask_id=MASK, vocab_size=VOCAB, special_ids=SPECIAL, generator=step_generator(0, 5, 1))
    b = mask_tokens(ids, mask_id=MASK, vocab_size=VOCAB, special_ids=SPECIAL, generator=step_generator(0, 5, 1))
    c = mask_tokens(ids, mask_id=MASK, vocab_size=VOCAB, special_ids=SPECIAL, generator=step_generator(0, 6, 1))
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    assert not torch.equal(a[1], c[1])
    assert torch.equal(ids, before)


def test_streams_of_step_micro_rank_do_not_collide():
    """(step, micro, rank) tuples that a linear seed mix would map to one stream get different masks."""
    ids = sample(5_000)
    tuples = [(0, 1, 0), (0, 0, 101), (1, 0, 0), (0, 99, 7), (0, 0, 10_007)]
    masks = [mask_tokens(ids, mask_id=MASK, vocab_size=VOCAB, special_ids=SPECIAL,
                         generator=step_generator(0, *t))[1] for t in tuples]
    for i in range(len(masks)):
        for j in range(i + 1, len(masks)):
            assert not torch.equal(masks[i], masks[j]), (tuples[i], tuples[j])


def test_replace_ids_limit_random_tokens():
    ids = sample(50_000)
    pool = list(range(100, 120))
    out, labels = mask_tokens(ids, mask_id=MASK, special_ids=SPECIAL, replace_ids=pool, rate=0.5,
                              generator=torch.Generator().manual_seed(4))
    replaced = (labels != IGNORE_INDEX) & (out != MASK) & (out != ids)
    assert replaced.sum() > 1000 and set(out[replaced].tolist()) <= set(pool)
