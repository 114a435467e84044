"""CodiEsp (``connector: codiesp``): Spanish clinical case reports with English translations.

Verified layout (the corpus README ``final_dataset_v4_to_publish/README.txt``, found with the
search tool in corpus ``code``; CodiEsp v4 on Zenodo, Barcelona Supercomputing Center,
CC BY 4.0): folders ``train``, ``dev``, ``test`` and ``background``, each with a subfolder
``text_files`` (Spanish clinical cases, "plain text in UTF8 encoding, where each clinical case
is stored as a single file whose name is the clinical case identifier", e.g.
``S0004-06142005000500011-1.txt``) and ``text_files_en`` ("machine-translated to English ...
the text files are sentence-splitted").  The tab-separated annotation files are not read.  Both languages are kept as separate
documents; ``language`` in meta is ``es`` for ``text_files`` and ``en`` for ``text_files_en``.
Nothing here assumes ASCII: ids and text pass through as UTF-8.
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
