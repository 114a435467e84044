"""`python -m engine.train`: the MLM trainer (see :mod:`engine.train.trainer`)."""
from engine.train.trainer import main

if __name__ == "__main__":
    main()
