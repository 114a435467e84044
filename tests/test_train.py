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
            "--lr", "3e-3", "--block-rows", "4", "--seed", "3", *extra]


def test_resumed_run_matches_uninterrupted(learn_build, tmp_path):
    full = train.main(common(learn_build, tmp_path / "a", 8, "--grad-accum", "2", "--num-workers", "2"))["history"]
    assert [h["step"] for h in full] == list(range(1, 9))
    part = train.main(common(learn_build, tmp_path / "b", 8, "--grad-accum", "2", "--num-workers", "2", "--stop-after", "4"))["history"]
    assert [h["step"] for h in part] == [1, 2, 3, 4]
    assert (tmp_path / "b" / "ckpt-000004" / "trainer_state.pt").exists()
    rest = train.main(common(learn_build, tmp_path / "b", 8, "--grad-accum", "2", "--num-workers", "2", "--resume"))["history"]
    assert [h["step"] for h in rest] == [5, 6, 7, 8]
    assert full[0]["lr"] == 0.0 and full[1]["lr"] == pytest.approx(1e-3)  # the lr each step used (warmup 3, lr 3e-3)
    for a, b in zip(full, part + rest):
        assert a["rows_sha1"] == b["rows_sha1"]  # same rows, same order
        assert a["masked"] == b["masked"]
        assert math.isclose(a["loss"], b["loss"], rel_tol=1e-5, abs_tol=1e-6), (a, b)
    st = torch.load(tmp_path / "b" / "ckpt-000008" / "trainer_state.pt", weights_only=True)
    assert set(st["source_tokens"]) == {"clin", "pub"} and st["loader"]["version"] == 2


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


def test_wsd_schedule_is_transformers_1_sqrt():
    """transformers.get_wsd_schedule with a 1-sqrt decay: warmup from 0, stable, 1 - sqrt(progress)."""
    f = train.wsd_lambda(100, 10, 20)
    assert f(0) == 0.0 and f(5) == pytest.approx(0.5) and f(10) == 1.0
    assert f(50) == 1.0 and f(79) == 1.0
    assert f(80) == pytest.approx(1.0) and f(85) == pytest.approx(1 - math.sqrt(5 / 20))
    assert f(99) == pytest.approx(1 - math.sqrt(19 / 20)) and f(100) == 0.0
    assert all(f(i) >= f(i + 1) for i in range(80, 100))
    g = train.wsd_lambda(100, 10, 20, min_ratio=0.1)
    assert g(100) == pytest.approx(0.1) and g(90) == pytest.approx(0.1 + 0.9 * (1 - math.sqrt(0.5)))


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


def _exit2(args, capsys):
    with pytest.raises(SystemExit) as e:
        train.main(args)
    assert e.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("error: ")
    return err[-1]


def test_config_errors_exit_2(learn_build, tmp_path, capsys):
    msg = _exit2(common(learn_build, tmp_path / "x", 2, "--weights", "pubb=0"), capsys)
    assert "unknown sources pubb" in msg and "clin, pub" in msg
    assert "no build.json" in _exit2(common(str(tmp_path / "nope"), tmp_path / "x", 2), capsys)
    args = common(learn_build, tmp_path / "x", 2)
    args[args.index("tiny")] = str(tmp_path / "missing.json")
    assert "no such file" in _exit2(args, capsys)
    assert "flash" in _exit2(common(learn_build, tmp_path / "x", 2, "--attn", "flash", "--device", "cpu"), capsys)
    assert not (tmp_path / "x").exists()  # nothing was done


def _foreign_checkpoint(path, **over):
    from transformers import ModernBertConfig, ModernBertForMaskedLM

    fields = {**train.TINY, "vocab_size": 50368, "pad_token_id": 50283, "cls_token_id": 50281,
              "sep_token_id": 50282, "bos_token_id": 50281, "eos_token_id": 50282, **over}
    ModernBertForMaskedLM(ModernBertConfig(**fields)).save_pretrained(path)
    return str(path)


def test_init_from_checks_special_ids_and_vocab(learn_build, tmp_path, capsys):
    ck = _foreign_checkpoint(tmp_path / "base")  # ModernBERT-base ids, a 128-token build tokenizer
    args = common(learn_build, tmp_path / "p", 2)
    i = args.index("--model-config")
    args[i : i + 2] = ["--init-from", ck]
    msg = _exit2(args, capsys)
    assert "pad_token_id 50283 != the build's [pad] id 3" in msg and "cls_token_id 50281" in msg
    small = _foreign_checkpoint(tmp_path / "small", vocab_size=64, pad_token_id=3, cls_token_id=1, sep_token_id=2,
                                bos_token_id=1, eos_token_id=2)
    args[i + 1] = small
    assert "vocab_size 64 < the build tokenizer's 128" in _exit2(args, capsys)


