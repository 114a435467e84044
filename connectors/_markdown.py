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
    out = _Plain(text.split("\n")).blocks(tree.children, "")
    return "\n".join(line.rstrip() for line in out.split("\n")).strip()


def _inline(node: SyntaxTreeNode) -> str:
    parts: list[str] = []
    for c in node.children:
        if c.type in ("softbreak", "hardbreak"):
            parts.append("\n")
        elif c.children:
            parts.append(_inline(c))  # em, strong, link, image (alt text), s
        else:
            parts.append(c.content or "")  # text, code_inline, html_inline, text_special
    return "".join(parts)


def _indent(text: str, indent: str) -> str:
    return "\n".join(indent + line if line.strip() else "" for line in text.split("\n")) if indent else text


def _end(node: SyntaxTreeNode) -> int | None:
    """Source line after the last content line of a block (list items' maps include blank lines)."""
    while node.children and node.children[-1].map is not None and node.children[-1].type != "inline":
        node = node.children[-1]
    return node.map[1] if node.map else None


class _Plain:
    """Renders blocks separated as in the source: a blank line where the source has one."""

    def __init__(self, lines: list[str]):
        self.lines = lines

    def sep(self, a: SyntaxTreeNode, b: SyntaxTreeNode) -> str:
        end, start = _end(a), b.map[0] if b.map else None
        if end is None or start is None:
            return "\n\n"
        return "\n\n" if any(not ln.strip() for ln in self.lines[end:start]) else "\n"

    def blocks(self, nodes, indent: str) -> str:
        out, prev = "", None
        for n in nodes:
            b = self.block(n, indent)
            if not b.strip():
                continue
            out += (self.sep(prev, n) if prev is not None else "") + b
            prev = n
        return out

    def block(self, node: SyntaxTreeNode, indent: str) -> str:
        t = node.type
        if t in ("paragraph", "heading"):
            return _indent(_inline(node.children[0]) if node.children else "", indent)
        if t in ("bullet_list", "ordered_list"):
            return self.list(node, indent)
        if t in ("code_block", "fence"):
            return _indent(node.content.rstrip("\n"), indent)
        if t == "table":
            rows = [" | ".join(_inline(td.children[0]).strip() if td.children else "" for td in tr.children)
                    for section in node.children for tr in section.children]  # thead, tbody
            return _indent("\n".join(rows), indent)
        if t == "hr":
            return ""
        if node.children:  # blockquote and other containers: their blocks
            return self.blocks(node.children, indent)
        return _indent(node.content or "", indent)

    def list(self, node: SyntaxTreeNode, indent: str) -> str:
        out, prev = "", None
        for i, item in enumerate(node.children):
            if node.type == "ordered_list":  # an item keeps the number written in the source
                marker = f"{item.info or i + 1}{item.markup or '.'}"
            else:
                marker = item.markup or "*"
            lead = indent + marker + " "
            body = self.blocks(item.children, " " * len(lead))
            line = lead + body[len(lead):] if body.startswith(" " * len(lead)) else lead + body.lstrip()
            out += (self.sep(prev, item) if prev is not None else "") + line
            prev = item
        return out
