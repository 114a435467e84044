"""engine.train.trainer: resume reproduces the uninterrupted run, loss falls, schedule, CLI."""
from __future__ import annotations

import json
import math

import pytest
import torch

from engine.train import trainer as train
from tests.helpers_stream import write_build

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def learn_build(tmp_path_factory):
    out = str(tmp_path_factory.mktemp("train") / "out")
    write_build(out, {"clin": (2, 12), "pub": (2, 12)}, weights={"clin": 2.0, "pub": 1.0}, max_seq_len=64,
                vocab=128, learnable=True)
    return out


def common(out, output, steps, *extra):
    return ["--shards", out, "--model-config", "tiny", "--output", str(output), "--steps", str(steps),
            "--token-budget", "192", "--threads", "1", "--quiet", "--warmup-steps", "3", "--decay-steps", "4",
            "--lr", "3e-3", "--partitions", "4", "--block-rows", "4", "--seed", "3", *extra]


def test_resumed_run_matches_uninterrupted(learn_build, tmp_path):
    full = train.main(common(learn_build, tmp_path / "a", 8, "--grad-accum", "2", "--num-workers", "2"))["history"]
    assert [h["step"] for h in full] == list(range(1, 9))
    part = train.main(common(learn_build, tmp_path / "b", 8, "--grad-accum", "2", "--num-workers", "2", "--stop-after", "4"))["history"]
    assert [h["step"] for h in part] == [1, 2, 3, 4]
    assert (tmp_path / "b" / "ckpt-000004" / "trainer_state.pt").exists()
    rest = train.main(common(learn_build, tmp_path / "b", 8, "--grad-accum", "2", "--num-workers", "2", "--resume"))["history"]
    assert [h["step"] for h in rest] == [5, 6, 7, 8]
    for a, b in zip(full, part + rest):
        assert a["rows_sha1"] == b["rows_sha1"]  # same rows, same order
        assert a["masked"] == b["masked"]
        assert math.isclose(a["loss"], b["loss"], rel_tol=1e-5, abs_tol=1e-6), (a, b)
    st = torch.load(tmp_path / "b" / "ckpt-000008" / "trainer_state.pt", weights_only=False)
    assert set(st["source_tokens"]) == {"clin", "pub"} and st["loader"]["version"] == 1


@pytest.mark.slow
def test_loss_falls_on_cpu(learn_build, tmp_path):
    log = tmp_path / "log.jsonl"
    res = train.main(common(learn_build, tmp_path / "c", 60, "--log-jsonl", str(log), "--decay-steps", "15"))
    losses = [h["loss"] for h in res["history"]]
    assert len(losses) == 60
    first, last = sum(losses[:8]) / 8, sum(losses[-8:]) / 8
    assert last < first - 1.0, (first, last)
    assert len(log.read_text().splitlines()) == 60 and "loss" in json.loads(log.read_text().splitlines()[0])
    assert res["source_tokens"]["clin"] > res["source_tokens"]["pub"]  # weight 2 vs 1


def test_wsd_schedule():
    f = train.wsd_lambda(100, 10, 20)
    assert f(0) == pytest.approx(0.1) and f(9) == pytest.approx(1.0)
    assert f(50) == 1.0 and f(79) == 1.0
    assert f(80) == pytest.approx(1.0) and f(85) == pytest.approx(1 - math.sqrt(5 / 20))
    assert f(99) == pytest.approx(1 - math.sqrt(19 / 20))
    assert all(f(i) >= f(i + 1) for i in range(80, 99))


def test_cli_help(capsys):
    with pytest.raises(SystemExit) as e:
        train.parse_args(["--help"])
    assert e.value.code == 0
    text = capsys.readouterr().out
    for flag in ("--shards", "--model-config", "--init-from", "--resume", "--grad-accum", "--token-budget", "--weights"):
        assert flag in text


def test_model_config_file_and_init_from_phase2(learn_build, tmp_path):
    cfg = tmp_path / "cfg.json"
    cfg.write_text(json.dumps({**train.TINY, "hidden_size": 32, "intermediate_size": 64}))
    args = common(learn_build, tmp_path / "p1", 2)
    args[args.index("tiny")] = str(cfg)
    train.main(args)
    ck = tmp_path / "p1" / "ckpt-000002"
    assert ck.exists()
    # phase 2: weights from the checkpoint, fresh optimizer and loader, clinical source only
    args2 = common(learn_build, tmp_path / "p2", 3, "--weights", "pub=0", "--num-workers", "1")
    i = args2.index("--model-config")
    args2[i : i + 2] = ["--init-from", str(ck)]
    res = train.main(args2)
    assert res["step"] == 3 and set(res["source_tokens"]) == {"clin"}
