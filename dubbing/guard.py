"""The translation guard: pure checks that a translation is a translation of its source line.

Each check takes the source line, the output and the languages, and says what is wrong; `issues` runs
them all. dubbing/llm.py's `problem` calls `issues` after its own checks (empty, untranslated, chatter,
wrong script, runaway), so every translation and every shortened re-translation passes through here.

- "loop": a word or phrase repeated over and over ("No, no, no, ..." x55, issue 13), far more often
  than in the source, or text that compresses like a loop (zlib ratio, as Whisper judges its own output).
- "length": characters (without spaces) far outside the language pair's norm, `length_ratio` in
  languages/<target>.yaml: the 1st-99th percentile of target/source characters on human translations
  (bench/guard.py computes them), widened by LENGTH_SLACK and a few characters of grace for short lines.
- "numbers": a number written in digits in the source that the output lacks.
- "names": a name (a capitalized word inside a sentence) of the source that no word of the output
  starts like (Latin-script targets only: Japanese writes names in katakana).
"""

from __future__ import annotations

import difflib
import re
import unicodedata
import zlib

from languages import Language

LOOP_MIN_RUN = 4  # a unit repeated this many times in a row, and more than twice the source's run
LOOP_MAX_UNIT = 8  # longest repeated unit looked for (words, or characters for CJK)
LOOP_COMPRESSION = 3.0  # zlib ratio (bytes / compressed bytes) above which a long text is a loop
LOOP_COMPRESSION_MIN_CHARS = 80  # shorter texts do not compress enough for the ratio to mean anything
LENGTH_SLACK = 1.3  # the norm's bounds are widened by this factor (divided below, multiplied above)
LENGTH_GRACE = 8  # characters of grace either side: short lines vary most
DEFAULT_RATIO = (0.4, 2.5)  # target/source characters where a pair has no norm in its language file


def _fold(text: str) -> str:
    """NFKC, lower case, accents removed ("Japón" -> "japon", "９" -> "9")."""
    s = unicodedata.normalize("NFKD", unicodedata.normalize("NFKC", text).lower())
    return "".join(c for c in s if not unicodedata.combining(c))


def _cjk(text: str) -> bool:
    return sum("\u3040" <= c <= "\u30ff" or "\u4e00" <= c <= "\u9fff" for c in text) > len(text) / 4


def units(text: str) -> list[str]:
    """What repeats in a loop: words, or single characters in CJK text."""
    t = _fold(text)
    return [c for c in t if c.isalnum()] if _cjk(t) else re.findall(r"\w+", t)


def max_run(tokens: list[str], max_unit: int = LOOP_MAX_UNIT) -> tuple[int, int, int]:
    """(repeats, unit length, start) of the longest run of a unit of 1..`max_unit` tokens repeated back to
    back; (1, 0, 0) if nothing repeats."""
    best = (1, 0, 0)
    for n in range(1, max_unit + 1):
        i = 0
        while i + 2 * n <= len(tokens):
            k = 1
            while tokens[i + k * n:i + (k + 1) * n] == tokens[i:i + n]:
                k += 1
            if k > best[0]:
                best = (k, n, i)
            i += max(1, (k - 1) * n) if k > 1 else 1
    return best


def compression_ratio(text: str) -> float:
    """UTF-8 bytes over zlib-compressed bytes (Whisper's measure of repetitive output)."""
    data = text.encode()
    return len(data) / len(zlib.compress(data)) if data else 0.0


def loop(source_text: str, out: str) -> bool:
    """Whether `out` repeats itself far more than `source_text` does."""
    run = max_run(units(out))[0]
    if run >= max(LOOP_MIN_RUN, 2 * max_run(units(source_text))[0] + 1):
        return True
    return (len(out) >= LOOP_COMPRESSION_MIN_CHARS and compression_ratio(out) > LOOP_COMPRESSION
            and compression_ratio(out) > 1.5 * compression_ratio(source_text))


def collapse_loop(out: str, keep: int = 2) -> str:
    """`out` with every run of a repeated word or phrase (more than `keep` times back to back) cut to
    `keep` times, punctuation between repeats kept: "No, no, no, no, no." -> "No, no." A candidate that
    may still say what the source said."""
    pieces = re.findall(r"\w+|\W+", out)
    words = [i for i, p in enumerate(pieces) if re.match(r"\w", p)]
    tokens = [_fold(pieces[i]) for i in words]
    if _cjk(out):
        return _collapse_chars(out, keep)
    while True:
        k, n, start = max_run(tokens)
        if k <= keep:
            return "".join(pieces).strip()
        # keep the first keep-1 repeats and the last one (with what follows it)
        del pieces[words[start + (keep - 1) * n]:words[start + (k - 1) * n]]
        words = [i for i, p in enumerate(pieces) if re.match(r"\w", p)]
        tokens = [_fold(pieces[i]) for i in words]


