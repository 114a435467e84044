"""Presentation MathML to one line of readable text (MEDLINE abstracts, JATS articles).

Tokens (``mi``, ``mn``, ``mo``, ``mtext``) are joined without the pretty-printing whitespace
between elements, so ``<mi>m</mi><mi>a</mi><mi>x</mi>`` reads ``max``; relation and binary
operators get a space on each side (``p < 0.05``), a leading sign none (``-2``).  Layout
schemata are written the way the text markers of :func:`connectors._xmlutil.flat_text` write
``<sup>`` / ``<sub>``: ``msub`` -> ``x_i``, ``msup`` -> ``x^2``, ``mfrac`` -> ``a/b``,
``msqrt`` -> ``√x``, a compound argument in parentheses (``x^(n+1)``, ``(a+b)/2``);
``munder`` / ``mover`` / ``munderover`` likewise (``∑_(i=1)^n``), except that an accent over a
single character becomes its combining mark (``<mover><mi>V</mi><mo>˙</mo></mover>`` ->
``V̇``).  ``mfenced`` gets its fences and separators, ``mtable`` rows are separated by ``;``,
``semantics`` keeps its presentation child only (annotations such as TeX are left out).
"""
from __future__ import annotations

import re
import xml.etree.ElementTree as ET

from connectors._xmlutil import local

#: operators written with a space on each side
_SPACED = set("=≠<>≤≥≦≧⩽⩾≈≃≅≡∼~∝≪≫±∓×÷+−-·⋅∙→←↔⇒⇐⇔↦∈∉⊂⊃⊆⊇∪∩∧∨") | {"<=", ">=", "!=", "==", "->", ":="}
#: operators that are a sign when nothing (or another operator / an opening fence) precedes them
_SIGNS = set("+−-±∓")
_OPEN = set("([{⟨|‖")
#: invisible operators (function application, invisible times / separator / plus)
_INVISIBLE = {"\u2061", "\u2062", "\u2063", "\u2064"}
#: accents over one character -> combining mark
_ACCENT = {
    "˙": "\u0307", ".": "\u0307", "·": "\u0307", "\u0307": "\u0307", "•": "\u0307",
    "¨": "\u0308", "..": "\u0308", "\u0308": "\u0308",
    "^": "\u0302", "ˆ": "\u0302", "\u0302": "\u0302",
    "~": "\u0303", "˜": "\u0303", "\u0303": "\u0303",
    "¯": "\u0304", "‾": "\u0304", "_": "\u0332", "\u0304": "\u0304", "\u0305": "\u0304", "−": "\u0304", "-": "\u0304",
    "→": "\u20d7", "⃗": "\u20d7", "´": "\u0301", "`": "\u0300", "ˇ": "\u030c",
}
_SKIP = {"annotation", "annotation-xml", "mphantom", "none", "mprescripts", "maligngroup", "malignmark"}
#: ends with a bare (unparenthesized) sub- or superscript
_SCRIPT_END = re.compile(r"[_^][^\s()_^]+$")
_ATOM = re.compile(r"[\w.,′″'\u0300-\u036f\u20d0-\u20ff]+|[^\s\w]")


def linearize(math: ET.Element) -> str:
    """One-line text of a ``<math>`` element (or any MathML subtree)."""
    return " ".join(_node(math).split())


def _group(s: str) -> str:
    """``s`` as a script / fraction argument: bare when it is one token, else in parentheses."""
    s = s.strip()
    if not s or _ATOM.fullmatch(s) or (s[0] in "([{" and _balanced_outer(s)):
        return s
    return f"({s})"


def _balanced_outer(s: str) -> bool:
    """Whether the opening bracket at s[0] closes at the very end of s."""
    pairs = {"(": ")", "[": "]", "{": "}"}
    close = pairs[s[0]]
    if s[-1] != close:
        return False
    depth = 0
    for i, ch in enumerate(s):
        if ch == s[0]:
            depth += 1
        elif ch == close:
            depth -= 1
            if depth == 0 and i != len(s) - 1:
                return False
    return True


