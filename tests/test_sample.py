"""`python -m interplay.sample`: what a model writes, with the verifier's verdict per quantity."""

import polars as pl

import tiny
from interplay import data, sample
from interplay import model as M
from interplay import tokenizer as T
from interplay.task.spec import TaskSpec


def test_sample_prints_completions_with_verdicts(tmp_path, monkeypatch, capsys):
    task = TaskSpec(modulus=23, const_range=(0, 22), names="compact", letters="ordered")
    spec = data.dataset_spec("eval", {"split": "eval", "size": {"problems": 6}, "ops": "2-3"})
    data.write(tmp_path / "data/datasets/eval.parquet", data.generate(task, spec), spec, task)
    texts = pl.read_parquet(tmp_path / "data/datasets/eval.parquet")["text"].to_list()
    tok = T.train(texts, style="compact", max_number=22)
    T.save(tok, tmp_path / "tok.json")
    M.save(tiny.model(tok.get_vocab_size()), tmp_path / "data/models/base", tmp_path / "tok.json")
    monkeypatch.chdir(tmp_path)
    assert sample.main(["data/models/base", "--op", "3", "-n", "2", "--max-new-tokens", "12"]) == 0
    out = capsys.readouterr().out
    assert out.count("=== ") == 1 and "(op 3," in out and "--- gold" in out
    assert "--- sample 1: " in out and "--- sample 2: " in out and "sample 3" not in out
    assert "not verified (missing)" in out and "    missing    " in out  # an untrained model
    assert sample.main(["data/models/base", "--op", "9"]) == 2
    assert "no problem at op 9 (ops: [2, 3])" in capsys.readouterr().err
    assert sample.main(["data/models/none", "--op", "2"]) == 2
    assert "checkpoint config not found" in capsys.readouterr().err
