"""`ray job submit --working-dir . -- python -m engine.build ...` against a local `ray start --head`.

The head runs with RAY_AUTH_MODE=disabled: an embedded ray.init() earlier on this machine
writes ~/.ray/auth_token, after which a plain `ray start --head` turns token auth on and
`ray job submit` fails with "Missing authentication token".
"""
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
pytestmark = [pytest.mark.slow, pytest.mark.ray]


def free_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def test_ray_job_submit_builds_demo(tmp_path):
    bindir = Path(sys.executable).parent
    ray_bin = shutil.which("ray", path=str(bindir)) or shutil.which("ray")
    env = dict(os.environ, RAY_AUTH_MODE="disabled", PATH=f"{bindir}:{os.environ.get('PATH', '')}")
    env.pop("RAY_ADDRESS", None)
    gcs, dash = free_port(), free_port()
    short_tmp = tempfile.mkdtemp(prefix="rj", dir="/tmp")  # unix socket paths must stay short
    head = subprocess.Popen(
        [ray_bin, "start", "--head", "--block", f"--port={gcs}", "--num-cpus=2", "--dashboard-host=127.0.0.1",
         f"--dashboard-port={dash}", "--disable-usage-stats", f"--temp-dir={short_tmp}",
         # own agent ports: the session's embedded Ray already holds the defaults (52365, ...)
         f"--dashboard-agent-listen-port={free_port()}", f"--dashboard-agent-grpc-port={free_port()}",
         f"--runtime-env-agent-port={free_port()}", f"--metrics-export-port={free_port()}"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )
    out = tmp_path / "out"
    try:
        deadline = time.time() + 240
        while time.time() < deadline:
            r = subprocess.run([ray_bin, "job", "list", "--address", f"http://127.0.0.1:{dash}"], env=env, capture_output=True)
            if r.returncode == 0:
                break
            time.sleep(2)
        else:
            pytest.fail("ray head did not come up")
        for _ in range(24):  # the dashboard answers before its job agent is up
            r = subprocess.run(
                [ray_bin, "job", "submit", "--address", f"http://127.0.0.1:{dash}", "--working-dir", ".", "--",
                 "python", "-m", "engine.build", "--manifest", "demo.yaml", "--output", str(out)],
                cwd=ROOT, env=env, capture_output=True, text=True, timeout=400,
            )
            if "No available agent" not in r.stdout + r.stderr:
                break
            time.sleep(5)
        assert r.returncode == 0, (r.stdout + r.stderr)[-3000:]
        assert "succeeded" in r.stdout.lower()
        assert "cluster" in r.stdout  # the job joined the running cluster instead of starting its own
        a = subprocess.run([sys.executable, "-m", "engine.audit", str(out), "--json"], env=env, capture_output=True, text=True)
        assert a.returncode == 0 and json.loads(a.stdout)["ok"]
    finally:
        os.killpg(head.pid, signal.SIGTERM)
        try:
            head.wait(60)
        except subprocess.TimeoutExpired:
            os.killpg(head.pid, signal.SIGKILL)
        shutil.rmtree(short_tmp, ignore_errors=True)
