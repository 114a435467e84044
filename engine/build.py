"""`python -m engine.build`: Build a corpus from a manifest (see :mod:`engine.run.build`, CLI in :mod:`engine.run.cli`)."""
import logging
import os
import sys

from engine.run.cli import main


def cli() -> None:
    """Run the build, then leave without interpreter teardown.

    Everything the build writes is closed and synced before ``main`` returns; tearing down the
    loaded libraries (spaCy, presidio, Ray, Arrow's thread pools) only costs 1-3 s of exit time.
    Ray, when connected, is shut down first (an embedded Ray's processes stop with it).
    """
    code = main()
    ray = sys.modules.get("ray")
    if ray is not None and getattr(ray, "is_initialized", lambda: False)():
        ray.shutdown()  # an embedded Ray's processes stop; a cluster connection closes
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    cli()