def _collapse_chars(out: str, keep: int) -> str:
    for n in range(LOOP_MAX_UNIT, 0, -1):
        out = re.sub(rf"(.{{{n}}})\1{{{keep},}}", lambda m: m.group(1) * keep, out)
    return out


def letters(text: str) -> int:
    """Characters that are spoken or read: letters and digits (no spaces, no punctuation)."""
    return sum(c.isalnum() for c in text)


def length_bounds(source_text: str, source: str, target: Language) -> tuple[float, float]:
    """(fewest, most) letters a translation of `source_text` from language `source` into `target` may
    have: the pair's norm widened by LENGTH_SLACK, with LENGTH_GRACE characters of grace."""
    lo, hi = target.length_ratio.get(source, DEFAULT_RATIO)
    n = letters(source_text)
    return max(0.0, lo / LENGTH_SLACK * n - LENGTH_GRACE), hi * LENGTH_SLACK * n + LENGTH_GRACE


def length_off(source_text: str, out: str, source: str, target: Language, shortened: bool = False) -> bool:
    """Whether `out` has far more (or, unless `shortened` on purpose, far fewer) letters than a
    translation of `source_text` from `source` into `target` normally has."""
    if not source:
        return False
    lo, hi = length_bounds(source_text, source, target)
    n = letters(out)
    return n > hi or (not shortened and n < lo)


_NUMBER = re.compile(r"(\d+(?:[.,\u00a0\u202f ]\d{3})*(?:[.,]\d+)?)\s*(%s)?" % "|".join([
    "millions?", "mill[oó]n(?:es)?", "milioni?", "milh(?:ão|ões)", "Millionen", "Million", "billions?",
    "thousands?", "百万", "万", "億", "千"]), re.IGNORECASE)
_SCALE = {"milli": 1e6, "mill": 1e6, "mili": 1e6, "milh": 1e6, "bill": 1e9, "thou": 1e3, "百万": 1e6, "万": 1e4,
          "億": 1e8, "千": 1e3}
_KANJI_DIGITS = dict(zip("一二三四五六七八九十", range(1, 11)))


def numbers(text: str) -> list[float]:
    """Values of the numbers written with digits (not ordinals), with their scale words: "1,000" and "1 000" -> 1000,
    "3.7 million" -> 3700000, "40万" -> 400000, "1万7千" -> 17000."""
    text = unicodedata.normalize("NFKC", text)
    text = re.sub(r"(\d+)(万|億)(\d+)(千|万)", lambda m: str(int(m[1]) * int(_SCALE[m[2]]) +
                                                            int(m[3]) * int(_SCALE[m[4]])), text)
    out = []
    for m in _NUMBER.finditer(text):
        if re.match(r"(?:st|nd|rd|th)\b", text[m.end(1):]):
            continue  # an ordinal: "the 16th century" -> "el siglo XVI"
        digits = re.sub(r"[.,\u00a0\u202f ](?=\d{3}(?!\d))", "", m[1]).replace(",", ".")
        try:
            value = float(digits)
        except ValueError:
            continue
        if m[2]:
            value *= next(v for k, v in _SCALE.items() if m[2].lower().startswith(k.lower()))
        out.append(value)
    return out


def lost_numbers(source_text: str, out: str) -> list[float]:
    """Numbers the source writes in digits that `out` does not have (as digits, with any scale word).
    Small whole numbers (1-10) may be written as words, so they are not counted; nor a year whose
    two-digit form is there ("the 1990s" -> "los años 90"). A number the output adds is not counted:
    "December" -> "12月", "around the clock" -> "24時間" are good translations."""
    got = set(numbers(out)) | {float(v) for c, v in _KANJI_DIGITS.items() if c in out}
    return [v for v in numbers(source_text) if v not in got and not (v.is_integer() and 0 <= v <= 10)
            and not (v.is_integer() and 1000 <= v < 2100 and v % 100 in got)]


