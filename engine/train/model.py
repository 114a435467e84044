"""The model side of the trainer: ModernBERT from a config or a checkpoint, checked against the build's
tokenizer, the MLM objective over packed micro-batches, and the ids MLM may use as random replacements."""
from __future__ import annotations

import json
import os
import re
import warnings

TINY = {
    "hidden_size": 64, "num_hidden_layers": 2, "num_attention_heads": 4, "intermediate_size": 128,
    "global_attn_every_n_layers": 2, "local_attention": 128,
}
# config field -> build.json special-token role
SPECIAL_FIELDS = {"pad_token_id": "pad", "cls_token_id": "cls", "sep_token_id": "sep"}
_UNUSED = re.compile(r"^(\[unused\d*\]|<unused\d*>|\[UNUSED\d*\]|<\|unused\d*\|>)$")


class ModelMismatchError(ValueError):
    """A model or tokenizer does not fit the build's tokenizer."""


def build_tokenizer(build: dict, path: str | None = None):
    """The build's tokenizer (engine.tokenizer.LoadedTokenizer) when its file can be found: ``path``,
    else the file named in build.json.  An explicit ``path`` with another sha256 is an error; otherwise
    None when no file with the build's sha256 is at hand."""
    from engine.tokenizer import load_tokenizer

    tok = build.get("tokenizer") or {}
    cand = path or tok.get("name")
    if not cand or not (os.path.exists(cand) or "://" in cand):
        if path:
            raise ModelMismatchError(f"tokenizer {path} not found")
        return None
    try:
        loaded = load_tokenizer(cand)
    except Exception as e:
        if path:
            raise ModelMismatchError(f"tokenizer {path}: {e}") from None
        return None
    if tok.get("sha256") and loaded.sha256 != tok["sha256"]:
        if path:
            raise ModelMismatchError(f"tokenizer {path} has sha256 {loaded.sha256[:12]}, the build was tokenized "
                                     f"with {tok['sha256'][:12]}")
        return None
    return loaded


def replacement_ids(build: dict, tokenizer=None) -> list[int]:
    """Token ids MLM may draw as random replacements: the tokenizer's real ids (below its vocabulary
    size, not special, not ``[unused]`` slots), never the model's padding rows."""
    tok = build.get("tokenizer") or {}
    special = set(int(v) for v in (tok.get("special_ids") or {}).values())
    if tokenizer is not None:
        vocab = tokenizer.tokenizer.get_vocab(with_added_tokens=True)
        added = {t.content for t in tokenizer.tokenizer.get_added_tokens_decoder().values() if t.special}
        return sorted(i for t, i in vocab.items() if i not in special and t not in added and not _UNUSED.match(t))
    return [i for i in range(int(tok.get("vocab_size", 0))) if i not in special]


def check_model(config, build: dict, checkpoint_tokenizer=None) -> None:
    """Vocabulary size and special ids of a model (and of the tokenizer saved with it) against build.json."""
    tok = build.get("tokenizer") or {}
    sp = tok.get("special_ids") or {}
    problems = []
    if tok.get("vocab_size") and config.vocab_size < int(tok["vocab_size"]):
        problems.append(f"model vocab_size {config.vocab_size} < the build tokenizer's {tok['vocab_size']}")
    for field, role in SPECIAL_FIELDS.items():
        got = getattr(config, field, None)
        if role in sp and got is not None and int(got) != int(sp[role]):
            problems.append(f"model {field} {got} != the build's [{role}] id {sp[role]}")
    if checkpoint_tokenizer is not None:
        if tok.get("vocab_size") and checkpoint_tokenizer.vocab_size != int(tok["vocab_size"]):
            problems.append(f"the model's tokenizer has {checkpoint_tokenizer.vocab_size} tokens, the build's {tok['vocab_size']}")
        for role, i in sp.items():
            got = checkpoint_tokenizer.special_ids.get(role)
            if got is not None and int(got) != int(i):
                problems.append(f"the model's tokenizer has [{role}] at {got}, the build at {i}")
        if not problems and tok.get("sha256") and checkpoint_tokenizer.sha256 != tok["sha256"]:
            warnings.warn("the model's tokenizer differs from the build's (same size and special ids)", stacklevel=2)
    if problems:
        raise ModelMismatchError("the model does not fit the build's tokenizer: " + "; ".join(problems))


def _checkpoint_tokenizer(path: str):
    from engine.tokenizer import load_tokenizer

    f = os.path.join(path, "tokenizer.json")
    return load_tokenizer(f) if os.path.exists(f) else None


def load_config(args, build: dict):
    """The ModernBertConfig to train: from ``--init-from`` (checked) or ``--model-config``."""
    from transformers import ModernBertConfig

    tok = build.get("tokenizer") or {}
    sp = tok.get("special_ids") or {}
    if args.init_from:
        cfg = ModernBertConfig.from_pretrained(args.init_from)
        check_model(cfg, build, _checkpoint_tokenizer(args.init_from) if os.path.isdir(args.init_from) else None)
        return cfg
    fields = dict(TINY) if args.model_config == "tiny" else json.load(open(args.model_config))
    fields.setdefault("max_position_embeddings", int(build.get("max_seq_len", 8192)))
    fields.setdefault("vocab_size", int(tok.get("vocab_size", 50368)))
    for k, name in (*SPECIAL_FIELDS.items(), ("bos_token_id", "cls"), ("eos_token_id", "sep")):
        if name in sp:
            fields.setdefault(k, sp[name])
    cfg = ModernBertConfig(**fields)
    check_model(cfg, build)
    return cfg


def build_model(args, build: dict, attn: str):
    """ModernBertForMaskedLM in fp32 (a bf16 checkpoint is upcast: autocast does the bf16 compute)."""
    import torch
    from transformers import ModernBertForMaskedLM

    cfg = load_config(args, build)
    if args.init_from:
        model = ModernBertForMaskedLM.from_pretrained(args.init_from, config=cfg, dtype=torch.float32)
    else:
        torch.manual_seed(args.seed)
        model = ModernBertForMaskedLM(cfg)
    model = model.float()
    model.config._attn_implementation = attn
    if getattr(args, "grad_checkpointing", False):
        if hasattr(model, "activation_checkpointing_enable"):
            model.activation_checkpointing_enable(activation_checkpointing_kwargs={"use_reentrant": False})
        else:
            model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    return model


def packed_mlm(model):
    """An ``nn.Module`` computing the summed MLM loss of one packed micro-batch.

    ``forward(input_ids, position_ids, cu_seqlens, max_seqlen, masked_index, masked_labels,
    cu_seqlens_cpu)``: the masked positions come as an index computed on the host, so nothing in the
    forward waits for the device."""
    import torch

    from engine.train.varlen_attention import no_mask_mapping

    class PackedMLM(torch.nn.Module):
        def __init__(self, mlm):
            super().__init__()
            self.mlm = mlm

        def forward(self, input_ids, position_ids, cu_seqlens, max_seqlen, masked_index, masked_labels,
                    cu_seqlens_cpu=None):
            h = self.mlm.model(input_ids=input_ids[None], position_ids=position_ids[None],
                               attention_mask=no_mask_mapping(), doc_cu_seqlens=cu_seqlens,
                               doc_max_seqlen=max_seqlen, doc_cu_seqlens_cpu=cu_seqlens_cpu).last_hidden_state[0]
            logits = self.mlm.decoder(self.mlm.head(h.index_select(0, masked_index)))
            return torch.nn.functional.cross_entropy(logits.float(), masked_labels, reduction="sum")

    return PackedMLM(model)
