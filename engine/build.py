"""`python -m engine.build`: Build a corpus from a manifest (see :mod:`engine.run.build`, CLI in :mod:`engine.run.cli`)."""
import sys

from engine.run.cli import main

if __name__ == "__main__":
    sys.exit(main())
