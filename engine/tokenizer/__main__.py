"""`python -m engine.tokenizer`: train or check a tokenizer (see :mod:`engine.tokenizer`)."""
import sys

from engine.tokenizer import main

if __name__ == "__main__":
    sys.exit(main())
