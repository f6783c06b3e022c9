"""Latin-script words in Japanese text, spelled in katakana as they are said.

A translation into Japanese keeps names it does not know in Latin script ("Disneyland", "Gaotia"). Open
JTalk, the front end of every Japanese voice here, reads a word missing from its dictionary letter by
letter: "Disneyland" is said ディーアイエスエヌイーワイエルエーエヌディー. So before speaking, each such word is
given a katakana spelling by e2k's character model (an RNN trained on Wiktionary and JMdict loanwords; it
ships inside its PyPI wheel): ディスニーランド. Words Open JTalk knows (Google, iPhone, Tokyo) take its own
reading, acronyms (DNA) their letters, as Japanese reads them; a word with capitals inside is read in
parts ("ChatGPT": チャット and the letters GPT).
"""

from __future__ import annotations

import re
import threading
from functools import lru_cache

LATIN = re.compile(r"[A-Za-z]+(?:['’][A-Za-z]+)*")
PARTS = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+(?:['’][a-z]+)*")  # "ChatGPT" -> Chat, GPT
MAX_KANA = 32  # katakana e2k may write for one word
# Open JTalk's parts of speech for what it spells: a Latin word missing from its dictionary, a letter
UNKNOWN, LETTER = "フィラー", "アルファベット"

_lock = threading.Lock()


def spoken(text: str) -> str:
    """`text` with each Latin-script word Open JTalk would spell out written in katakana instead."""
    return LATIN.sub(lambda m: _word(m.group(0)), text) if LATIN.search(text) else text


@lru_cache(maxsize=4096)
def _word(word: str) -> str:
    """One Latin-script word as katakana: Open JTalk's reading of it alone where it knows it (in a sentence
    it may cut a word it knows wrongly: "iPhoneと" is spelled out), an acronym's letters, else e2k's; a word
    with capitals inside (ChatGPT) part by part."""
    known = _reading(word)
    if known is not None:
        return known
    if word.isupper():
        return _letters(word)  # an acronym
    parts = PARTS.findall(word)
    if len(parts) > 1 and any(p.isupper() for p in parts):
        return "".join(_reading(p) or (_letters(p) if p.isupper() or len(p) == 1 else _kana(p)) for p in parts)
    return _kana(word)


@lru_cache(maxsize=4096)
def _reading(word: str) -> str | None:
    """Open JTalk's katakana reading of `word` if it is in its dictionary, else None (it would spell it, or
    some of it: "Elon" is the letters E, L and the word "on")."""
    import pyopenjtalk

    nodes = pyopenjtalk.run_frontend(word)
    if not nodes or any(n["pos"] == UNKNOWN or n["pos_group1"] == LETTER for n in nodes):
        return None
    return "".join(n["pron"] for n in nodes).replace("’", "")


def _letters(part: str) -> str:
    """An acronym or a letter as Open JTalk spells it."""
    import pyopenjtalk

    return pyopenjtalk.g2p(part, kana=True)


def _kana(word: str) -> str:
    """e2k's katakana for an English-looking word (the word itself if it gives none)."""
    with _lock:  # one model for the language branches' threads; a word takes ~3 ms
        return _model()(word) or word


@lru_cache(maxsize=1)
def _model():
    from e2k import C2K

    return C2K(max_len=MAX_KANA)
