"""`python -m engine.inspect`: Print packed rows of a build (see :mod:`engine.output.rows`)."""
import sys

from engine.output.rows import main

if __name__ == "__main__":
    sys.exit(main())
