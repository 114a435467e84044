"""`python -m engine.export`: Export a finished build for other tools (see :mod:`engine.output.export`)."""
import sys

from engine.output.export import main

if __name__ == "__main__":
    sys.exit(main())
