"""`python -m engine.report`: Write a build's HTML report (see :mod:`engine.output.report`)."""
import sys

from engine.output.report import main

if __name__ == "__main__":
    sys.exit(main())
