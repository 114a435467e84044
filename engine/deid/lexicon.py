"""Word tables of the note scanner (:mod:`engine.deid.notes`), loaded once per process.

Shipped tables (``engine/deid/data``, sources and licences in ``docs/SOURCES.md``):

* ``given_names``: US census 1990 first names (5,163);
* ``surnames``: US census 1990 surnames (88,799);
* ``english``: SCOWL words written in lower case (common English words, not proper nouns);
* ``places``: US counties and places of 1,000+ people (GeoNames); the names of the states are
  left out (a state is no PHI under HIPAA safe harbor; ``Middle River, MD`` is found by its
  place);
* ``clinical``: a hand-made safe-list of clinical abbreviations, drug and device names,
  weekdays and languages (``clinical_terms.txt``).

A word *looks like a name* when a name table holds it and neither the English nor the
clinical table does; a name that is also a common word ("Rose", "Grace", "Walker") needs a
context (a title, a relative, a credential) to count.

Parsing the tables and deriving the sets the scanner looks words up in takes a quarter of a
second; the result is cached (``marshal``, a few MB) in the user's cache folder
(``$ENGINE_CACHE_DIR``, else ``$XDG_CACHE_HOME`` or ``~/.cache``, under
``clinical-corpus-engine``), keyed by a hash of the tables' bytes, this module's source (the
context word lists below and how the sets are derived) and the Python version: a changed table
or list builds a new cache file, and a process that cannot write there builds the sets in
memory.
"""
from __future__ import annotations

import functools
import gzip
import hashlib
import logging
import marshal
import os
import sys
import tempfile

log = logging.getLogger(__name__)

DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data")
#: the table files, in the order :class:`Tables` takes them
TABLE_FILES = ("given_names.txt.gz", "surnames.txt.gz", "english_words.txt.gz", "places.txt.gz", "clinical_terms.txt")
#: bump when what the cache holds changes shape
_CACHE_FORMAT = 4


def _table(name: str, data: bytes | None = None) -> frozenset[str]:
    """The words of a table file (one a line in ``.gz`` files; ``#`` comments and several
    words a line in the plain ones), lower case."""
    if data is None:
        with open(os.path.join(DATA, name), "rb") as f:
            data = f.read()
    if name.endswith(".gz"):
        words = set(gzip.decompress(data).decode("utf-8").lower().split("\n"))
    else:
        words = set()
        for line in data.decode("utf-8").splitlines():
            words.update(line.split("#", 1)[0].lower().split())
    words.discard("")
    return frozenset(words)


# -- context words (lower case) ------------------------------------------------------------------
TITLES = frozenset("dr drs doctor mr mrs ms miss mister prof".split())
#: words after which the next one or two words are a person's name ("wife mary", "dtr peggy")
RELATIVES = frozenset(
    """wife husband son sons daughter daughters dtr dtrs dau son-in-law daughter-in-law sister sisters brother
    brothers mother father mom dad mum stepson stepdaughter stepmother stepfather friend girlfriend boyfriend
    fiance fiancee niece neice nephew grandson granddaughter grandchild grandmother grandfather grandma grandpa
    aunt uncle cousin spouse partner companion neighbor neighbour sibling sil dil gf bf hcp poa guardian
    nurse rn np pa resident intern fellow attending surgeon cardiologist pcp sw chaplain pastor priest rabbi
    therapist dietician dietitian nutritionist pharmacist interpreter translator named lawyer attorney""".split()
)
#: credentials after a name ("Herman W. Smith, RRT", "barbara j. jones bsn/rn")
CREDENTIALS = frozenset(
    "md do rn rrt bsn msn lpn cna np pa pa-c msw licsw lcsw crna cnm phd pharmd dpt otr slp ccrn aprn fnp acnp"
    .split()
)
#: words after a name that say it is a person ("Dr Smith aware", "Jones notified")
AFTER_NAME = frozenset("aware notified paged informed updated called came consulted".split())
#: words that end a facility name ("Sacred Heart Hospital", "Kessler Medical Center")
FACILITY = frozenset(
    """hospital hosp hosptial hospitals medical center ctr clinic clinics rehab rehabilitation nursing
    infirmary sanitarium hospice campus memorial va vamc healthcare health""".split()
)
#: words that end a facility name only as the last word ("... Medical Center")
FACILITY_END = frozenset("hospital hosp hosptial clinic rehab infirmary hospice campus vamc memorial".split())
#: words before a place ("lives in", "transferred from", "moved to")
PLACE_BEFORE = frozenset("in from to at near of".split())
#: the states (and DC, Puerto Rico): not PHI on their own, so no place word
STATES = frozenset(
    """alabama alaska arizona arkansas california colorado connecticut delaware florida georgia hawaii idaho
    illinois indiana iowa kansas kentucky louisiana maine maryland massachusetts michigan minnesota mississippi
    missouri montana nebraska nevada ohio oklahoma oregon pennsylvania tennessee texas utah vermont virginia
    washington wisconsin wyoming""".split()
    + ["new hampshire", "new jersey", "new mexico", "new york", "north carolina", "north dakota", "rhode island",
       "south carolina", "south dakota", "west virginia", "district of columbia", "puerto rico"]
)
#: words that never start or continue a name or place, whatever the tables say
STOP = frozenset(
    """a an the and or but nor of on in at to by for from with without into onto over under per via as is was are
    were be been being am has have had do does did will would shall should can could may might must not no yes
    this that these those it its he him his she her hers they them their we us our you your i me my mine who whom
    whose which what when where why how all any both each few more most other some such only own same so than too
    very just also then there here now today tonight yesterday tomorrow am pm noc eve night day days week weeks
    aware notified paged informed updated called came see seen saw in-to into up down out off again back about
    above after before below between during through until while again further once per re pt pts patient patients
    family families md mds rn rns np nps team staff service services note notes order orders please thanks
    unit floor bed room ward office home house rehab hospital hosp outside other local community same another
    prior previous recent new old state county city north south east west upper lower left right
    mr mrs ms dr drs miss doctor etc""".split()
)
#: the common English words a name table also holds that are still read as names right
#: after a title or relative word (they are not function words)
_TITLE_STOP = STOP - {"may", "will", "gene", "bill", "pat", "sue", "mark", "dawn", "hope", "joy"}


