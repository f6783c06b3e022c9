"""Glossaries: the two file formats, their errors, the prompt, the check after translation, and a clip."""

from __future__ import annotations

from pathlib import Path

import pytest

import languages
from dubbing import glossary, llm, translate
from dubbing.errors import DubError
from dubbing.schema import Line
from test_translate import ScriptedLLM, cfg

ES, FR, JA = languages.get("es"), languages.get("fr"), languages.get("ja")


def write(tmp_path: Path, name: str, text: str) -> Path:
    p = tmp_path / name
    p.write_text(text, encoding="utf-8")
    return p


def test_csv_with_empty_cells_and_a_keep_column(tmp_path):
    p = write(tmp_path, "g.csv", "term,es,fr,keep\nhelp,auxilio,aide,\nDubCo,,,yes\nweakness,debilidad,,\n")
    g = glossary.load(p)
    assert g["es"] == {"help": "auxilio", "DubCo": "DubCo", "weakness": "debilidad"}
    assert g["fr"] == {"help": "aide", "DubCo": "DubCo", "weakness": "weakness"}  # empty cell: keep
    assert glossary.for_language(g, "ja") == {"DubCo": "DubCo"}  # a kept name holds in any language


def test_yaml_with_kept_terms(tmp_path):
    p = write(tmp_path, "g.yaml", "help: {es: auxilio, fr: aide}\nDubCo: keep\nweakness: {es: debilidad}\n")
    g = glossary.load(p)
    assert g["es"] == {"help": "auxilio", "DubCo": "DubCo", "weakness": "debilidad"}
    assert g["fr"]["weakness"] == "weakness" and g["fr"]["help"] == "aide"


@pytest.mark.parametrize("name, text, words", [
    ("g.csv", "term,es,klingon\nhelp,auxilio,x\n", ["header column 3", "unknown language 'klingon'"]),
    ("g.csv", "word,es\nhelp,auxilio\n", ["line 1", "must start with 'term'"]),
    ("g.csv", "term,es\nhelp,auxilio,extra\n", ["line 2", "3 cells for 2 columns"]),
    ("g.csv", 'term,es\n"help,auxilio\n', ["not valid CSV"]),
    ("g.yaml", "help: {es: auxilio\n", ["not valid YAML"]),
    ("g.yaml", "help: {xx: auxilio}\n", ["term 'help'", "unknown language 'xx'"]),
    ("g.yaml", "- help\n", ["expected a mapping"]),
    ("g.txt", "help", ["a .csv or .yaml file"]),
])
def test_bad_glossaries_say_what_is_wrong_in_one_line(tmp_path, name, text, words):
    with pytest.raises(DubError) as e:
        glossary.load(write(tmp_path, name, text))
    assert "\n" not in str(e.value) and all(w in str(e.value) for w in words), str(e.value)


def test_prompt_names_translations_and_kept_terms():
    note = llm.glossary_note("Ask DubCo for help.", {"help": "auxilio", "DubCo": "DubCo", "sprint": "ciclo"})
    assert "help = auxilio" in note and "untranslated: DubCo" in note and "ciclo" not in note


def line(text: str) -> Line:
    return Line(id="L0001", start=0.0, end=3.0, speaker="A", source=text)


def test_a_reply_missing_a_term_is_asked_again_then_flagged(monkeypatch):
    terms = {"help": "auxilio"}
    monkeypatch.setattr(llm, "require", lambda name: Path(name))
    good = ScriptedLLM(["Necesito ayuda.", "Necesito auxilio."])
    monkeypatch.setattr(llm, "load", lambda *a, **k: good)
    t = translate.translate([line("I need help.")], "en", ES, cfg(backend="llm"), terms)
    assert t.lines[0].text == "Necesito auxilio." and "glossary" not in t.lines[0].flags
    assert "auxilio" in good.prompts[1][-1]["content"]  # the retry still names the term
    # three tries (greedy, strict, sampled: see llm.Translator.one), then the term alone: no repair
    bad = ScriptedLLM(["Necesito ayuda.", "Necesito ayuda ya.", "Necesito ayuda ahora.", "Socorro."])
    monkeypatch.setattr(llm, "load", lambda *a, **k: bad)
    monkeypatch.setattr(translate, "_route", lambda target, c: ["llm"])  # no fallback to hide the flag
    t = translate.translate([line("I need help.")], "en", ES, cfg(backend="llm"), terms)
    assert "glossary" in t.lines[0].flags and "suspect" in t.lines[0].flags


