"""Every CLI has a console script in pyproject.toml, and every script names a callable main."""
from __future__ import annotations

import importlib
import tomllib

from tests.conftest import ROOT

CLIS = {"engine.build", "engine.audit", "engine.inspect", "engine.report", "engine.tokenizer", "engine.train",
        "engine.deid", "engine.export"}


def test_console_scripts_resolve():
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert {f"engine.{name.split('-', 1)[1]}" for name in scripts} == CLIS
    for name, target in scripts.items():
        mod, func = target.split(":")
        assert mod.split(".")[:2] == ["engine", name.split("-", 1)[1]], name
        assert callable(getattr(importlib.import_module(mod), func)), target


def test_every_cli_flag_has_help():
    import ast

    missing = []
    for path in sorted((ROOT / "engine").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and getattr(node.func, "attr", "") == "add_argument":
                if not any(k.arg == "help" for k in node.keywords):
                    missing.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert not missing, missing
