"""A byte-level BPE tokenizer (Hugging Face ``tokenizers``), trained until saturated.

Like the paper's tokenizer: byte-level, numbers split into 1–3-digit groups, no normaliser,
specials at ids 0–9. Our pre-tokenizer keeps ``_`` inside words (compact names are one word), and the
vocabulary is large enough that every word of the task becomes a single token, so a problem's token
count equals its pre-token count (``count_tokens``), which the data stage uses for token budgets.
Byte-level means any string round-trips exactly.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from pathlib import Path

from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, trainers

from interplay.task.lexicon import all_words

SPECIALS = (
    "[UNK]",
    "[PAD]",
    "[BOS]",
    "[EOS]",
    "<question>",
    "</question>",
    "<solution>",
    "</solution>",
    "<answer>",
    "</answer>",
)
UNK, PAD, BOS, EOS = 0, 1, 2, 3
PRETOKEN_PATTERN = r" ?[A-Za-z_]+| ?[0-9]{1,3}| ?[^ A-Za-z0-9_]| +"
_PRE = re.compile(PRETOKEN_PATTERN)
_SPECIAL_SPLIT = re.compile("(" + "|".join(re.escape(s) for s in SPECIALS) + ")")
_GRAMMAR = (
    "Define as so in we don't know its value yet but will find it out later The number of the equals "
    "plus times sum and difference between exists is greater than What How many does have "
    "question difficult use equations to solve We know have through following steps Simplifying "
    "equation Move all terms one side Isolate term with Divide both sides by Solution Answer"
)


def count_tokens(text: str) -> int:
    """Tokens of ``text`` under a saturated tokenizer: specials + pre-tokens."""
    n = 0
    for part in _SPECIAL_SPLIT.split(text):
        if part in SPECIALS:
            n += 1
        elif part:
            n += len(_PRE.findall(part))
    return n


def lexicon_lines(style: str = "natural", max_number: int = 1000) -> Iterator[str]:
    """Every word the task can print in a name style, each number 0..max_number and each letter: a
    saturated vocabulary covers them all, whatever mixture the training datasets hold."""
    yield " ".join(all_words(style))
    yield _GRAMMAR
    yield " ".join(str(i) for i in range(max_number + 1))
    yield " ".join(f"{c} ({c}) {c}*x" for c in "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")
    yield "x = -x + 1 - 2 * 3 / 4 ; . , ? ="


def _new_tokenizer() -> Tokenizer:
    tok = Tokenizer(models.BPE(unk_token=None, fuse_unk=False, byte_fallback=False))
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(PRETOKEN_PATTERN), behavior="isolated"),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ]
    )
    tok.decoder = decoders.ByteLevel()
    return tok


def train(
    texts: Iterable[str], vocab_size: int = 4096, style: str = "natural", max_number: int = 1000
) -> Tokenizer:
    """Train on ``texts`` plus the lexicon sheet of a name style; deterministic for the same inputs."""
    tok = _new_tokenizer()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        min_frequency=0,
        special_tokens=list(SPECIALS),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )

    def corpus() -> Iterator[str]:
        yield from lexicon_lines(style, max_number)
        yield from texts

    tok.train_from_iterator(corpus(), trainer=trainer)
    return tok


def save(tok: Tokenizer, path: str | Path) -> None:
    from interplay.io import atomic_path

    with atomic_path(path) as tmp:
        tok.save(str(tmp))


def load(path: str | Path) -> Tokenizer:
    p = Path(path)
    if not p.exists():
        raise FileNotFoundError(f"{p}: tokenizer not found (run the 'tokenizer' stage first)")
    tok = Tokenizer.from_file(str(p))
    for i, s in enumerate(SPECIALS):
        if tok.token_to_id(s) != i:
            raise ValueError(f"{p}: special token {s!r} is not at id {i}")
    return tok
