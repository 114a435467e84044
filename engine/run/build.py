"""The build driver: plan, resume, run the phases on an executor, commit in order, finish.

The build runs in phases (see docs/ARCHITECTURE.md):

1. read (:mod:`engine.steps.read`): per work unit, read -> the manifest's stages (normalize,
   de-id check, filters by default) -> surviving texts, dedup keys and quarantine records;
2. dedup: global "latest version wins", exact dedup and near dedup as hash shuffles through
   files (hashes move, text does not);
3. tokenize (:mod:`engine.steps.tokenize`, per unit) and pack (:mod:`engine.steps.pack`, per
   run of units), committed in order (:mod:`engine.run.commit`): rename into place, then
   ``build.json``.

Every step is recorded under ``OUT/_staging``, so ``--resume`` redoes only unfinished work.  The
work runs on the executor chosen by :func:`engine.run.plan.choose_executor` (local or Ray).
"""
from __future__ import annotations

import logging
import os
import time

from engine.core import fsio
from engine.core.layout import Layout
from engine.core.manifest import Manifest
from engine.output import ledger
from engine.run import phases
from engine.run.commit import pack_phase
from engine.run.console import ConsoleProgress
from engine.run.finish import quarantine_index, summary_text, worker_seconds, write_reports
from engine.run.lock import OutputLock
from engine.run.plan import LOCAL_POOL_BYTES, BuildError, check_stages, choose_executor, input_bytes, make_executor, plan_units
from engine.run.worker import WorkerSpec

__all__ = ["Build", "BuildError", "summary_text"]

log = logging.getLogger("engine.build")


