"""Example inputs for the app, and reference lookup for sentences of the test set.

``TEST_EXAMPLES`` holds a few sentences of Multi30k's test_2016_flickr with their reference
translations, so the app can show a reference and sentence BLEU without the data directory.
With the data directory present (``SEQ2SEQ_DATA_DIR``, or ``data/multi30k/``),
:func:`load_references` adds the whole test set. Nothing is ever downloaded from here.
"""

from __future__ import annotations

import gzip
from pathlib import Path

from ..data import read_lines, resolve_data_dir

# (German, English reference), verbatim from test_2016_flickr.{de,en} (lines 1-93).
TEST_EXAMPLES: list[tuple[str, str]] = [
    ('Ein Mann mit einem orangefarbenen Hut, der etwas anstarrt.',
     'A man in an orange hat starring at something.'),
    ('Ein Mädchen in einem Karateanzug bricht ein Brett mit einem Tritt.',
     'A girl in karate uniform breaking a stick with a front kick.'),
    ('Leute Reparieren das Dach eines Hauses.',
     'People are fixing the roof of a house.'),
    ('Eine Gruppe von Menschen steht vor einem Iglu.',
     'A group of people standing in front of an igloo.'),
    ('Ein Typ arbeitet an einem Gebäude.',
     'A guy works on a building.'),
    ('Ein Mann in einer Weste sitzt auf einem Stuhl und hält Magazine.',
     'A man in a vest is sitting in a chair and holding magazines.'),
    ('Eine Frau, die in einer Küche eine Schale mit Essen hält.',
     'A woman holding a bowl of food in a kitchen.'),
    ('Drei Leute sitzen in einer Höhle.',
     'Three people sit in a cave.'),
    ('Die Person im gestreiften Shirt klettert auf einen Berg.',
     'The person in the striped shirt is mountain climbing.'),
    ('Eine Frau macht einen Salto auf einem Trampolin am Strand.',
     'A woman does a somersault on a trampoline on the beach.'),
    ('Ein Mann steht bei einigen Spielautomaten in einer Bar.',
     'A man is standing by a group of video games in a bar.'),
    ('Ein Mann schneidet Äste von Bäumen.',
     'A man cutting branches of trees.'),
    ('Sechs Leute fahren Mountainbikes durch eine Dschungellandschaft.',
     'Six people ride mountain bikes through a jungle environment.'),
    ('Ein Kind planscht im Wasser.',
     'A child is splashing in the water'),
    ('Eine schöne Frau spielt auf einer Harfe.',
     'A pretty woman plays a harpsichord.'),
    ('Die junge Dame sieht auf die Pizza.',
     'The young lady is looking at the pizza.'),
    ('Ein Mädchen in einer Rettungsweste treibt im Wasser.',
     'A girl wearing a life vest floats in water.'),
    ('Leute sitzen in einem Zug.',
     'People sit inside a train.'),
    ('Ein Mann bereitet am Herd Essen zu.',
     'A man cooking food on the stove.'),
    ('Eine große Menschenmenge füllt eine Straße.',
     'A large group of people fill a street.'),
    ('Der Mann in der gelben Hose hebt seine Arme.',
     'The man in the yellow pants is raising his arms.'),
    ('Der braune Hund steht auf dem Sandstrand.',
     'The brown dog is standing on the sandy beach.'),
    ('Ein Mann grillt im Freien in seinem Hof.',
     'A man is grilling out in his backyard.'),
    ('Zwei Frauen und drei Männer blicken auf den Ozean.',
     'Two ladies and three men looking at the ocean.'),
    ('Ein brauner Hund läuft durchs Gras und seine Zunge hängt heraus.',
     'A brown dog walks in the grass with its tongue hanging out.'),
    ('Zwei Jungen packen Obst auf das Fahrrad.',
     'Two young boys putting fruit on the bike.'),
    ('Eine blonde Frau schenkt an einer Bar Getränke ein.',
     'A blond-haired woman is pouring drinks at a bar.'),
    ('Ein Mädchen springt von Fels zu Fels über den Bach.',
     'A girl hops across the river, from rock to rock.'),
]

# The page opens on the first test sentence (the one the well-known PyTorch seq2seq tutorials translate),
# so its reference and sentence BLEU show at once.
DEMO = TEST_EXAMPLES[0][0]
# Captions of our own, in the models' domain (image descriptions) but not in Multi30k, so without a
# reference; every shipped model translates each of them sensibly (checked by hand on the six).
CAPTIONS: list[str] = [
    "Zwei Hunde spielen im Schnee.",
    "Ein kleines Mädchen sitzt auf einer Bank im Park.",
    "Ein Mann fährt mit dem Fahrrad eine Straße entlang.",
    "Eine Frau mit einem roten Hut liest ein Buch.",
    "Ein schwarzer Hund springt über einen Zaun.",
    "Ein Junge in einem blauen Hemd isst ein Eis.",
    "Zwei Männer arbeiten auf einer Baustelle.",
]


def normalise_sentence(text: str) -> str:
    """The lookup key of a sentence: whitespace collapsed, case folded."""
    return " ".join(text.split()).casefold()


def load_references(data_dir=None, split: str = "test_2016_flickr", src: str = "de", trg: str = "en") -> dict[str, str]:
    """Map each known source sentence (normalised) to its reference translation: the built-in
    examples, plus the whole split when its files are on disk."""
    references = {normalise_sentence(s): t for s, t in TEST_EXAMPLES} if (src, trg) == ("de", "en") else {}
    where, _ = resolve_data_dir(data_dir)
    paths = [Path(where) / f"{split}.{lang}.gz" for lang in (src, trg)]
    if all(p.is_file() for p in paths):
        try:
            sources, targets = read_lines(paths[0]), read_lines(paths[1])
        except (OSError, EOFError, gzip.BadGzipFile, UnicodeDecodeError):
            return references  # a damaged file: the built-in examples still work
        if len(sources) == len(targets):
            references.update((normalise_sentence(s), t) for s, t in zip(sources, targets))
    return references
