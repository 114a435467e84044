"""Tokenizer backends: ``tokenizers`` (the reference) or ``fastokens`` (a faster BPE encoder).

``tokenizer_backend:`` in the manifest (or ``--tokenizer-backend`` on ``engine.build``):

* ``hf``: Hugging Face ``tokenizers`` ``encode_batch_fast``; always available; the reference.
* ``fastokens``: ``fastokens.Tokenizer.encode_batch_flat`` on the same ``tokenizer.json`` (one
  flat ``uint32`` buffer per batch, no per-token Python objects).  Refused (a configuration
  error) when the tokenizer is not supported or the self-check below fails.
* ``auto`` (default): ``fastokens`` when it is installed, supports every component of the
  ``tokenizer.json`` and passes the self-check; otherwise ``hf``, with the reason.

Support is decided in two steps, both needed:

1. The ``tokenizer.json`` components are checked against what ``fastokens`` implements
   (:data:`SUPPORTED`): normalizer, pre-tokenizer (``Sequence`` members included), model and
   its options, added tokens, post-processor, decoder, truncation and padding.  Anything
   outside it is reported by JSON path, e.g. ``normalizer.normalizers[1]: NFKC``.
2. Self-check: a built-in probe set (multilingual scripts, emoji and ZWJ sequences,
   combining marks, control characters and NUL, whitespace runs, every added token's text
   inside ordinary text, long repeats, digits and punctuation) is encoded by both libraries;
   any id that differs rejects ``fastokens``.

The engine encodes with ``add_special_tokens=False`` (it adds ``[CLS]``/``[SEP]`` itself), so
both encoders return the ids of the text alone and the shards are byte-identical whichever ran.
"""
from __future__ import annotations

import json
import logging
from dataclasses import dataclass

import numpy as np

log = logging.getLogger("engine.tokenizer")

BACKENDS = ("auto", "hf", "fastokens")

# What fastokens 0.3 implements, by tokenizer.json component "type" (checked against the
# library: anything else is rejected when it loads the file or is not implemented).
SUPPORTED = {
    "normalizer": {"NFC", "Lowercase", "Replace", "Prepend", "Sequence"},
    "pre_tokenizer": {"ByteLevel", "Split", "Digits", "Sequence"},
    "model": {"BPE"},
    "post_processor": {"TemplateProcessing", "ByteLevel", "Sequence"},
    "decoder": {"ByteLevel", "ByteFallback", "Fuse", "Strip", "Replace", "Sequence"},
}
# BPE options whose effect fastokens reproduces; ``dropout`` is random (never reproducible).
_BPE_OPTIONS_OK = {"type", "vocab", "merges", "unk_token", "fuse_unk", "byte_fallback", "ignore_merges", "dropout",
                   "continuing_subword_prefix", "end_of_word_suffix"}


@dataclass(frozen=True)
class Choice:
    """Which backend a build uses and why (recorded in build.json)."""

    backend: str
    requested: str
    reason: str
    version: str

    def as_dict(self) -> dict:
        return {"backend": self.backend, "requested": self.requested, "reason": self.reason, "version": self.version}


class BackendError(ValueError):
    """The requested backend cannot encode this tokenizer exactly (a configuration error)."""


# ------------------------------------------------------------------------------------------------
# encoders: texts -> (flat uint32 ids, int64 offsets of len(texts) + 1)


