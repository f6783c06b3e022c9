"""A person's edits of a translation survive when it must be made again (the source or settings changed)."""

import json
import logging
from types import SimpleNamespace

import pytest

import languages
from dubbing import config, edits, pipeline
from dubbing.schema import Line, Translation
from dubbing.workspace import Job


def _tr(pairs, flags=None):
    """A translation of (source, text) pairs, one line a second, ids in order."""
    return Translation(source_language="en", language="es", backend="test", lines=[
        Line(id=f"L{i + 1:04d}", start=i, end=i + 1, speaker="SPEAKER_00", source=s, text=t,
             flags=list((flags or {}).get(i, [])))
        for i, (s, t) in enumerate(pairs)])


def test_an_edit_moves_with_its_source_words_and_its_persons_flags_without_the_translators():
    machine = _tr([("Hello.", "Hola."), ("How are you?", "¿Cómo estás?"), ("Bye.", "Adiós.")])
    old = _tr([("Hello.", "Hola."), ("How are you?", "¿Qué tal, cómo está usted?"), ("Bye.", "Adiós.")],
              flags={1: ["long-ok"]})
    # the source gained a line before the edited one: ids shift, the words stay
    new = _tr([("Hello.", "Hola."), ("Wait.", "Espera."), ("How  are you?", "¿Cómo estás?"), ("Bye.", "Chao.")],
              flags={2: ["guard:repeat", "asr:0.4"]})
    out = edits.carry(old, machine, new)
    assert out.kept == ["L0003"] and out.lost == []
    texts = [ln.text for ln in out.translation.lines]
    assert texts == ["Hola.", "Espera.", "¿Qué tal, cómo está usted?", "Chao."]  # unedited lines take the new text
    assert out.translation.lines[2].flags == ["asr:0.4", "long-ok", edits.EDITED]
    assert new.lines[2].text == "¿Cómo estás?"  # the new translation itself is left as it was


def test_an_edit_whose_source_words_changed_is_reported_lost():
    machine = _tr([("Hello.", "Hola."), ("How are you?", "¿Cómo estás?")])
    old = _tr([("Hello.", "Buenas."), ("How are you?", "¿Cómo estás?")])
    new = _tr([("Hello there.", "Hola a todos."), ("How are you?", "¿Cómo estás?")])
    out = edits.carry(old, machine, new)
    assert out.kept == [] and out.lost == ["L0001"]
    assert [ln.text for ln in out.translation.lines] == ["Hola a todos.", "¿Cómo estás?"]


def test_without_the_translators_copy_every_differing_line_is_taken_for_an_edit():
    old = _tr([("Hello.", "Buenas."), ("Bye.", "Adiós.")])
    new = _tr([("Hello.", "Hola."), ("Bye.", "Adiós.")])
    assert edits.edited(old, None) == ["L0001", "L0002"]
    out = edits.carry(old, None, new)
    assert out.kept == ["L0001"] and [ln.text for ln in out.translation.lines] == ["Buenas.", "Adiós."]
    assert edits.carry(old, old, new).kept == []  # the same file with its copy: nothing was edited


def test_unchanged_source_lines_take_what_the_translator_wrote_before():
    before = _tr([("Hello.", "Hola."), ("How are you?", "¿Cómo estás?"), ("Bye.", "Adiós.")],
                 flags={1: ["long", "asr:0.3"]})
    lines = [Line(id=f"L{i + 1:04d}", start=i, end=i + 1, speaker="SPEAKER_01", source=s, flags=f)
             for i, (s, f) in enumerate([("Hello.", []), ("Wait!", []), ("How are you?", ["overlap:0.4"]),
                                         ("Bye.", [])])]
    lines[3].language = "fr"  # heard in another language now: not the same line
    done, todo = edits.reuse(before, lines)
    assert [d.text if d else None for d in done] == ["Hola.", None, "¿Cómo estás?", None]
    assert [ln.source for ln in todo] == ["Wait!", "Bye."]
    # the new line's id, times, speaker and source flags; the translator's flags of before
    assert (done[2].id, done[2].start, done[2].speaker) == ("L0003", 2, "SPEAKER_01")
    assert done[2].flags == ["overlap:0.4", "long"]


@pytest.fixture
def branch(tmp_path, monkeypatch):
    """translate_lines on a job folder, with a translator that writes "<es> source" and counts its calls."""
    calls = []

    def fake(lines, main, lang, cfg, terms, run_parts):
        calls.append([ln.source for ln in lines])
        return Translation(source_language=main, language=lang.code, backend="fake",
                           lines=[ln.model_copy(update={"text": f"<es> {ln.source}"}) for ln in lines])

    monkeypatch.setattr(pipeline, "_translated", fake)
    lines = [Line(id=f"L{i + 1:04d}", start=2 * i, end=2 * i + 1.5, speaker="SPEAKER_00", source=s)
             for i, s in enumerate(["Good morning.", "Today we cook rice.", "Wash it first."])]
    src = SimpleNamespace(job=Job(tmp_path / "job"), lines=lines, transcript=SimpleNamespace(language="en"),
                          timings={})
    return src, calls, tmp_path / "job" / "es" / "translation.json"