def _token_text(e: ET.Element) -> str:
    return "".join(e.itertext())


def _children(e: ET.Element) -> list[ET.Element]:
    return [c for c in e if local(c.tag) not in _SKIP]


def _row(elems) -> str:
    """Join the items of an (inferred) ``mrow``: operators spaced, signs tight."""
    out: list[str] = []
    prev_op = True  # at the start an operator is a sign
    for c in elems:
        name = local(c.tag)
        if name == "mo":
            op = _token_text(c).strip()
            if op == "\u2061":  # function application: log x, sin x
                out.append(" ")
                continue
            if not op or op in _INVISIBLE:
                continue
            if op in _SPACED and not (op in _SIGNS and prev_op):
                out.append(f" {op} ")
            elif op in (",", ";"):
                out.append(f"{op} ")
            else:
                out.append(op)
            prev_op = op in _SPACED or op in _OPEN or op in (",", ";")
        else:
            s = _node(c)
            if s.strip():
                if out and _SCRIPT_END.search(out[-1]) and s[:1].isalnum():
                    out.append(" ")  # x_i y, not x_iy: a script ends where the next token starts
                out.append(s)
                prev_op = False
    return "".join(out)


def _node(e: ET.Element) -> str:
    name = local(e.tag)
    kids = _children(e)
    if name in ("mi", "mn", "ms"):
        return _token_text(e).strip()
    if name == "mtext":
        return _token_text(e)
    if name == "mo":
        return _row([e])
    if name == "mspace":
        return " "
    if name in _SKIP:
        return ""
    if name == "semantics":
        return _node(kids[0]) if kids else ""
    if name in ("msub", "msup", "munder", "mover") and len(kids) == 2:
        base, script = _node(kids[0]).strip(), _node(kids[1]).strip()
        if name == "mover":
            mark = _ACCENT.get(script)
            if mark and len(base) == 1:
                return base + mark
            if mark == "\u0304" and base.isalnum():
                return "".join(ch + "\u0305" for ch in base)
        if not script:
            return base
        return f"{base}{'_' if name in ('msub', 'munder') else '^'}{_group(script)}"
    if name in ("msubsup", "munderover") and len(kids) == 3:
        base, sub, sup = (_node(k).strip() for k in kids)
        return base + (f"_{_group(sub)}" if sub else "") + (f"^{_group(sup)}" if sup else "")
    if name == "mfrac" and len(kids) == 2:
        num, den = (_node(k).strip() for k in kids)
        return f"{_group(num)}/{_group(den)}"
    if name == "msqrt":
        return f"√{_group(_row(kids))}"
    if name == "mroot" and len(kids) == 2:
        return f"{_group(_node(kids[0]))}^(1/{_node(kids[1]).strip()})"
    if name == "mfenced":
        seps = (e.get("separators") if e.get("separators") is not None else ",").split() or [""]
        seps = "".join(seps)
        inner = ""
        for i, k in enumerate(kids):
            if i:
                inner += (seps[min(i - 1, len(seps) - 1)] if seps else "") + " "
            inner += _node(k).strip()
        return f"{e.get('open', '(')}{inner}{e.get('close', ')')}"
    if name == "mtable":
        return "; ".join(s for s in (_node(r).strip() for r in kids) if s)
    if name in ("mtr", "mlabeledtr"):
        cells = kids[1:] if name == "mlabeledtr" else kids
        return " ".join(s for s in (_node(c).strip() for c in cells) if s)
    if name == "mmultiscripts" and kids:
        base = _node(kids[0]).strip()
        post = kids[1:]
        out = base
        for i in range(0, len(post) - 1, 2):
            sub, sup = _node(post[i]).strip(), _node(post[i + 1]).strip()
            out += (f"_{_group(sub)}" if sub else "") + (f"^{_group(sup)}" if sup else "")
        return out
    # math, mrow, mstyle, mpadded, menclose, merror, mtd, unknown elements: a row of children
    return _row(kids)