class Tables:
    """The tables, plus the derived sets the scanner looks words up in (one lookup a word)."""

    SETS = ("given", "surnames", "english", "places", "clinical", "names", "place_words", "known", "safe_words",
            "place_first")

    def __init__(self, given, surnames, english, places, clinical, derived: dict | None = None) -> None:
        self.given, self.surnames, self.english, self.clinical = given, surnames, english, clinical
        self.places = places - STATES
        if derived is not None:
            self.__dict__.update(derived)
            return
        never = english | clinical | STOP | RELATIVES | CREDENTIALS
        #: a name table holds it and it is no common, clinical or context word, nor a state's name
        state_words = frozenset(x for st in STATES for x in st.split())
        self.names = frozenset(w for w in (surnames | given) - never - state_words if len(w) > 1)
        #: a gazetteer word that is no common or clinical word, nor part of a state's name
        self.place_words = frozenset(self.places - never - state_words)
        #: every word some table knows (the rest: rare surnames, local names, misspellings)
        self.known = never | given | surnames | places
        #: never a name or place without a title
        self.safe_words = STOP | clinical | RELATIVES | (english - given)
        #: first words of the places of two words or more ("middle" of "middle river")
        self.place_first = frozenset(p.split()[0] for p in self.places if " " in p)

    def as_dict(self) -> dict[str, frozenset[str]]:
        return {k: getattr(self, k) for k in self.SETS}

    def name_word(self, w: str) -> bool:
        return w in self.names

    def unknown(self, w: str) -> bool:
        return w not in self.known

    def safe(self, w: str) -> bool:
        return w in self.safe_words

    def place_word(self, w: str) -> bool:
        return w in self.place_words


def title_stop(w: str) -> bool:
    return w in _TITLE_STOP


def cache_dir() -> str:
    """Where the derived tables are cached (created on first use)."""
    base = os.environ.get("ENGINE_CACHE_DIR")
    if not base:
        base = os.path.join(os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache"),
                            "clinical-corpus-engine")
    return base


def _key(raw: list[bytes]) -> str:
    """Hash of everything the derived sets depend on: the tables' bytes, this module's source
    (the word lists and how the sets are derived) and the Python version."""
    h = hashlib.sha256()
    h.update(f"format {_CACHE_FORMAT} python {sys.version_info[:2]} marshal {marshal.version}\n".encode())
    with open(__file__, "rb") as f:
        h.update(hashlib.sha256(f.read()).digest())
    for name, data in zip(TABLE_FILES, raw):
        h.update(name.encode() + b"\0" + hashlib.sha256(data).digest())
    return h.hexdigest()[:24]


def cache_path(raw: list[bytes] | None = None) -> str:
    """The cache file for the current tables and word lists."""
    if raw is None:
        raw = [_read(n) for n in TABLE_FILES]
    return os.path.join(cache_dir(), f"deid-lexicon-{_key(raw)}.marshal")


def _read(name: str) -> bytes:
    with open(os.path.join(DATA, name), "rb") as f:
        return f.read()


def _load_cached(path: str) -> dict | None:
    """The derived sets from a cache file, ``None`` when it is missing or not what we wrote."""
    try:
        with open(path, "rb") as f:
            lists = marshal.loads(f.read())
    except (OSError, EOFError, ValueError, TypeError):
        return None
    if not isinstance(lists, list) or len(lists) != len(Tables.SETS) or not all(isinstance(v, list) for v in lists):
        return None
    return {k: frozenset(v) for k, v in zip(Tables.SETS, lists)}


def _store(path: str, t: Tables) -> None:
    """Write the derived sets (sorted word lists: the file is the same for the same tables)."""
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        data = marshal.dumps([sorted(v) for v in t.as_dict().values()])
        fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path), prefix=".deid-lexicon-")
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except OSError as e:  # a read-only home: the sets stay in memory
        log.debug("deid lexicon cache not written (%s)", type(e).__name__)


def load_tables(use_cache: bool = True) -> Tables:
    """The tables and derived sets: from the cache when it matches, else built (and cached)."""
    raw = [_read(n) for n in TABLE_FILES]
    path = cache_path(raw) if use_cache else None
    if path is not None:
        d = _load_cached(path)
        if d is not None:
            return Tables(d["given"], d["surnames"], d["english"], d["places"], d["clinical"], derived=d)
    t = Tables(*(_table(n, data) for n, data in zip(TABLE_FILES, raw)))
    if path is not None:
        _store(path, t)
    return t


@functools.lru_cache(maxsize=1)
def tables() -> Tables:
    return load_tables()