class Build:
    """One build of ``manifest`` into ``out``: ``run()`` returns the finished ``build.json``."""

    def __init__(self, manifest: Manifest, out: str, workers: int | None = None, progress: ConsoleProgress | None = None,
                 keep_staging: bool = False, executor: str | None = None):
        self.manifest = manifest
        self.out = out.rstrip("/")
        self.layout = Layout(self.out)
        self.workers = workers or manifest.resources.workers
        self.progress = progress or ConsoleProgress()
        self.keep_staging = keep_staging
        self.executor_kind = executor or manifest.resources.executor
        self.executor = None
        self.build_id = ""
        self.timings: dict[str, float] = {}
        self.dedup_stats: dict[str, int] = {}

    def prepare(self, resume: bool, force: bool) -> str:
        """Decide what to do with an existing output: 'fresh', 'resume' or 'done'."""
        lay = self.layout
        done = fsio.read_json(lay.ledger()) if fsio.exists(lay.ledger()) else None
        staged = fsio.read_json(lay.fingerprint()) if fsio.exists(lay.fingerprint()) else None
        fingerprint = self.manifest.fingerprint()
        if force:
            return "force"  # the output is wiped only after the plan and the tokenizer are validated
        if done is not None and done.get("complete") and staged is None:
            if done.get("fingerprint") == fingerprint:
                return "done"
            raise BuildError(f"{self.out} holds a finished build of a different manifest; use --force to rebuild, or another --output")
        if staged is not None:
            if staged.get("fingerprint") != fingerprint:
                raise BuildError(
                    f"{self.out} holds an unfinished build of a different manifest or settings; use --force to start over"
                )
            if not resume:
                raise BuildError(f"{self.out} holds an unfinished build; continue it with --resume, or start over with --force")
            return "resume"
        if done is not None or fsio.listdir(fsio.join(self.out, "shards")):
            raise BuildError(f"{self.out} is not empty; use --resume, --force or another --output")
        return "fresh"

    def wipe(self) -> None:
        for sub in ("shards", "quarantine", "report", "_staging", "build.json"):
            fsio.remove(fsio.join(self.out, sub), recursive=True)

    def run(self, resume: bool = False, force: bool = False) -> dict:
        fs, path = fsio.fs_and_path(self.out)
        if fs.exists(path) and not fs.isdir(path):
            raise BuildError(f"output {self.out} is an existing file, not a folder")
        fsio.makedirs(self.out)
        with OutputLock(self.out):  # before prepare(): --force must never wipe an output another build is writing
            return self._run(resume, force)

    def _run(self, resume: bool, force: bool) -> dict:
        from engine.tokenizer import load_tokenizer

        t_start = time.time()
        check_stages(self.manifest)
        state = self.prepare(resume, force)
        if state == "done":
            self.progress.say(f"{self.out}: build already complete (same manifest); nothing to do (use --force to rebuild)")
            return fsio.read_json(self.layout.ledger())
        m = self.manifest
        tok = load_tokenizer(m.tokenizer)
        self.tok_backend = self._tokenizer_backend(tok)  # a refused backend: an error before anything is touched
        resolved = m.model_copy(update={"tokenizer_backend": self.tok_backend.backend})  # workers skip "auto"
        spec = WorkerSpec(resolved, self.out, m.tokenizer)
        early = start_early(self.executor_kind, spec, self.workers, m, self.progress)
        try:
            plan = plan_units(m)  # every input found, or an error before anything is touched
            if state == "force":
                self.wipe()
            units = [u for s in m.sources for u in plan[s.name]]
            self.build_id = bid = ledger.build_id(m.fingerprint(), [u.unit_id for u in units], tok.sha256)
            fsio.write_json_atomic(self.layout.fingerprint(), {"fingerprint": m.fingerprint(), "build_id": bid})
            ledger.write_tokenizer(self.out, tok)  # the output decodes wherever it is moved
            kind, why = choose_executor(self.executor_kind, plan)
            self.progress.say(f"build {m.name} ({bid}) -> {self.out}: {len(units)} units from {len(plan)} sources"
                              + (" (resuming)" if state == "resume" else "") + f"; executor {kind} ({why})")
            size = input_bytes(plan)
            if early is not None and early[0] == kind and (kind == "ray" or self.workers or size < LOCAL_POOL_BYTES):
                self.executor = early[1]
            else:
                if early is not None:
                    early[1].close()
                if kind == "ray":
                    self.progress.say("starting: connecting to Ray (or starting it) and waiting for the worker processes")
                self.executor = make_executor(kind, spec, self.workers, m, size)
                self.executor.start()
            early = None
        finally:
            if early is not None:  # planning failed: nothing ran on the early workers
                early[1].close()
        log.info("executor %s (%s): %s", kind, why, self.executor.where)
        self.progress.say(f"executor {self.executor.where}; each worker sets up the stages "
                          f"({', '.join(check_stages(m))}) before its first unit (the de-id model takes longest)")
        self.timings["start-up"] = time.time() - t_start
        try:
            reads = phases.read_phase(self, units)
            drop_uris = phases.dedup_phase(self, units, reads)
            tokens = phases.tokenize_phase(self, units, drop_uris)

            def write_ledger(groups, shards) -> None:
                sources = ledger.aggregate(m, [x.to_json() for x in reads.values()], [x.to_json() for x in tokens.values()],
                                           [g.to_json() for g in groups])
                fsio.write_json_atomic(self.layout.ledger(), ledger.build_json(m, tok, bid, sources, shards, [], complete=False))

            groups = pack_phase(self, plan, reads, write_ledger)
        finally:
            self.executor.close()
        return self._finish(tok, bid, [reads[u.unit_id] for u in units], [tokens[u.unit_id] for u in units], groups, t_start)

    def _tokenizer_backend(self, tok):
        from engine.tokenizer import backends

        try:
            _, choice = backends.choose(tok, self.manifest.tokenizer_backend)
        except backends.BackendError as e:
            raise BuildError(str(e)) from None
        if not (choice.backend == "hf" and choice.requested == "auto"):  # a fallback is logged as a warning by choose()
            self.progress.say(backends.describe(choice))
        return choice

    def _finish(self, tok, bid: str, reads: list, tokens: list, groups: list, t_start: float) -> dict:
        m = self.manifest
        sources = ledger.aggregate(m, [x.to_json() for x in reads], [x.to_json() for x in tokens], [g.to_json() for g in groups])
        errs = ledger.invariant_errors(sources)
        if errs:
            raise BuildError("ledger does not add up (an engine bug; the build is not marked complete):\n  " + "\n  ".join(errs))
        shards = [sh for g in groups for sh in g.shards]
        doc = ledger.build_json(m, tok, bid, sources, shards, quarantine_index(self.out, reads, tokens), complete=True)
        doc["tokenizer"]["backend"] = self.tok_backend.as_dict()
        fsio.write_json_atomic(self.layout.ledger(), doc)
        self.timings["total"] = time.time() - t_start
        summary = write_reports(self, doc, bid, worker_seconds(reads, tokens, groups))
        if not self.keep_staging:
            fsio.remove(self.layout.staging, recursive=True)
        self.progress.say("done\n" + summary)
        self.progress.say(f"report: {self.layout.report('index.html')} (summary.txt and timings.json beside it)")
        return doc


def start_early(requested: str, spec: WorkerSpec, workers: int | None, manifest: Manifest, progress):
    """``(kind, executor)`` whose workers set up while the driver plans, when the kind is known before
    the plan: Ray on the cluster RAY_ADDRESS names, or a local executor (requested, or the likely
    choice of ``auto``: an in-process worker, replaced should the plan call for more); else None."""
    if requested == "ray" or (requested == "auto" and os.environ.get("RAY_ADDRESS")):
        if not os.environ.get("RAY_ADDRESS"):
            return None  # an embedded Ray starts only once the plan is known to be sound
        progress.say("starting: connecting to the Ray cluster; the worker actors set up while the inputs are planned")
        kind = "ray"
    else:
        kind = "local"
    ex = make_executor(kind, spec, workers, manifest, 0)
    ex.start()
    return kind, ex
