"""A real S3 API on loopback for tests: moto's server mode, plus a TCP proxy that can be "stopped".

``S3Server`` runs ``python -m moto.server`` on 127.0.0.1 (a free port) and hands out the
environment a client needs: dummy credentials and ``AWS_ENDPOINT_URL`` (read by botocore and
therefore by s3fs), nothing in any manifest.  Clients talk to it through ``TcpProxy``, so a test
can take the endpoint away (connections refused, like a dead server) and bring it back without
losing moto's in-memory objects.
"""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
import urllib.request
import uuid

import pytest


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class TcpProxy:
    """Forward 127.0.0.1:port to a target; ``stop()`` closes the listener and every open connection."""

    def __init__(self, target_port: int, port: int | None = None) -> None:
        self.target = ("127.0.0.1", target_port)
        self.port = port or free_port()
        self._lsock: socket.socket | None = None
        self._conns: set[socket.socket] = set()
        self._lock = threading.Lock()
        self.up = False

    def start(self) -> None:
        ls = socket.socket()
        ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        for _ in range(50):
            try:
                ls.bind(("127.0.0.1", self.port))
                break
            except OSError:
                time.sleep(0.1)
        ls.listen(128)
        self._lsock = ls
        self.up = True
        threading.Thread(target=self._accept, args=(ls,), daemon=True).start()

    def _accept(self, ls: socket.socket) -> None:
        while True:
            try:
                c, _ = ls.accept()
            except OSError:
                return
            try:
                u = socket.create_connection(self.target)
            except OSError:
                c.close()
                continue
            with self._lock:
                self._conns |= {c, u}
            threading.Thread(target=self._pipe, args=(c, u), daemon=True).start()
            threading.Thread(target=self._pipe, args=(u, c), daemon=True).start()

    def _pipe(self, a: socket.socket, b: socket.socket) -> None:
        try:
            while True:
                d = a.recv(65536)
                if not d:
                    break
                b.sendall(d)
        except OSError:
            pass
        finally:
            for s in (a, b):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                s.close()
            with self._lock:
                self._conns -= {a, b}

    def stop(self) -> None:
        self.up = False
        if self._lsock is not None:
            try:
                self._lsock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            self._lsock.close()
            self._lsock = None
        with self._lock:
            conns = list(self._conns)
        for s in conns:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            s.close()


class S3Server:
    def __init__(self) -> None:
        self.moto_port = free_port()
        self.proc: subprocess.Popen | None = None
        self.proxy: TcpProxy | None = None
        #: a distinctive secret: tests check it never reaches an output file or a log
        self.secret = "SECRET-" + uuid.uuid4().hex
        self.key_id = "AKIDTEST" + uuid.uuid4().hex[:8].upper()

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.proxy.port}"

    @property
    def direct_endpoint(self) -> str:
        return f"http://127.0.0.1:{self.moto_port}"

    def env(self) -> dict[str, str]:
        return {
            "AWS_ACCESS_KEY_ID": self.key_id,
            "AWS_SECRET_ACCESS_KEY": self.secret,
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_ENDPOINT_URL": self.endpoint,
        }

    def start(self, log_path: str | None = None) -> "S3Server":
        out = open(log_path, "wb") if log_path else subprocess.DEVNULL
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.moto_port)],
            stdout=out, stderr=subprocess.STDOUT,
        )
        deadline = time.time() + 60
        while True:
            try:
                urllib.request.urlopen(self.direct_endpoint + "/", timeout=1).read()
                break
            except Exception:
                if self.proc.poll() is not None or time.time() > deadline:
                    raise RuntimeError("moto server did not start")
                time.sleep(0.2)
        self.proxy = TcpProxy(self.moto_port)
        self.proxy.start()
        return self

    def stop(self) -> None:
        if self.proxy:
            self.proxy.stop()
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()

    def filesystem(self, direct: bool = True):
        """An s3fs filesystem for the test itself (not cached, so endpoint changes never leak)."""
        import s3fs

        return s3fs.S3FileSystem(
            key=self.key_id, secret=self.secret, skip_instance_cache=True,
            client_kwargs={"endpoint_url": self.direct_endpoint if direct else self.endpoint},
        )


@pytest.fixture(scope="module")
def s3_server(tmp_path_factory):
    pytest.importorskip("moto")
    pytest.importorskip("s3fs")
    log = tmp_path_factory.mktemp("moto") / "moto.log"
    srv = S3Server().start(str(log))
    yield srv
    srv.stop()


@pytest.fixture
def s3_env(s3_server, monkeypatch):
    """The S3 client environment set in this process for one test (fsspec's instance cache cleared around it)."""
    import s3fs

    s3fs.S3FileSystem.clear_instance_cache()
    for k, v in s3_server.env().items():
        monkeypatch.setenv(k, v)
    yield s3_server
    s3fs.S3FileSystem.clear_instance_cache()


def upload_dir(fs, local: str, remote: str) -> None:
    for root, _, files in os.walk(local):
        for f in files:
            p = os.path.join(root, f)
            fs.put_file(p, remote.rstrip("/") + "/" + os.path.relpath(p, local))


ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def build_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """Environment for a build subprocess: no RAY_ADDRESS (embedded Ray), auth off, repo on the path."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "RAY_ADDRESS"))}
    env["RAY_AUTH_MODE"] = "disabled"
    env["PYTHONPATH"] = ROOT
    env["TOKENIZERS_PARALLELISM"] = "false"
    env.update(extra or {})
    return env


def build_cmd(manifest, *args: str) -> list[str]:
    return [sys.executable, "-m", "engine.build", "--manifest", str(manifest), *args]