# A capitalized word after the first of its sentence: a name, most of the time.
_NAME = re.compile(r"(?<![.!?:;\"“«¿¡]\s)(?<![.!?:;\"“«¿¡])(?<!^)\b[A-Z][a-z]+(?:[A-Z][a-z]+)*\b")
_NOT_NAMES = {"I", "I'm", "Mr", "Mrs", "Ms", "Dr", "OK", "Okay", "God", "Mom", "Dad", "Sir", "Miss", "Mister", "TV",
              "Internet"}
_MONTHS_DAYS = set("January February March April May June July August September October November December "
                   "Monday Tuesday Wednesday Thursday Friday Saturday Sunday English".split())


def names(text: str) -> list[str]:
    """Single capitalized words inside sentences of `text`: not the first word, not "I", months or days
    (other languages write them in lower case or translate them), nor words of a run of capitalized
    words ("World War", "Foster Care System", "United States of America"): such titles are terms a
    translation translates. (False alarms on the human es/fr/de/it/pt translations of the FLORES tune half:
    20 % matching first letters only, 8 % with spelled-alike words, 1.8 % with titles set aside.)"""
    inside = re.sub(r"(^|[.!?]\s+)([A-Z])", lambda m: m[1] + m[2].lower(), text)  # sentence starts aside
    runs = re.findall(r"\b[A-Z][\w'-]*(?:\s+(?:of\s+|the\s+)?[A-Z][\w'-]*)+", inside)
    titled = {w for run in runs for w in run.split()}
    return [w for w in _NAME.findall(text) if w not in _NOT_NAMES and w not in _MONTHS_DAYS and w not in titled]


NAME_SIMILARITY = 0.5  # difflib ratio from which an output word is taken for the name (brazil ~ brésil: 0.67)


def _like(name: str, word: str) -> bool:
    return name[:3] == word[:3] or difflib.SequenceMatcher(None, name, word).ratio() >= NAME_SIMILARITY


def lost_names(source_text: str, out: str, target: Language) -> list[str]:
    """Names of the source that no word of `out` resembles (same first three letters, or spelled alike:
    accents and case folded, "London" ~ "Londres", "Brazil" ~ "Brésil"); none for CJK targets, which
    transliterate them."""
    if target.subtitles.cjk:
        return []
    words = re.findall(r"\w+", _fold(out))
    return [n for n in names(source_text) if not any(_like(_fold(n), w) for w in words)]


def issues(source_text: str, out: str, target: Language, source: str = "", shortened: bool = False) -> list[str]:
    """What is wrong with `out` as a translation of `source_text` from `source` into `target`: any of
    "loop", "length", "numbers", "names" (empty: nothing found). `shortened`: the output was asked to
    be short, so being short is no fault."""
    found = []
    if loop(source_text, out):
        found.append("loop")
    if length_off(source_text, out, source, target, shortened):
        found.append("length")
    if lost_numbers(source_text, out):
        found.append("numbers")
    if lost_names(source_text, out, target):
        found.append("names")
    return found


# How bad a failure is when every candidate fails: a lost name or a long line is still a usable dub,
# a loop or the wrong language is not; a loop cut short that passes the checks ("collapsed") is.
SEVERITY = {"names": 1, "numbers": 2, "length": 2, "runaway": 3, "collapsed": 3, "untranslated": 4, "loop": 4,
            "wrong script": 5, "chatter": 5, "empty": 6}


UNUSABLE = 4  # a candidate with an issue this severe is no dub of its line (echoed source, loop, wrong script, talk)
NOT_SPEECH = ("chatter", "empty")  # a reply that is the model's own talk or nothing: never spoken, whatever else failed


def _worst(issues: list[str]) -> int:
    """The severity of a candidate's worst issue (0: none)."""
    return max((SEVERITY.get(w, 3) for w in issues), default=0)


def usable(candidates: list[tuple[str, list[str]]]) -> bool:
    """Whether any (text, issues) candidate is a dub of its line, if not a perfect one (no issue UNUSABLE)."""
    return any(t.strip() and _worst(why) < UNUSABLE for t, why in candidates)


def least_bad(candidates: list[tuple[str, list[str]]]) -> str:
    """Of (text, issues) candidates, the one whose worst issue is mildest, then the shortest: the
    fallback when nothing passed every check (issue 13: "the shortest faithful candidate")."""
    said = [(t, why) for t, why in candidates if t.strip() and not set(why) & set(NOT_SPEECH)]
    if not said:  # the model's talk ("Of course! Here is the translation:") is not a translation of anything
        return ""
    return min(said, key=lambda c: (_worst(c[1]), letters(c[0])))[0]
