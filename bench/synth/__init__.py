"""Synthetic text, one package for every generator, all drawing from :mod:`.words`.

* :mod:`.words`: the shared vocabulary (names, places, clinical and literature phrases).
* :mod:`.corpus`: long-tailed clinical / literature documents, with planted exact and near
  duplicates (the benchmarks' input).
* :mod:`.phi_notes`: clinical notes with planted, span-annotated PHI (the de-identification gold
  set ``tests/data/deid/gold.jsonl``: ``python -m engine.deid generate``).
* :mod:`.demo`: the bundled demo corpus ``demo/data`` (``python -m bench.synth.demo``).

The connector fixtures (``tests/fixtures/all20/make_fixtures.py``) take their sentences from
:mod:`.words` too.  Nothing under ``engine/`` imports this package except the ``generate``
command of ``python -m engine.deid``.
"""