def test_init_from_bf16_checkpoint_trains_in_fp32(learn_build, tmp_path):
    from transformers import ModernBertConfig, ModernBertForMaskedLM

    from engine.train.model import build_model

    fields = {**train.TINY, "vocab_size": 128, "pad_token_id": 3, "cls_token_id": 1, "sep_token_id": 2,
              "bos_token_id": 1, "eos_token_id": 2}
    ModernBertForMaskedLM(ModernBertConfig(**fields)).to(torch.bfloat16).save_pretrained(tmp_path / "bf16")
    args = train.parse_args(["--shards", learn_build, "--init-from", str(tmp_path / "bf16")])
    model = build_model(args, train.check_args(args, False), "sdpa")
    assert {p.dtype for p in model.parameters()} == {torch.float32}


@pytest.fixture(scope="module")
def tok_build(tmp_path_factory):
    from tests.helpers_stream import write_tokenizer

    d = tmp_path_factory.mktemp("tok")
    tok = write_tokenizer(str(d / "tokenizer.json"), vocab_size=300, unused=20)
    out = str(d / "out")
    write_build(out, {"clin": (1, 6), "pub": (1, 6)}, max_seq_len=64, vocab=250, tokenizer_file=tok)
    return out, tok


def test_replacements_are_real_tokenizer_ids(tok_build):
    from engine.train.masking import mask_tokens
    from engine.train.model import build_tokenizer, replacement_ids
    from engine.train.stream import read_build

    out, tok = tok_build
    build = read_build(out)
    loaded = build_tokenizer(build)
    assert loaded is not None and loaded.sha256 == build["tokenizer"]["sha256"]
    ids = replacement_ids(build, loaded)
    vocab = loaded.tokenizer.get_vocab()
    unused = {i for t, i in vocab.items() if t.startswith("[unused")}
    assert len(unused) == 20 and not unused & set(ids) and not {0, 1, 2, 3, 4} & set(ids)
    assert max(ids) < build["tokenizer"]["vocab_size"] - 20
    x = torch.randint(5, max(ids), (50_000,))
    out_ids, labels = mask_tokens(x, mask_id=4, special_ids=range(5), replace_ids=ids, rate=0.5,
                                  generator=torch.Generator().manual_seed(0))
    replaced = (labels != -100) & (out_ids != 4) & (out_ids != x)
    assert replaced.sum() > 1000 and set(out_ids[replaced].tolist()) <= set(ids)


def test_checkpoint_holds_tokenizer_and_no_double_save(tok_build, tmp_path, monkeypatch):
    from transformers import AutoTokenizer

    from engine.train import checkpoint

    out, _ = tok_build
    calls = []
    real = checkpoint.save_checkpoint
    monkeypatch.setattr(checkpoint, "save_checkpoint", lambda *a, **k: calls.append(a[1]) or real(*a, **k))
    train.main(common(out, tmp_path / "r", 6, "--save-every", "2", "--stop-after", "2"))
    assert calls == [2]  # --stop-after == --save-every: written once
    tok = AutoTokenizer.from_pretrained(str(tmp_path / "r" / "ckpt-000002"))
    assert tok.mask_token_id == 4 and tok.cls_token_id == 1 and tok.pad_token_id == 3


def test_checkpoint_rotation_is_numeric(tmp_path):
    from engine.train.checkpoint import ckpt_dirs

    for s in (999000, 1000000, 2000):
        (tmp_path / f"ckpt-{s:06d}").mkdir()
    assert [p.rsplit("-", 1)[1] for p in ckpt_dirs(str(tmp_path))] == ["002000", "999000", "1000000"]


def test_decoupled_weight_decay_not_scaled_by_lr():
    from engine.train.optim import decoupled_to_adamw, make_optimizer

    def one_step(name, lr, wd):
        m = torch.nn.Linear(4, 4, bias=False)
        torch.nn.init.ones_(m.weight)
        opt = make_optimizer(name, m, lr=lr, betas=(0.9, 0.98), eps=1e-6, weight_decay=wd)
        m.weight.grad = torch.zeros_like(m.weight)  # no gradient: only the decay moves the weight
        opt.step()
        return float(m.weight[0, 0].detach())

    assert one_step("stableadamw", 8e-4, 1e-2) == pytest.approx(1 - 1e-2, abs=1e-7)  # decay at peak lr: wd
    assert one_step("stableadamw", 1e-6, 1e-2) == pytest.approx(1 - 1e-2, abs=1e-7)  # same at any lr magnitude
    assert one_step("adamw", 8e-4, 1e-2) == pytest.approx(1 - 8e-6, abs=1e-7)  # torch AdamW: wd x lr
    assert one_step("adamw", 8e-4, decoupled_to_adamw(1e-2, 8e-4)) == pytest.approx(1 - 1e-2, abs=1e-6)


def test_epochs_end_with_the_stream_and_log_eta(learn_build, tmp_path, capsys):
    args = [a for a in common(learn_build, tmp_path / "e", 1) if a != "--quiet"]
    i = args.index("--steps")
    args[i : i + 2] = ["--epochs", "1"]
    res = train.main(args + ["--log-every", "2"])
    text = capsys.readouterr().out
    assert "1 epochs of 72 rows (72 per rank, 0 padded)" in text
    assert "eta " in text and "source epochs: clin " in text and "first batch on every rank within" in text
    tokens = sum(res["source_tokens"].values())
    from engine.train.stream import ShardStream

    assert tokens == sum(r["input_ids"].shape[0] for r in ShardStream(learn_build, epochs=1))  # one epoch, all of it
    assert res["source_tokens"]["clin"] > 1.8 * res["source_tokens"]["pub"]  # weight 2 vs 1


