"""Connector registry: ``connector:`` name in the manifest -> reader class.

Every module in this package that defines ``@register("name")`` classes is imported on
first use, so adding a connector is adding a module.
"""
from __future__ import annotations

import importlib
import pkgutil
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from connectors.base import Connector

_REGISTRY: dict[str, type["Connector"]] = {}
_LOADED = False


def register(name: str):
    def deco(cls):
        if name in _REGISTRY and _REGISTRY[name] is not cls:
            raise ValueError(f"connector {name!r} registered twice ({_REGISTRY[name].__name__}, {cls.__name__})")
        cls.name = name
        _REGISTRY[name] = cls
        return cls

    return deco


def _load_all() -> None:
    global _LOADED
    if _LOADED:
        return
    import connectors

    for mod in pkgutil.iter_modules(connectors.__path__):
        if mod.name not in ("registry", "base") and not mod.name.startswith("_"):
            importlib.import_module(f"connectors.{mod.name}")
    _LOADED = True


def available() -> dict[str, type["Connector"]]:
    _load_all()
    return dict(_REGISTRY)


def get(name: str) -> type["Connector"]:
    conns = available()
    if name not in conns:
        raise KeyError(f"unknown connector {name!r}; known: {', '.join(sorted(conns))}")
    return conns[name]


def option_errors(name: str, options: dict) -> list[str]:
    """What is wrong with a source's ``options:`` for connector ``name`` (empty when they are fine)."""
    from pydantic import ValidationError

    model = get(name).Options
    try:
        model.model_validate(options or {})
    except ValidationError as e:
        known = ", ".join(model.model_fields) or "none"
        out = []
        for err in e.errors():
            key = ".".join(str(p) for p in err["loc"]) or "options"
            if err["type"] == "extra_forbidden":
                out.append(f"unknown option {key!r} for connector {name} (known: {known})")
            else:
                out.append(f"option {key!r}: {err['msg']}")
        return out
    return []
