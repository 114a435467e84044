"""An S3 API server on loopback that counts the requests it serves, by build phase and kind.

moto's S3 application wrapped in a WSGI middleware.  Every request is classified as one of
``LIST`` (list buckets / objects), ``HEAD``, ``GET`` (object reads, ranged or not), ``PUT``
(object and part uploads, bucket creation), ``COPY`` (PUT with ``x-amz-copy-source``),
``POST`` (multipart create / complete) or ``DELETE`` (single or batch), and counted under the
phase the client last announced:

* ``GET /__count/phase?name=read``   later requests count under ``read``;
* ``GET /__count/counts``            ``{"phase": {"KIND": n}, ...}`` plus ``"_bytes"`` in/out;
* ``GET /__count/reset``             zero the counters (phase back to ``setup``).

Bucket names cannot start with ``_``, so these paths never collide with S3 requests.

    python -m bench.s3count --port 9123      # serves until killed

:class:`CountingServer` runs the server in a child process (``start()``), or in the calling
process (``start(in_process=True)``: a threaded server on loopback).  In-process, inputs are put
straight into moto's store with :meth:`CountingServer.put_tree` (no HTTP, not counted): laying out
10^4 input files takes seconds instead of the hour the HTTP uploads took on a loaded machine.
"""
from __future__ import annotations

import argparse
import json
import logging
import threading
import time
import urllib.request
from collections import Counter, defaultdict
from urllib.parse import parse_qs

CONTROL = "/__count/"


def classify(method: str, path: str, query: str, headers: dict[str, str]) -> str:
    """The request kind of one path-style S3 request."""
    method = method.upper()
    parts = [p for p in path.split("/") if p]
    has_key = len(parts) >= 2
    q = parse_qs(query, keep_blank_values=True)
    if method == "HEAD":
        return "HEAD"
    if method == "GET":
        return "GET" if has_key and "uploadId" not in q else "LIST"
    if method == "PUT":
        return "COPY" if any(k.lower() == "x-amz-copy-source" for k in headers) else "PUT"
    if method == "POST":
        return "DELETE" if "delete" in q else "POST"
    if method == "DELETE":
        return "DELETE"
    return method


class Counting:
    """WSGI middleware: counts, then hands the request to the wrapped application."""

    def __init__(self, app) -> None:
        self.app = app
        self.lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        with getattr(self, "lock", threading.Lock()):
            self.phase = "setup"
            self.counts: dict[str, Counter] = defaultdict(Counter)
            self.bytes: dict[str, Counter] = defaultdict(Counter)

    def snapshot(self) -> dict:
        with self.lock:
            out = {p: dict(c) for p, c in self.counts.items()}
            out["_bytes"] = {p: dict(c) for p, c in self.bytes.items()}
            out["_phase"] = self.phase
        return out

    def _control(self, environ, start_response):
        what = environ["PATH_INFO"][len(CONTROL):]
        q = parse_qs(environ.get("QUERY_STRING", ""))
        if what == "phase":
            with self.lock:
                self.phase = q.get("name", ["unnamed"])[0]
            body = {"phase": self.phase}
        elif what == "reset":
            self.reset()
            body = {"reset": True}
        else:
            body = self.snapshot()
        data = json.dumps(body).encode()
        start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(data)))])
        return [data]

    def __call__(self, environ, start_response):
        path = environ.get("PATH_INFO", "")
        if path.startswith(CONTROL):
            return self._control(environ, start_response)
        headers = {k[5:].replace("_", "-").lower(): v for k, v in environ.items() if k.startswith("HTTP_")}
        kind = classify(environ["REQUEST_METHOD"], path, environ.get("QUERY_STRING", ""), headers)
        size_in = int(environ.get("CONTENT_LENGTH") or 0)
        status_seen: list[str] = []

        def sr(status, hdrs, exc_info=None):
            status_seen.append(status)
            with self.lock:
                for k, v in hdrs:
                    if k.lower() == "content-length" and kind == "GET":
                        self.bytes[self.phase]["out"] += int(v or 0)
            return start_response(status, hdrs, exc_info)

        with self.lock:
            self.counts[self.phase][kind] += 1
            self.bytes[self.phase]["in"] += size_in
        return self.app(environ, sr)


def counting_app(port: int) -> Counting:
    """moto's S3 application behind the counter."""
    import os

    from moto.server import DomainDispatcherApplication, create_backend_app

    os.environ["MOTO_PORT"] = str(port)  # moto tells path-style from virtual-host requests by it
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # no line per request
    return Counting(DomainDispatcherApplication(create_backend_app))