class HFEncoder:
    name = "hf"

    def __init__(self, tokenizer) -> None:
        self.tokenizer = tokenizer

    def encode(self, texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
        arrays = [np.asarray(e.ids, dtype=np.uint32) for e in self.tokenizer.encode_batch_fast(texts, add_special_tokens=False)]
        offsets = np.zeros(len(arrays) + 1, dtype=np.int64)
        np.cumsum([len(a) for a in arrays], out=offsets[1:])
        return (np.concatenate(arrays) if arrays else np.empty(0, np.uint32)), offsets


class FastokensEncoder:
    name = "fastokens"

    def __init__(self, tokenizer_json: str) -> None:
        import fastokens

        self.tokenizer = fastokens.Tokenizer.from_json_str(tokenizer_json)
        self.tokenizer.no_truncation()
        self.tokenizer.no_padding()

    def encode(self, texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
        ids, offsets = self.tokenizer.encode_batch_flat(texts, add_special_tokens=False)
        return np.frombuffer(ids, dtype="<u4"), np.frombuffer(offsets, dtype="<u8").astype(np.int64)


# ------------------------------------------------------------------------------------------------
# support check


def _members(node: dict, key: str) -> list[tuple[str, dict]]:
    """(path, component) of a component and, for ``Sequence``, of its members (recursively)."""
    out = [("", node)]
    if node.get("type") == "Sequence":
        for field in ("normalizers", "pretokenizers", "processors", "decoders"):
            for i, sub in enumerate(node.get(field) or []):
                out += [(f".{field}[{i}]{p}", c) for p, c in _members(sub, key)]
    return out


def unsupported_components(spec: dict) -> list[str]:
    """Every part of a parsed ``tokenizer.json`` that fastokens does not implement (empty: all supported)."""
    problems: list[str] = []
    for key, allowed in SUPPORTED.items():
        node = spec.get(key)
        if node is None:
            continue
        for path, comp in _members(node, key):
            kind = comp.get("type")
            if kind not in allowed:
                problems.append(f"{key}{path}: {kind}")
    model = spec.get("model") or {}
    if model.get("type") == "BPE":
        extra = sorted(set(model) - _BPE_OPTIONS_OK)
        if extra:
            problems.append(f"model: BPE option {', '.join(extra)}")
        if model.get("dropout"):
            problems.append("model: BPE dropout (random merges)")
        if model.get("continuing_subword_prefix") or model.get("end_of_word_suffix"):
            problems.append("model: BPE continuing_subword_prefix/end_of_word_suffix")
    for tok in spec.get("added_tokens") or []:
        unknown = sorted(set(tok) - {"id", "content", "single_word", "lstrip", "rstrip", "normalized", "special"})
        if unknown:
            problems.append(f"added_tokens[{tok.get('id')}]: field {', '.join(unknown)}")
    for key in ("truncation", "padding"):  # the engine turns both off; fastokens only knows the standard forms
        node = spec.get(key)
        if node is not None and not isinstance(node, dict):
            problems.append(f"{key}: {type(node).__name__}")
    return problems


# ------------------------------------------------------------------------------------------------
# self-check


def probe_texts(added_tokens: list[str]) -> list[str]:
    """Built-in probe set: scripts, emoji, controls, whitespace, repeats, and every added token inside text."""
    base = [
        "",
        "Patient is a 67 y/o male admitted 03/14/2021 with CHF exacerbation; BNP 1,245 pg/mL, Cr 1.8 -> 1.2.",
        "Metoprolol 25mg PO BID; furosemide 40 mg IV q12h.  SpO2 94% on 2L NC.\n\nPlan:\n- diuresis\n- f/u TTE",
        "Le patient présente une dyspnée d'effort; Überweisung an die Kardiologie; niño con fiebre.",
        "Пациент жалуется на боль в груди. Ελληνικά κείμενα. עברית מימין לשמאל. العربية من اليمين",
        "患者主诉胸痛三天。日本語のテキスト、カタカナ、ひらがな。한국어 문장입니다.",
        "हिन्दी पाठ, தமிழ் உரை, ภาษาไทยไม่มีช่องว่าง, ქართული",
        "emoji 😀😃🤒🏥💊 family 👨‍👩‍👧‍👦 flags 🇺🇸🇩🇪 skin 👍🏽 keycap 1️⃣ ❤️",
        "combining e\u0301 a\u0308 n\u0303; decomposed vs composed é ä ñ; Å Å; ﬁ ligature; ① ² ½",
        "controls \x00 NUL \x01\x02\x07\x08 \x1b[31m ESC \x7f DEL \u200b ZWSP \u200e LRM \ufeff BOM \u00ad SHY",
        "tabs\tand\t\tmany\t\t\ttabs\r\nCRLF\rCR\x0b\x0c\u2028LS\u2029PS\u0085NEL",
        "   leading spaces, trailing spaces   ",
        "runs" + " " * 17 + "of" + "\n" * 9 + "whitespace" + "\t " * 7 + "end\u00a0\u00a0\u3000\u2003",
        "a" * 3000,
        "ab" * 1500 + " " + "xyz " * 400,
        "=" * 200 + "\n" + "-" * 300 + "\n" + "*" * 97 + "." * 501,
        "0123456789" * 40 + " 3.14159265358979 1e-10 -42 +7 1,000,000 0x1F 192.168.0.1",
        "!!!???...;;;:::'''\"\"\"((()))[[[]]]{{{}}}<<<>>>@@@###$$$%%%^^^&&&|||~~~```",
        "I'm they're we've it's y'all o'clock ’curly’ “quotes” «guillemets» —dash– …",
        "URL https://example.org/path?q=1&r=2#frag email john.doe@example.com mixedCASE camelCaseWord HTTPServer",
        "\ud7ff\ue000\U0001f600\U0010fffd private-use and astral \U00020000 \U0001d400",
        "x" + "\u0301" * 50 + " stacked marks",
    ]
    for tok in added_tokens:
        base += [tok, f"{tok}{tok}", f" {tok} ", f"text{tok}text", f"text {tok} text", f"a {tok}b {tok}\n{tok}",
                 f"{tok.lower()} {tok.upper()}", f"{tok[:-1]}" if len(tok) > 1 else tok]
    return base


def self_check(hf_tokenizer, fast: FastokensEncoder, texts: list[str]) -> str | None:
    """None when both encoders give the same ids on ``texts``; else where they first differ (no text)."""
    hf = HFEncoder(hf_tokenizer)
    a_ids, a_off = hf.encode(texts)
    b_ids, b_off = fast.encode(texts)
    for i in range(len(texts)):
        a, b = a_ids[a_off[i]:a_off[i + 1]], b_ids[b_off[i]:b_off[i + 1]]
        if len(a) != len(b) or not np.array_equal(a, b):
            n = min(len(a), len(b))
            at = int(np.argmax(a[:n] != b[:n])) if n and not np.array_equal(a[:n], b[:n]) else n
            return f"probe {i}: ids differ at token {at} ({len(a)} vs {len(b)} tokens)"
    return None


# ------------------------------------------------------------------------------------------------
# choosing


def _fastokens_version() -> str | None:
    try:
        from importlib.metadata import version

        import fastokens  # noqa: F401

        return version("fastokens")
    except Exception:  # not installed, or a broken install
        return None


def _try_fastokens(loaded) -> tuple[FastokensEncoder | None, str]:
    """(encoder, "") when fastokens encodes this tokenizer exactly; else (None, why not)."""
    ver = _fastokens_version()
    if ver is None:
        return None, "fastokens is not installed"
    text = loaded.tokenizer.to_str()
    problems = unsupported_components(json.loads(text))
    if problems:
        return None, "fastokens does not support " + "; ".join(problems[:5]) + (" ..." if len(problems) > 5 else "")
    try:
        enc = FastokensEncoder(text)
    except Exception as e:  # it refuses the file (a component or option it does not parse)
        return None, f"fastokens cannot load the tokenizer ({type(e).__name__}: {str(e)[:200]})"
    added = [t.content for t in loaded.tokenizer.get_added_tokens_decoder().values()]
    bad = self_check(loaded.tokenizer, enc, probe_texts(added))
    if bad:
        return None, f"fastokens self-check failed: {bad}"
    return enc, ""


def choose(loaded, requested: str = "auto") -> tuple[object, Choice]:
    """The encoder for ``loaded`` (an ``engine.tokenizer.LoadedTokenizer``) and what was chosen and why.

    ``BackendError`` when ``fastokens`` is requested explicitly and cannot encode exactly."""
    if requested not in BACKENDS:
        raise BackendError(f"tokenizer_backend must be one of {', '.join(BACKENDS)}, not {requested!r}")
    import tokenizers

    hf_version = f"tokenizers {tokenizers.__version__}"
    if requested == "hf":
        return HFEncoder(loaded.tokenizer), Choice("hf", requested, "requested", hf_version)
    enc, why = _try_fastokens(loaded)
    if enc is not None:
        log.info("tokenizer backend: fastokens for %s", loaded.name)
        reason = "requested" if requested == "fastokens" else "supports every component; self-check identical"
        return enc, Choice("fastokens", requested, reason, f"fastokens {_fastokens_version()}")
    if requested == "fastokens":
        raise BackendError(f"tokenizer_backend fastokens cannot be used for {loaded.name}: {why}")
    choice = Choice("hf", requested, why, hf_version)
    log.warning(describe(choice))
    return HFEncoder(loaded.tokenizer), choice


def describe(choice: Choice) -> str:
    """One log line (no document content: component names, probe numbers and versions only)."""
    if choice.backend == "hf" and choice.requested == "auto":
        return f"tokenizer backend: hf ({choice.version}), not fastokens: {choice.reason}"
    return f"tokenizer backend: {choice.backend} ({choice.version}; {choice.reason})"


_CHOSEN: dict[tuple[str, str], tuple[object, Choice]] = {}


def encoder_for(loaded, requested: str = "auto"):
    """``choose`` once per process and tokenizer (workers encode many units with one encoder)."""
    key = (loaded.sha256, requested)
    if key not in _CHOSEN:
        _CHOSEN[key] = choose(loaded, requested)
    return _CHOSEN[key][0]
