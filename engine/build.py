"""`python -m engine.build`: Build a corpus from a manifest (see :mod:`engine.run.build`, CLI in :mod:`engine.run.cli`)."""
import logging
import os
import sys

from engine.run.cli import main


def cli() -> None:
    """Run the build, then leave without interpreter teardown when no Ray runs in this process.

    Everything the build writes is closed and synced before ``main`` returns; tearing down the
    loaded libraries (spaCy, presidio, Arrow's thread pools) only costs 1-2 s of exit time.  With
    Ray connected, the normal exit runs Ray's shutdown hooks.
    """
    code = main()
    ray = sys.modules.get("ray")
    if ray is not None and getattr(ray, "is_initialized", lambda: False)():
        sys.exit(code)
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    cli()
