"""Word tables of the note scanner (:mod:`engine.deid.notes`), loaded once per process.

Shipped tables (``engine/deid/data``, sources and licences in ``docs/SOURCES.md``):

* ``given_names``: US census 1990 first names (5,163);
* ``surnames``: US census 1990 surnames (88,799);
* ``english``: SCOWL words written in lower case (common English words, not proper nouns);
* ``places``: US states, counties and places of 1,000+ people (GeoNames);
* ``clinical``: a hand-made safe-list of clinical abbreviations, drug and device names,
  weekdays and languages (``clinical_terms.txt``).

A word *looks like a name* when a name table holds it and neither the English nor the
clinical table does; a name that is also a common word ("Rose", "Grace", "Walker") needs a
context (a title, a relative, a credential) to count.
"""
from __future__ import annotations

import functools
import gzip
import os

DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data")


def _table(name: str) -> frozenset[str]:
    path = os.path.join(DATA, name)
    opener = gzip.open if name.endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8") as f:
        words = set()
        for line in f:
            line = line.split("#", 1)[0].strip().lower()
            words.update(line.split() if not name.endswith(".gz") else [line])
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

    def __init__(self, given, surnames, english, places, clinical) -> None:
        self.given, self.surnames, self.english, self.places, self.clinical = given, surnames, english, places, clinical
        never = english | clinical | STOP | RELATIVES | CREDENTIALS
        #: a name table holds it and it is no common, clinical or context word
        self.names = frozenset(w for w in (surnames | given) - never if len(w) > 1)
        #: a gazetteer word that is no common or clinical word
        self.place_words = frozenset(places - never)
        #: every word some table knows (the rest: rare surnames, local names, misspellings)
        self.known = never | given | surnames | places
        #: never a name or place without a title
        self.safe_words = STOP | clinical | RELATIVES | (english - given)

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


@functools.lru_cache(maxsize=1)
def tables() -> Tables:
    return Tables(
        given=_table("given_names.txt.gz"),
        surnames=_table("surnames.txt.gz"),
        english=_table("english_words.txt.gz"),
        places=_table("places.txt.gz"),
        clinical=_table("clinical_terms.txt"),
    )
