"""Our own entity vocabularies for the three surface contexts.

Each context is a two-level template (container -> item type). Names are written for this project
(clean-room: no upstream name lists). Rules, checked by ``tests/test_lexicon.py``: names are unique,
contain no digits or ``; = . < > ,``, never contain the word ``as``/``and``/``of``/``the``, never
start with "total"/"average", and have no one-letter words (trace letters are one-letter words).

``compact`` names (a learnability setting) join a name's words with ``_`` and lower-case them, so the
tokenizer sees one word per entity.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Context:
    key: str  # our short key: zoo / school / festival
    label: str  # paper-style letter: A / B / C
    template: str  # upstream template id, kept for provenance
    total_label: str  # "total number of adult animals" -> "... in <container>"
    containers: tuple[tuple[str, ...], ...]  # sub-categories of container names
    items: tuple[tuple[str, ...], ...]  # sub-categories of item names


ZOO = Context(
    key="zoo",
    label="A",
    template="crazy_zootopia",
    total_label="total number of adult animals",
    containers=(
        (
            "Cedar Marsh",
            "Falcon Ridge",
            "Silver Lagoon",
            "Amber Valley",
            "Misty Fen",
            "Granite Gorge",
            "Willow Delta",
            "Thistle Moor",
        ),
        (
            "Harbor Zoo",
            "Lakeside Menagerie",
            "Northgate Safari Park",
            "Copper Bay Aquarium",
            "Elm Street Petting Farm",
            "Sunvale Wildlife Center",
            "Bramble Bird Sanctuary",
            "Oldtown Reptile House",
        ),
    ),
    items=(
        (
            "adult otter",
            "adult lynx",
            "adult badger",
            "adult moose",
            "adult bison",
            "adult hedgehog",
            "adult marten",
            "adult ibex",
        ),
        (
            "adult heron",
            "adult puffin",
            "adult kestrel",
            "adult pelican",
            "adult crane",
            "adult magpie",
            "adult osprey",
            "adult toucan",
        ),
    ),
)

SCHOOL = Context(
    key="school",
    label="B",
    template="teachers_in_school",
    total_label="total number of schools",
    containers=(
        (
            "Port Avalon",
            "Seabright",
            "Gullhaven",
            "Marlow Cove",
            "Brinefield",
            "Saltmere",
            "Wavecrest",
            "Dunmore Quay",
        ),
        (
            "Oakhurst",
            "Millbrook",
            "Stonebridge",
            "Fernwood",
            "Ashgrove",
            "Redcliff",
            "Hollowmere",
            "Kingsvale",
        ),
    ),
    items=(
        (
            "primary school",
            "middle school",
            "high school",
            "boarding school",
            "nursery school",
            "community college",
            "grammar school",
            "vocational college",
        ),
        (
            "art school",
            "language school",
            "dance school",
            "coding school",
            "cooking school",
            "driving school",
            "flight school",
            "sports academy",
        ),
    ),
)

FESTIVAL = Context(
    key="festival",
    label="C",
    template="movie_festival_awards",
    total_label="total number of movies",
    containers=(
        (
            "Glacier Film Week",
            "Harbor Lights Festival",
            "Red Desert Screenings",
            "Midnight Reel Fest",
            "Lantern Cinema Days",
            "Crimson Curtain Gala",
            "Blue Pine Festival",
            "Aurora Film Forum",
        ),
        (
            "Silver Frame Awards",
            "Golden Reel Awards",
            "Velvet Screen Prize",
            "Iron Lens Awards",
            "Opal Camera Prize",
            "Starlit Movie Awards",
            "Emerald Frame Gala",
            "Copper Clapper Awards",
        ),
    ),
    items=(
        (
            "comedy movie",
            "drama movie",
            "horror movie",
            "thriller movie",
            "western movie",
            "musical movie",
            "mystery movie",
            "romance movie",
        ),
        (
            "animated film",
            "documentary film",
            "noir film",
            "fantasy film",
            "science fiction film",
            "war film",
            "silent film",
            "heist film",
        ),
    ),
)

CONTEXTS: dict[str, Context] = {c.key: c for c in (ZOO, SCHOOL, FESTIVAL)}


def compact(name: str) -> str:
    """One-word form of a name: ``"adult otter"`` -> ``"adult_otter"``."""
    return name.lower().replace(" ", "_")


def all_words(style: str = "natural") -> list[str]:
    """Every entity word a context can print in a name style (sorted, unique): the tokenizer's
    lexicon sheet, so each is one token whatever mixture the training data holds."""
    words: set[str] = set()
    for ctx in CONTEXTS.values():
        for group in (*ctx.containers, *ctx.items, (ctx.total_label,)):
            for name in group:
                if style == "natural":
                    words.update(name.split())
                else:
                    words.add(compact(name))
        if style == "fused":
            for conts in ctx.containers:
                for cont in conts:
                    words.add(f"{compact(ctx.total_label)}_in_{compact(cont)}")
                    for items in ctx.items:
                        words.update(f"{compact(item)}_in_{compact(cont)}" for item in items)
    return sorted(words)
