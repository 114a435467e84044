"""CodiEsp (``connector: codiesp``): Spanish clinical case reports with English translations.

Layout: folders ``train``, ``dev``, ``test`` and ``background``, each with ``text_files``
(Spanish clinical cases, one UTF-8 file per case named by its identifier, e.g.
``S0004-06142005000500011-1.txt``) and ``text_files_en`` (machine translations into English,
sentence-split).  Both languages are kept as separate documents; ``language`` in meta is ``es``
for ``text_files`` and ``en`` for ``text_files_en``, ``split`` the top folder.  The
tab-separated annotation files are not read.  Nothing here assumes ASCII: ids and text pass
through as UTF-8.  Format references: docs/SOURCES.md.
"""
from __future__ import annotations

from connectors._fixed import FixedOptions
from connectors.base import Doc, Record
from connectors.registry import register
from connectors.text_files import TextFilesConnector


@register("codiesp")
class CodiespConnector(FixedOptions, TextFilesConnector):
    placeholder = None
    language = "es"
    defaults = {"pattern": "*.txt"}

    def _doc(self, name: str, data, location: str) -> Record:
        rec = super()._doc(name, data, location)
        if isinstance(rec, Doc):
            parts = name.split("/")
            rec.meta["language"] = "en" if "text_files_en" in parts else "es"
            if len(parts) >= 3:
                rec.meta["split"] = parts[-3]
        return rec