def test_a_shorter_line_may_not_lose_a_term(monkeypatch):
    monkeypatch.setattr(llm, "require", lambda name: Path(name))
    l = line("Honestly, my main weakness is asking for help when I need it.")
    l.text = "Sinceramente, mi principal debilidad es pedir auxilio cuando lo necesito."
    # fillers dropped keeps the term; the model's shorter versions lose it
    fake = ScriptedLLM(["Mi debilidad: pedir ayuda."] * 6)
    monkeypatch.setattr(llm, "load", lambda *a, **k: fake)
    out = translate.shorten(l, "en", ES, cfg(), max_seconds=1.0, glossary={"help": "auxilio"})
    assert "auxilio" in out


# renderings the model does not give unasked (it says "debilidad", "faiblesse", "弱点"; "ayuda", "aide", "助け")
GLOSSARY_CLIP_TERMS = "term,es,fr,ja\nweakness,punto flaco,point faible,弱み\nhelp,auxilio,assistance,サポート\n"


@pytest.mark.slow
def test_every_glossary_term_appears_as_given_in_every_target_language(tmp_path, media_dir):
    """vr_face1's transcript ("...my biggest weakness is asking for help...") into es, fr and ja with a
    glossary of its two key terms: each language's translation holds each term as the glossary gives it,
    and no line is flagged."""
    pytest.importorskip("llama_cpp")
    from dubbing import config, pipeline
    from dubbing.workspace import Job

    cfg = config.load().model_copy(deep=True)
    cfg.translation.glossary = str(write(tmp_path, "terms.csv", GLOSSARY_CLIP_TERMS))
    src = pipeline.prepare(media_dir / "video" / "vr_face1.mp4", Job(tmp_path / "job"), cfg, "en")
    source = " ".join(l.source for l in src.lines).lower()
    assert "weakness" in source and "help" in source
    terms = glossary.load(cfg.translation.glossary)
    for lang in (ES, FR, JA):
        tr = pipeline.translate_lines(src, lang, cfg)
        for l in tr.lines:
            for term, want in llm.glossary_terms(l.source, terms[lang.code]):
                assert want.casefold() in l.text.casefold(), f"{lang.code} {l.id}: {want!r} not in {l.text!r}"
            assert "glossary" not in l.flags
            print(lang.code, l.source, "->", l.text)


def test_cli_refuses_a_bad_glossary_and_a_stray_translation_in_one_line(made, tmp_path):
    from test_cli_errors import assert_one_line_error, dub

    bad = write(tmp_path, "g.csv", "term,es,xx\nhelp,auxilio,x\n")
    r = dub("translate", made["tone"], "--to", "es", "--glossary", bad, "--out", tmp_path / "out")
    assert_one_line_error(r, "unknown language 'xx'")
    own = write(tmp_path, "fr.srt", "1\n00:00:00,000 --> 00:00:01,000\nBonjour\n")
    r = dub("translate", made["tone"], "--to", "es", "--translation", f"fr={own}", "--out", tmp_path / "out")
    assert_one_line_error(r, "fr is not one of the targets")


def test_a_term_the_model_will_not_use_is_put_in_place_of_its_usual_rendering(monkeypatch):
    monkeypatch.setattr(llm, "require", lambda name: Path(name))
    monkeypatch.setattr(translate, "_route", lambda target, c: ["llm"])
    # all three tries keep the usual word; asked for the term alone, the model says "Ayuda."
    fake = ScriptedLLM(["Pedir ayuda es difícil.", "Pedir ayuda es difícil.", "Pedir ayuda es difícil.", "Ayuda."])
    monkeypatch.setattr(llm, "load", lambda *a, **k: fake)
    t = translate.translate([line("Asking for help is hard.")], "en", ES, cfg(backend="llm"), {"help": "auxilio"})
    assert t.lines[0].text == "Pedir auxilio es difícil." and not t.lines[0].flags
    assert glossary.replace_rendering("Ayuda, ayuda y ayudante.", "ayuda", "auxilio") == "Auxilio, auxilio y ayudante."
    assert glossary.replace_rendering("助けが必要", "助け", "サポート", cjk=True) == "サポートが必要"
