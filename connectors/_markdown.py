"""CommonMark rich text to plain text, for sources whose text fields are Markdown
(ClinicalTrials.gov API v2).

Parsed with ``markdown-it-py`` (CommonMark preset, raw HTML off so ``<b>`` stays literal text,
GFM tables on) and rendered from its syntax tree: backslash escapes and entities are resolved
(``\\>=`` -> ``>=``, ``&amp;`` -> ``&``), emphasis / link markup is dropped (its text kept),
paragraphs are separated by a blank line, and lists keep one item per line with their own
bullet (``*``, ``-``, ``+``) or number, nested items indented under their parent.
"""
from __future__ import annotations

from functools import lru_cache

from markdown_it import MarkdownIt
from markdown_it.tree import SyntaxTreeNode


@lru_cache(maxsize=1)
def _parser() -> MarkdownIt:
    return MarkdownIt("commonmark", {"html": False}).enable("table")


def to_plain(text: str) -> str:
    """Plain text of a CommonMark document (see the module docstring)."""
    if not text or not text.strip():
        return ""
    tree = SyntaxTreeNode(_parser().parse(text))
    out = _blocks(tree.children, "")
    return "\n".join(line.rstrip() for line in out.split("\n")).strip()


def _inline(node: SyntaxTreeNode) -> str:
    parts: list[str] = []
    for c in node.children:
        t = c.type
        if t in ("softbreak", "hardbreak"):
            parts.append("\n")
        elif c.children:
            parts.append(_inline(c))  # em, strong, link, image (alt text), s
        else:
            parts.append(c.content or "")  # text, code_inline, html_inline, text_special
    return "".join(parts)


def _block(node: SyntaxTreeNode, indent: str) -> str:
    t = node.type
    if t in ("paragraph", "heading"):
        return _indent(_inline(node.children[0]) if node.children else "", indent)
    if t in ("bullet_list", "ordered_list"):
        return _list(node, indent)
    if t in ("code_block", "fence"):
        return _indent(node.content.rstrip("\n"), indent)
    if t == "blockquote":
        return _blocks(node.children, indent)
    if t == "table":
        rows = []
        for section in node.children:  # thead, tbody
            for tr in section.children:
                rows.append(" | ".join(_inline(td.children[0]).strip() if td.children else "" for td in tr.children))
        return _indent("\n".join(rows), indent)
    if t == "hr":
        return ""
    if node.children:
        return _blocks(node.children, indent)
    return _indent(node.content or "", indent)


def _blocks(nodes, indent: str, tight: bool = False) -> str:
    parts = [b for b in (_block(n, indent) for n in nodes) if b.strip()]
    return ("\n" if tight else "\n\n").join(parts)


def _list(node: SyntaxTreeNode, indent: str) -> str:
    ordered = node.type == "ordered_list"
    tight = all(not p.children or p.type != "paragraph" or p.hidden for item in node.children for p in item.children)
    lines = []
    for i, item in enumerate(node.children):
        # an item keeps the number written in the source (CommonMark renders only the first)
        marker = f"{item.info or i + 1}{item.markup or '.'}" if ordered else (item.markup or "*")
        body = _blocks(item.children, indent + " " * (len(marker) + 1), tight=tight)
        lead = indent + marker + " "
        lines.append(lead + body[len(lead):] if body.startswith(" " * len(lead)) else lead + body.lstrip())
    return ("\n" if tight else "\n\n").join(lines)


def _indent(text: str, indent: str) -> str:
    return "\n".join(indent + line if line.strip() else "" for line in text.split("\n")) if indent else text