def test_grad_checkpointing_same_losses(learn_build, tmp_path):
    a = train.main(common(learn_build, tmp_path / "g1", 2))["history"]
    b = train.main(common(learn_build, tmp_path / "g2", 2, "--grad-checkpointing"))["history"]
    assert [h["rows_sha1"] for h in a] == [h["rows_sha1"] for h in b]
    for x, y in zip(a, b):
        assert math.isclose(x["loss"], y["loss"], rel_tol=1e-5)


def test_transformers_pin_is_installed_and_runs_packed_attention():
    """pyproject's [train] pin excludes the releases without the attention interface ModernBERT needs
    (<= 5.0.x), the installed version satisfies it, and the packed-vs-alone equivalence holds on it."""
    import pathlib
    import tomllib

    import transformers
    from packaging.requirements import Requirement

    py = tomllib.loads((pathlib.Path(__file__).parents[1] / "pyproject.toml").read_text())
    req = next(Requirement(r) for r in py["project"]["optional-dependencies"]["train"] if r.startswith("transformers"))
    assert transformers.__version__ in req.specifier, (transformers.__version__, str(req.specifier))
    for bad in ("4.48.0", "4.57.1", "5.0.0"):
        assert bad not in req.specifier
    from tests.test_kernels_varlen import test_modernbert_packed_equals_documents_alone

    test_modernbert_packed_equals_documents_alone()


def _torchrun(nproc, args, tmp_path, timeout=900):
    import os
    import socket
    import subprocess
    import sys

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=os.getcwd())
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nnodes", "1", "--nproc-per-node", str(nproc),
           "--master-addr", "127.0.0.1", "--master-port", str(port), "-m", "engine.train", *args]
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout, cwd=os.getcwd())


@pytest.fixture(scope="module")
def demo_like(tmp_path_factory):
    from tests.helpers_stream import write_demo_like

    out = str(tmp_path_factory.mktemp("demo") / "out")
    write_demo_like(out, vocab=128)
    return out


@pytest.mark.slow
@pytest.mark.parametrize("nproc,workers", [(6, 0), (8, 2)])
def test_torchrun_cpu_gloo_finishes(demo_like, tmp_path, nproc, workers):
    """torchrun on CPU (gloo): 6 ranks, and 8 ranks x 2 dataloader workers, over a demo-shaped build."""
    import re

    res = _torchrun(nproc, ["--shards", demo_like, "--model-config", "tiny", "--steps", "3", "--token-budget", "192",
                            "--threads", "1", "--warmup-steps", "1", "--num-workers", str(workers), "--log-every", "1",
                            "--output", str(tmp_path / "run")], tmp_path)
    assert res.returncode == 0, res.stderr[-3000:]
    assert (tmp_path / "run" / "ckpt-000003" / "trainer_state.pt").exists()
    first = float(re.search(r"first batch on every rank within ([0-9.]+)s", res.stdout).group(1))
    assert first < 30, res.stdout
    st = torch.load(tmp_path / "run" / "ckpt-000003" / "trainer_state.pt", weights_only=True)
    assert st["loader"]["progress"]["segments"]["epoch-0"]["layout"] == [nproc, max(workers, 1)]


@pytest.mark.slow
def test_torchrun_follow_uneven_ranks_end_together(tmp_path):
    """Follow mode splits a 5-row segment 2:3 over two ranks (no padding): when rank 0 runs dry, both
    stop at the same step and write the final checkpoint (no rank left waiting in a collective)."""
    out = str(tmp_path / "out")
    write_build(out, {"clin": (1, 5)}, max_seq_len=64, vocab=128)
    res = _torchrun(2, ["--shards", out, "--model-config", "tiny", "--steps", "50", "--token-budget", "64",
                        "--threads", "1", "--warmup-steps", "1", "--follow", "--output", str(tmp_path / "run")],
                    tmp_path, timeout=600)
    assert res.returncode == 0, res.stderr[-3000:]
    assert (tmp_path / "run" / "ckpt-000002").exists() and not (tmp_path / "run" / "ckpt-000003").exists()


@pytest.mark.slow
def test_gpu_check_cpu_smoke(capsys):
    """bench.gpu_check in its reduced CPU mode: every check runs (flash ones skipped, said so) and passes."""
    from bench.gpu_check import main

    assert main(["--cpu"]) == 0
    out = capsys.readouterr().out
    assert "SKIP flash-attn checks: no CUDA device" in out
    for check in ("packed == per-document logits", "throughput tiny (CPU)", "stop at step N, resume"):
        assert any(line.startswith(check) and " PASS " in line for line in out.splitlines()), check
