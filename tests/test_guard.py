"""The translation guard (dubbing/guard.py through llm.problem): loops, length norms, lost numbers and names,
the least bad candidate, retries and fallback in the translation stage, the shortening path, and the model's
replies that failed, kept."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

import languages
from dubbing import config, guard, llm, translate
from dubbing.schema import Line

ES, FR, JA = languages.get("es"), languages.get("fr"), languages.get("ja")
FIXTURES = Path(__file__).parent / "fixtures" / "guard_replies.json"  # real replies that failed, kept


@pytest.mark.parametrize("source, out, target", [
    ("No, no, no.", "No, " * 55 + "no.", ES),  # issue 13, the TV interview
    ("I don't know what to say.", "No sé qué decir, qué decir, qué decir, qué decir, qué decir.", ES),
    ("Thank you very much.", "どうもありがとうございます" + "ありがとう" * 12, JA),
    ("We went there together.", "Nous y sommes allés ensemble " + "et ensemble " * 6, FR),
])
def test_loops_are_caught(source, out, target):
    assert guard.loop(source, out)
    assert llm.problem(source, out, target, "en") == "loop"


@pytest.mark.parametrize("source, out, target", [
    ("No, no, no, no, I won't!", "¡No, no, no, no, no lo haré!", ES),  # the source repeats: so may its translation
    ("Ha ha ha.", "Ja, ja, ja.", ES),
    ("Very, very good.", "とてもとても良い。", JA),
    ("I think that the thing that matters is that you came.", "Creo que lo que importa es que viniste.", ES),
])
def test_repetition_the_source_has_is_no_loop(source, out, target):
    assert not guard.loop(source, out)
    assert llm.problem(source, out, target, "en") is None


def test_collapse_loop_keeps_the_words_once_or_twice():
    assert guard.collapse_loop("No, " * 55 + "no.") == "No, no."
    assert guard.collapse_loop("Vale, vale, vale, vale, vale, vamos.") == "Vale, vale, vamos."
    assert guard.collapse_loop("ありがとうありがとうありがとうありがとう") == "ありがとうありがとう"
    assert guard.collapse_loop("Hola a todos.") == "Hola a todos."


def test_length_norms_come_from_the_language_files():
    assert ES.length_ratio["en"][0] < 1 < ES.length_ratio["en"][1]  # Spanish runs longer than English
    assert JA.length_ratio["en"][1] < 1  # Japanese is written in far fewer characters
    source = "The meeting starts at nine, so don't be late."
    assert not guard.length_off(source, "La reunión empieza a las nueve, así que no llegues tarde.", "en", ES)
    assert guard.length_off(source, "La reunión.", "en", ES)  # cut off
    assert not guard.length_off(source, "La reunión.", "en", ES, shortened=True)  # asked to be short
    assert guard.length_off(source, "La reunión empieza a las nueve, así que no llegues tarde. " * 3, "en", ES)
    assert not guard.length_off(source, "会議は九時に始まるから、遅れないでね。", "en", JA)
    assert guard.length_off(source, "会議は九時に始まるから、遅れないでね。" * 4, "en", JA)
    assert not guard.length_off(source, "La reunión.", "", ES), "no source language: no norm"


def test_short_lines_get_grace():
    assert not guard.length_off("Yes.", "Sí, claro.", "en", ES)
    assert not guard.length_off("Okay, thanks!", "Vale.", "en", ES)


@pytest.mark.parametrize("source, out, lost", [
    ("It costs 1,500 dollars.", "Cuesta 1.500 dólares.", []),
    ("It costs 1,500 dollars.", "Cuesta 15 dólares.", [1500.0]),
    ("About 3.7 million people live there.", "Allí viven unos 3,7 millones de personas.", []),
    ("About 400,000 cases are known.", "既知の症例は約40万件です。", []),
    ("With 17,000 islands to choose from.", "1万7千もの島々から選べる。", []),
    ("I was born in 1985.", "Nací en 1958.", [1985.0]),
    ("The 1990s were different.", "Los años 90 eran diferentes.", []),
    ("I have 3 kids.", "Tengo tres hijos.", []),  # small numbers may be words
    ("It was the 16th century.", "Era el siglo XVI.", []),  # ordinals may be Roman numerals
])
def test_numbers(source, out, lost):
    assert guard.lost_numbers(source, out) == lost


def test_names_are_kept_or_spelled_alike():
    assert guard.lost_names("Thank you, Diane.", "Gracias, Diane.", ES) == []
    assert guard.lost_names("I went to Brazil with Tom.", "Fui a Brasil con Tom.", ES) == []
    assert guard.lost_names("Thank you, Diane.", "Gracias, señora.", ES) == ["Diane"]
    assert guard.lost_names("We fought in the Cold War.", "Luchamos en la Guerra Fría.", ES) == []  # a term
    assert guard.lost_names("Thank you, Diane.", "ありがとう、ダイアン。", JA) == []  # transliterated
    assert llm.problem("Ask Robert about it.", "Pregúntale a él.", ES, "en") == "names"


def test_least_bad_prefers_the_mildest_fault_then_the_shortest():
    cands = [("No, " * 55 + "no.", ["loop"]), ("No, no.", ["length"]), ("No, no, no, no, no.", ["length"])]
    assert guard.least_bad(cands) == "No, no."
    assert guard.least_bad([("", ["empty"])]) == ""


def test_least_bad_never_keeps_the_models_own_talk():
    talk = ("¡Por supuesto! Aquí tienes la traducción al español:", ["chatter"])
    assert guard.least_bad([talk]) == ""
    assert guard.least_bad([talk, ("e bora mais, para ese momento", ["untranslated"])]) == "e bora mais, para ese momento"
    assert not guard.usable([talk, ("e bora mais", ["untranslated"])]) and guard.usable([("Hola.", ["length"])])


# --- retries and fallback -----------------------------------------------------------------------------


class ScriptedLLM:
    """Stands in for llama_cpp.Llama: answers chat requests from a list, records the prompts and temperatures."""

    def __init__(self, replies: list[str]):
        self.replies, self.prompts, self.temperatures = list(replies), [], []

    def create_chat_completion(self, messages, **kw):
        self.prompts.append(messages)
        self.temperatures.append(kw["temperature"])
        reply = self.replies.pop(0)
        return ({"choices": [{"delta": {"content": piece}}]} for piece in re.findall(r"\S+|\s+", reply))

    def tokenize(self, data: bytes, add_bos: bool = False):
        return data.split() * 30  # room for a long loop


def test_a_loop_is_retried_strictly_then_sampled_then_cut_short():
    loop = "No, " * 55 + "no."
    fake = ScriptedLLM([loop, loop, loop])
    tr = llm.Translator(fake)
    got = tr.one(llm.Item("No, no, no."), "en", ES)
    assert got == ("No, no.", False, "loop")
    assert fake.temperatures == [0.0, 0.0, llm.RETRY_TEMPERATURE]
    assert fake.prompts[0][0]["content"] != fake.prompts[1][0]["content"]  # the strict prompt
    assert [r["why"] for r in tr.rejected] == ["loop"] * 3 and tr.failures == 1


def test_a_sampled_retry_that_passes_is_kept_unflagged():
    fake = ScriptedLLM(["Gracias, " * 20, "Gracias, " * 20, "Muchas gracias."])
    assert llm.Translator(fake).one(llm.Item("Thank you very much."), "en", ES) == ("Muchas gracias.", True, "")


def test_a_failing_line_falls_back_to_apertium_and_is_flagged(monkeypatch):
    loop = "No, " * 55 + "no."
    fake = ScriptedLLM(["Hola a todos.", loop, loop, loop])
    monkeypatch.setattr(translate.LLMBackend, "check", lambda *a: None)
    monkeypatch.setattr(llm, "load", lambda *a, **k: fake)
    monkeypatch.setattr(llm, "require", lambda name: Path(name))
    monkeypatch.setattr(translate.ApertiumBackend, "check", lambda *a: None)
    monkeypatch.setattr(translate, "apertium", lambda texts, chain: ["No, no, no."] * len(texts))
    src = [Line(id=f"L{i + 1:04d}", start=2.0 * i, end=2.0 * i + 1.8, speaker="S0", source=t)
           for i, t in enumerate(["Hello everyone.", "No, no, no."])]
    t = translate.translate(src, "en", ES, config.load().translation)
    assert [l.text for l in t.lines] == ["Hola a todos.", "No, no, no."]
    assert t.lines[1].flags == ["guard:loop", "fallback:apertium"] and t.lines[0].flags == []
    # the same line into Japanese (no apertium pair): the loop cut short, flagged
    loop = "いいえ、" * 55 + "いいえ。"
    fake.replies = [loop, loop, loop]
    t = translate.translate(src[1:], "en", JA, config.load().translation)
    assert t.lines[0].text == guard.collapse_loop(loop) and len(t.lines[0].text) < 15
    assert t.lines[0].flags == ["guard:loop", "suspect"]


def test_a_shortened_retranslation_goes_through_the_guard():
    source = "Call Robert at 9:30 tomorrow morning, if you can, please."
    text = "Por favor, llama a Robert mañana a las 9:30 de la mañana, si puedes."

    def short(reply: str) -> str | None:
        return llm.Translator(ScriptedLLM([reply])).shorten(source, text, "en", ES, "at most 6 words")

    assert short("Llámale mañana.") is None  # lost the time and the name
    assert short("Llama a Robert, " * 12) is None  # a loop
    assert short("Llama a Robert a las 9:30.") == "Llama a Robert a las 9:30."  # short on purpose: fine


# --- the replies that failed, kept --------------------------------------------------------------------


def test_kept_replies_still_fail_for_the_same_reason():
    kept = json.loads(FIXTURES.read_text())
    assert kept, "no fixtures"
    for c in kept:
        why = llm.problem(c["source"], c["reply"], languages.get(c["target"]), "en")
        assert why == c["why"], c


def test_names_kept_in_latin_letters_inside_japanese_are_no_untranslated_text():
    """A real reply the old check rejected three times over (bench/translation.py --docs, ja, FLORES 520)."""
    source = ("“Personal involvement” and “continuing relationships” were also identified as new motivation aspects "
              "by Eighmey and McCord (1998) when they investigated audience reactions to websites.")
    reply = "「個人の参加」や「継続的な関係」もEighmeyとMcCord（1998）が調べたウェブサイトへの反応に対する新たな動機要素として示されました。"
    assert llm.problem(source, reply, JA, "en") is None
    assert llm.problem("He uses scaffolding at work.", "彼は仕事の現場で毎日scaffoldingを使っています。", JA, "en") == "untranslated"
