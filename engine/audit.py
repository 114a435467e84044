"""`python -m engine.audit`: Re-derive a build's ledger from its shards and quarantine records (see :mod:`engine.output.audit`)."""
import sys

from engine.output.audit import main

if __name__ == "__main__":
    sys.exit(main())
