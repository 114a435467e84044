"""`python -m engine.build`: Build a corpus from a manifest (see :mod:`engine.run.build`)."""
import sys

from engine.run.build import main

if __name__ == "__main__":
    sys.exit(main())