def _edit(path, line_id, text):
    data = json.loads(path.read_text())
    next(ln for ln in data["lines"] if ln["id"] == line_id)["text"] = text
    path.write_text(json.dumps(data, ensure_ascii=False))


def test_a_source_correction_keeps_the_other_lines_hand_edits(branch, caplog):
    src, calls, path = branch
    es, cfg = languages.get("es"), config.load()
    pipeline.translate_lines(src, es, cfg)
    _edit(path, "L0002", "Hoy cocinamos arroz blanco.")
    assert pipeline.translate_lines(src, es, cfg).lines[1].text == "Hoy cocinamos arroz blanco."
    assert len(calls) == 1  # an edit alone is kept as it is, with no new translation

    src.lines[2] = src.lines[2].model_copy(update={"source": "Rinse it first."})  # a corrected source line
    with caplog.at_level(logging.WARNING, logger="dubbing.pipeline"):
        tr = pipeline.translate_lines(src, es, cfg)
    assert len(calls) == 2
    assert [ln.text for ln in tr.lines] == ["<es> Good morning.", "Hoy cocinamos arroz blanco.", "<es> Rinse it first."]
    assert edits.EDITED in tr.lines[1].flags and tr == Translation.load(path)
    backups = sorted(path.parent.glob("translation.edited-*.json"))
    assert len(backups) == 1 and Translation.load(backups[0]).lines[1].text == "Hoy cocinamos arroz blanco."
    assert "1 edited line(s) kept (L0002)" in caplog.text and backups[0].name in caplog.text
    # what the translator wrote is kept apart, so the next change tells the edit apart again
    assert Translation.load(path.with_name(edits.MACHINE)).lines[1].text == "<es> Today we cook rice."


def test_a_source_correction_translates_only_the_changed_line_unless_the_settings_changed(branch):
    src, calls, path = branch
    es, cfg = languages.get("es"), config.load()
    pipeline.translate_lines(src, es, cfg)
    src.lines[1] = src.lines[1].model_copy(update={"source": "Today we cook brown rice."})
    tr = pipeline.translate_lines(src, es, cfg)
    assert calls[1] == ["Today we cook brown rice."]
    assert [ln.text for ln in tr.lines] == ["<es> Good morning.", "<es> Today we cook brown rice.", "<es> Wash it first."]
    other = cfg.model_copy(deep=True)
    other.translation.llm_model = "another.gguf"  # another setting: every line again
    src.lines[2] = src.lines[2].model_copy(update={"source": "Rinse it first."})
    pipeline.translate_lines(src, es, other)
    assert len(calls[2]) == 3


def test_an_unedited_translation_is_replaced_without_a_copy(branch):
    src, calls, path = branch
    es, cfg = languages.get("es"), config.load()
    pipeline.translate_lines(src, es, cfg)
    src.lines[0] = src.lines[0].model_copy(update={"source": "Good evening."})
    assert pipeline.translate_lines(src, es, cfg).lines[0].text == "<es> Good evening."
    assert len(calls) == 2 and not list(path.parent.glob("translation.edited-*"))


def test_a_broken_edit_is_copied_aside_before_a_new_translation(branch):
    src, calls, path = branch
    es, cfg = languages.get("es"), config.load()
    pipeline.translate_lines(src, es, cfg)
    path.write_text('{"lines": [ half an edit')
    src.lines[0] = src.lines[0].model_copy(update={"source": "Good evening."})
    pipeline.translate_lines(src, es, cfg)
    (backup,) = path.parent.glob("translation.edited-*.json")
    assert backup.read_text() == '{"lines": [ half an edit'


def test_an_unreadable_translators_copy_counts_every_differing_line_as_an_edit(branch, caplog):
    src, calls, path = branch
    es, cfg = languages.get("es"), config.load()
    pipeline.translate_lines(src, es, cfg)
    _edit(path, "L0001", "Buenos días a todos.")
    path.with_name(edits.MACHINE).write_text("not json")
    src.lines[2] = src.lines[2].model_copy(update={"source": "Rinse it first."})
    with caplog.at_level(logging.WARNING, logger="dubbing.pipeline"):
        tr = pipeline.translate_lines(src, es, cfg)
    assert len(calls[1]) == 3  # nothing to reuse: every line translated again
    assert tr.lines[0].text == "Buenos días a todos." and tr.lines[2].text == "<es> Rinse it first."
    assert f"no {edits.MACHINE} to tell your edits apart" in caplog.text
