"""Tokenizer: exact round trip, specials at ids 0-9, saturation (count_tokens == encoded length)."""

import itertools
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from interplay import tokenizer as T
from interplay.task.generate import stream
from interplay.task.spec import TaskSpec

TEXTS = [
    ex.text
    for op, mode, ctx in itertools.product((2, 6, 12), ("forward", "reverse"), ("zoo", "school", "festival"))
    for ex in itertools.islice(stream(TaskSpec(master_seed=2), "pre", ctx, mode, op), 3)
]


@pytest.fixture(scope="module")
def tok():
    return T.train(TEXTS)


def test_specials_and_saturation(tok, tmp_path):
    for i, s in enumerate(T.SPECIALS):
        assert tok.token_to_id(s) == i
    for text in TEXTS:
        assert len(tok.encode(text).ids) == T.count_tokens(text)
    for n in (0, 7, 42, 999, 1000):
        assert len(tok.encode(f" {n}").ids) == (1 if n < 1000 else 2)
    path = tmp_path / "tokenizer.json"
    T.save(tok, path)
    assert T.load(path).get_vocab_size() == tok.get_vocab_size()


def test_name_styles_are_one_token_per_word():
    compact = T.train([], style="compact", max_number=22)
    assert len(compact.encode(" adult_otter in harbor_zoo").ids) == 3
    assert len(compact.encode(" 22").ids) == 1 and len(compact.encode(" 23").ids) == 2
    fused = T.train([], style="fused")
    assert len(fused.encode(" adult_otter_in_harbor_zoo").ids) == 1
    assert compact.get_vocab_size() < T.train([]).get_vocab_size()


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=200))
def test_round_trip_any_text(tok, text):
    assert tok.decode(tok.encode(text).ids, skip_special_tokens=False) == text


def test_round_trip_task_text(tok):
    for text in TEXTS:
        assert tok.decode(tok.encode(text).ids, skip_special_tokens=False) == text


def test_deterministic(tok):
    again = T.train(TEXTS)
    assert json.loads(again.to_str()) == json.loads(tok.to_str())


def test_load_checks(tmp_path):
    with pytest.raises(FileNotFoundError, match="tokenizer not found"):
        T.load(tmp_path / "missing.json")
