"""``python -m engine.build``: run a manifest into packed, tokenized Arrow shards + ledger."""
from __future__ import annotations

import argparse
import logging
import sys

from engine.core import fsio
from engine.core.manifest import ManifestError, load_manifest
from engine.run.build import Build
from engine.run.console import ConsoleProgress
from engine.run.lock import OutputLocked
from engine.run.plan import BuildError, check_stages, plan_units, print_check
from engine.tokenizer import load_tokenizer
from engine.tokenizer.load import TokenizerError


def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(
        prog="python -m engine.build",
        description="Build de-identification-checked, deduplicated, tokenized, packed Arrow shards + ledger from a manifest. "
        "Runs locally without Ray for small inputs, on Ray for large ones or when RAY_ADDRESS names a cluster "
        "(or the one `ray job submit` runs it on); --executor chooses.",
    )
    ap.add_argument("--manifest", required=True, help="manifest YAML; a bare name (all20.yaml, demo) is looked up under manifests/")
    ap.add_argument("--output", help="output URI (local path, s3://, gs://, memory://); overrides the manifest's output")
    g = ap.add_mutually_exclusive_group()
    g.add_argument("--resume", action="store_true", help="continue an interrupted build, reusing committed work")
    g.add_argument("--force", action="store_true", help="delete what is in the output and build from scratch")
    ap.add_argument("--check", action="store_true", help="validate the manifest and list what each source would read, then exit")
    ap.add_argument("--executor", choices=("auto", "local", "ray"),
                    help="where the work runs (default: manifest resources.executor; auto: Ray when RAY_ADDRESS is set or "
                    "the input is large, else local without Ray)")
    ap.add_argument("--workers", type=int, help="workers (default: manifest resources.workers; else Ray: the cluster's CPUs, "
                    "local: 1 in-process for small inputs, one process per CPU for large ones)")
    ap.add_argument("--keep-staging", action="store_true", help="keep OUT/_staging after a successful build")
    ap.add_argument("--quiet", action="store_true", help="no progress lines")
    ap.add_argument("--tokenizer-backend", choices=["auto", "hf", "fastokens"],
                    help="overrides the manifest's tokenizer_backend (auto: fastokens when it encodes this tokenizer exactly)")
    return ap


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        manifest, _ = load_manifest(args.manifest, output=args.output)
        if args.tokenizer_backend:
            manifest.tokenizer_backend = args.tokenizer_backend
        executor = args.executor or manifest.resources.executor
        if args.check:
            check_stages(manifest)
            plan = plan_units(manifest)
            load_tokenizer(manifest.tokenizer)
            print_check(manifest, plan, executor)
            return 0
        build = Build(manifest, manifest.output, args.workers, ConsoleProgress(not args.quiet), args.keep_staging, executor)
        build.run(args.resume, args.force)
        return 0
    except (ManifestError, BuildError, OutputLocked, fsio.StorageError, FileNotFoundError, TokenizerError) as e:
        print(f"error: {getattr(e, 'cause', None) or e}", file=sys.stderr)  # a worker's error: its message, not a traceback
        return 2
    except KeyboardInterrupt:
        print("\ninterrupted; continue with --resume", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
