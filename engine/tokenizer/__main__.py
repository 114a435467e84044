"""`python -m engine.tokenizer train`: train a domain BPE tokenizer (see :mod:`engine.tokenizer.train`)."""
import sys

from engine.tokenizer import main

if __name__ == "__main__":
    sys.exit(main())
