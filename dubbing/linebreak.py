"""Subtitle line breaking: a cue's text cut into at most N lines at word boundaries, lines balanced.

Words are what a reader must not see cut: spaces mark them in most languages; Japanese has none, so
its words come from SudachiPy's morphological analysis (dictionary in sudachidict-core), grouped into
phrases (bunsetsu-like: a particle, auxiliary, suffix or punctuation stays with the word before it, a
prefix with the word after it), so a line never ends inside 助け nor starts with を or 。.
Lengths are counted in characters.
"""

from __future__ import annotations

from functools import lru_cache

# Sudachi part-of-speech heads that lean on the word before them (never start a line) ...
_TRAILING = {"助詞", "助動詞", "補助記号", "接尾辞"}
# ... and the one that leans on the word after it (never ends a line)
_LEADING = {"接頭辞"}
_OPENING = set("「『（(［[【〈《〔")  # opening brackets lean forward too


@lru_cache(maxsize=1)
def _tokenizer():
    from sudachipy import Dictionary, SplitMode

    return Dictionary().tokenizer(mode=SplitMode.C)  # mode C: the longest units (東京都立大学 stays one)


def japanese_units(text: str) -> list[str]:
    """`text` as phrases that a line break may separate, in order; "".join(units) == text."""
    units: list[str] = []
    lean_next = False
    for m in _tokenizer().tokenize(text):
        surface = m.surface()
        pos = m.part_of_speech()
        attaches = units and not lean_next and (pos[0] in _TRAILING or pos[1] == "非自立可能"
                                                or surface.isspace()) and surface not in _OPENING
        if attaches or (units and lean_next):
            units[-1] += surface
        else:
            units.append(surface)
        lean_next = pos[0] in _LEADING or surface in _OPENING
    return units


def units(text: str, cjk: bool) -> list[str]:
    """The unbreakable pieces of `text`: words (space-separated), or Japanese phrases when `cjk`."""
    if not cjk:
        return text.split()
    return [u.strip() for u in japanese_units(text.strip()) if u.strip()]


def balance(pieces: list[str], width: int, max_lines: int, joiner: str = " ") -> list[str]:
    """`pieces` joined into as few lines as fit within `width` characters (at most `max_lines`), the
    lines as even as possible, ties going to the longer bottom line (the subtitle "pyramid").

    When the text cannot fit `max_lines` lines of `width`, it still takes `max_lines` lines, with the
    longest line as short as it can be (rather lines a little long than text lost). A piece is never cut.
    """
    n = len(pieces)
    if n == 0:
        return []
    sizes = [len(p) for p in pieces]

    def length(i: int, j: int) -> int:  # pieces[i:j] on one line
        return sum(sizes[i:j]) + len(joiner) * (j - i - 1)

    best: tuple | None = None
    for k in range(1, min(max_lines, n) + 1):
        # cost of pieces[i:] in k lines: (longest line, sum of squares, -last line length); DP from the end
        cost: dict[tuple[int, int], tuple] = {}
        for lines in range(1, k + 1):
            for i in range(n - lines, -1, -1):
                if lines == 1:
                    ln = length(i, n)
                    cost[i, 1] = (ln, ln * ln, -ln, (n,))
                    continue
                options = []
                for j in range(i + 1, n - lines + 2):
                    rest = cost.get((j, lines - 1))
                    if rest is None:
                        continue
                    ln = length(i, j)
                    options.append((max(ln, rest[0]), ln * ln + rest[1], rest[2], (j, *rest[3])))
                if options:
                    cost[i, lines] = min(options)
        got = cost.get((0, k))
        if got is not None and (got[0] <= width or k == min(max_lines, n)):
            best = got
            break
    cuts = (0, *best[3])
    return [joiner.join(pieces[a:b]) for a, b in zip(cuts, cuts[1:])]


def wrap_lines(text: str, width: int, max_lines: int, cjk: bool) -> list[str]:
    """`text` broken into display lines: words (or Japanese phrases) kept whole, see balance()."""
    text = " ".join(text.split())
    if not text:
        return []
    return balance(units(text, cjk), width, max_lines, "" if cjk else " ") or [text]