def serve(host: str, port: int) -> None:
    from werkzeug.serving import run_simple

    run_simple(host, port, counting_app(port), threaded=True)


class CountingServer:
    """The counting server in a child process; ``phase()`` / ``counts()`` talk to it over HTTP."""

    def __init__(self, port: int | None = None, log_path: str | None = None) -> None:
        import socket

        if port is None:
            with socket.socket() as s:
                s.bind(("127.0.0.1", 0))
                port = s.getsockname()[1]
        self.port = port
        self.log_path = log_path
        self.proc = None
        self.app: Counting | None = None  # in-process: the counter itself
        self.httpd = None

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def env(self) -> dict[str, str]:
        """What an S3 client (botocore / s3fs) needs to reach this server: dummy credentials only."""
        return {"AWS_ACCESS_KEY_ID": "rehearsal", "AWS_SECRET_ACCESS_KEY": "rehearsal",
                "AWS_DEFAULT_REGION": "us-east-1", "AWS_ENDPOINT_URL": self.endpoint}

    def start(self, in_process: bool = False) -> "CountingServer":
        if in_process:
            from werkzeug.serving import make_server

            self.app = counting_app(self.port)
            self.httpd = make_server("127.0.0.1", self.port, self.app, threaded=True)
            threading.Thread(target=self.httpd.serve_forever, name="s3count", daemon=True).start()
            return self
        import os
        import subprocess
        import sys

        out = open(self.log_path, "wb") if self.log_path else subprocess.DEVNULL
        root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        env = dict(os.environ, PYTHONPATH=root)
        self.proc = subprocess.Popen([sys.executable, "-m", "bench.s3count", "--port", str(self.port)],
                                     stdout=out, stderr=subprocess.STDOUT, cwd=root, env=env)
        deadline = time.time() + 60
        while True:
            try:
                self.counts()
                return self
            except OSError:
                if self.proc.poll() is not None or time.time() > deadline:
                    raise RuntimeError("the counting S3 server did not start")
                time.sleep(0.2)

    def _get(self, what: str) -> dict:
        with urllib.request.urlopen(f"{self.endpoint}{CONTROL}{what}", timeout=30) as r:
            return json.loads(r.read())

    def phase(self, name: str) -> None:
        if self.app is not None:
            with self.app.lock:
                self.app.phase = name
            return
        self._get(f"phase?name={name}")

    def counts(self) -> dict:
        return json.loads(json.dumps(self.app.snapshot())) if self.app is not None else self._get("counts")

    def reset(self) -> None:
        if self.app is not None:
            self.app.reset()
            return
        self._get("reset")

    def put_tree(self, local: str, bucket: str, prefix: str) -> int:
        """In-process only: every file under the folder ``local`` (but the manifests) into moto's store
        at ``bucket/prefix/<relative path>``, without HTTP and uncounted; returns the file count."""
        from pathlib import Path

        from moto.core import DEFAULT_ACCOUNT_ID
        from moto.s3.models import s3_backends

        if self.app is None:
            raise RuntimeError("put_tree needs the in-process server (start(in_process=True))")
        backend = s3_backends[DEFAULT_ACCOUNT_ID]["global"]
        if bucket not in backend.buckets:
            backend.create_bucket(bucket, "us-east-1")
        root = Path(local)
        files = [p for p in sorted(root.rglob("*")) if p.is_file() and p.suffix != ".yaml"]
        for p in files:
            backend.put_object(bucket, f"{prefix.strip('/')}/{p.relative_to(root).as_posix()}", p.read_bytes())
        return len(files)

    def filesystem(self):
        import s3fs

        return s3fs.S3FileSystem(key="rehearsal", secret="rehearsal", skip_instance_cache=True,
                                 client_kwargs={"endpoint_url": self.endpoint})

    def stop(self) -> None:
        if self.httpd is not None:
            self.httpd.shutdown()
            self.httpd.server_close()
            self.httpd = None
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except Exception:
                self.proc.kill()


def announce(name: str) -> None:
    """Tell the counting server named by ``REHEARSAL_COUNT_URL`` that a phase starts (no-op without it)."""
    import os

    url = os.environ.get("REHEARSAL_COUNT_URL")
    if url:
        with urllib.request.urlopen(f"{url}{CONTROL}phase?name={name}", timeout=30) as r:
            r.read()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.s3count", description=__doc__.split("\n\n")[0])
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    a = ap.parse_args(argv)
    serve(a.host, a.port)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
