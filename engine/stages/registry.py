"""The stage registry: manifest ``stages:`` names -> stage classes, in the order the manifest lists them.

Built-in stages: ``normalize``, ``deid``, ``filters`` (the default order).  Another stage is added
with :func:`register` (a subclass of :class:`engine.stages.base.Stage`) and then listed by name.
"""
from __future__ import annotations

from importlib import import_module

from engine.stages.base import Resources, Stage

DEFAULT_STAGES = ("normalize", "deid", "filters")

# name -> "module:Class", imported on first use (the de-id stage's module is light; its models load in setup)
_BUILTIN = {
    "normalize": "engine.stages.normalize:NormalizeStage",
    "deid": "engine.stages.deid:DeidStage",
    "filters": "engine.stages.filters:FilterStage",
}
_REGISTERED: dict[str, type[Stage]] = {}


class UnknownStage(ValueError):
    """A manifest names a stage that is not registered."""


def register(name: str, cls: type[Stage]) -> None:
    if not (isinstance(cls, type) and issubclass(cls, Stage)):
        raise TypeError(f"stage {name!r}: {cls!r} is not a Stage subclass")
    _REGISTERED[name] = cls


def names() -> list[str]:
    return sorted(set(_BUILTIN) | set(_REGISTERED))


def get(name: str) -> type[Stage]:
    if name in _REGISTERED:
        return _REGISTERED[name]
    if name not in _BUILTIN:
        raise UnknownStage(f"unknown stage {name!r} (known: {', '.join(names())})")
    mod, cls = _BUILTIN[name].split(":")
    return getattr(import_module(mod), cls)


def stage_names(manifest) -> list[str]:
    """The manifest's ``stages:`` list, or the default order."""
    return list(getattr(manifest, "stages", None) or DEFAULT_STAGES)


def stage_classes(manifest) -> list[type[Stage]]:
    """Classes of the stages this manifest runs, in order (stages with nothing to do left out)."""
    classes = [get(n) for n in stage_names(manifest)]
    return [c for c in classes if c.wanted(manifest)]


def build_stages(manifest) -> list[Stage]:
    """Instances of the manifest's stages, in order (not yet ``setup``)."""
    return [cls(manifest) for cls in stage_classes(manifest)]


def worker_resources(manifest) -> Resources:
    """What one worker needs for the manifest's stages."""
    return Resources.largest([c.resources() for c in stage_classes(manifest)])
