import json

import pytest

from dubbing.schema import Line, RecordError, Translation
from dubbing.workspace import Job, check_writable, digest


def _tr(text="hola"):
    return Translation(source_language="en", language="es", backend="test",
                       lines=[Line(id="L0001", start=0, end=1, speaker="A", source="hello", text=text)])


def test_record_is_reused_under_the_same_key_and_redone_under_another(tmp_path):
    job = Job(tmp_path)
    calls = []

    def make(text):
        calls.append(text)
        return _tr(text)

    a = job.record("es/translation.json", Translation, "k1", lambda: make("hola"))
    b = job.record("es/translation.json", Translation, "k1", lambda: make("adiós"))
    assert a == b and calls == ["hola"]
    c = job.record("es/translation.json", Translation, "k2", lambda: make("adiós"))
    assert c.lines[0].text == "adiós" and calls == ["hola", "adiós"]


def test_user_edit_is_kept_and_changes_downstream_keys(tmp_path):
    job = Job(tmp_path)
    job.record("es/translation.json", Translation, "k", _tr)
    p = tmp_path / "es/translation.json"
    data = json.loads(p.read_text())
    data["lines"][0]["text"] = "buenas"
    p.write_text(json.dumps(data))
    edited = job.record("es/translation.json", Translation, "k", lambda: pytest.fail("must not recompute"))
    assert edited.lines[0].text == "buenas"
    assert digest(edited) != digest(_tr())


def test_an_edited_record_made_again_is_copied_aside_first_and_an_unedited_one_is_not(tmp_path, caplog):
    import logging

    job = Job(tmp_path)
    job.record("source/transcript.json", Translation, "k1", _tr)
    job.record("source/transcript.json", Translation, "k2", lambda: _tr("otra"))  # not edited: replaced
    assert not list((tmp_path / "source").glob("transcript.edited-*"))
    p = tmp_path / "source/transcript.json"
    p.write_text(p.read_text().replace("otra", "buenas"))
    with caplog.at_level(logging.WARNING, logger="dubbing.workspace"):
        made = job.record("source/transcript.json", Translation, "k3", lambda: _tr("nueva"))
    (kept,) = (tmp_path / "source").glob("transcript.edited-*.json")
    assert Translation.load(kept).lines[0].text == "buenas" and made.lines[0].text == "nueva"
    assert "source/transcript.json was edited" in caplog.text and kept.name in caplog.text
    assert job.fresh(p, "k3") and not job.edited(p)


def test_a_key_written_before_edits_were_tracked_still_holds(tmp_path):
    job = Job(tmp_path)
    p = job.path("a.json")
    _tr().save(p)
    (tmp_path / ".a.json.key").write_text("k")  # one line, as jobs made before
    assert job.fresh(p, "k") and not job.edited(p)
    assert job.record("a.json", Translation, "k", lambda: pytest.fail("must not recompute")) == _tr()


def test_invalid_edit_is_a_one_line_error(tmp_path):
    p = tmp_path / "t.json"
    p.write_text('{"source_language": "en", "language": "es", "backend": "x", "lines": [{"id": 1}]}')
    with pytest.raises(RecordError, match=r"t.json: lines.0"):
        Translation.load(p)


def test_unwritable_output_is_refused(tmp_path):
    from dubbing.errors import DubError

    f = tmp_path / "file"
    f.write_text("x")
    with pytest.raises(DubError, match="not writable"):
        check_writable(f / "sub")
