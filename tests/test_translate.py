"""Translation stage: length budget, LLM output cleanup and retries, backend routing and fallback,
apertium, the user's own translation files, and the seq2seq code path on a tiny model built here."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

import languages
from dubbing import config, llm, translate
from dubbing.errors import DubError, MissingModel
from dubbing.schema import Line

ES, FR, JA = languages.get("es"), languages.get("fr"), languages.get("ja")
needs_apertium = pytest.mark.skipif(shutil.which("apertium") is None, reason="Debian apertium not installed")


def cfg(**kw) -> config.Translation:
    return config.load().translation.model_copy(update=kw)


def lines(*texts: str, budget: float = 0.0) -> list[Line]:
    return [Line(id=f"L{i + 1:04d}", start=2.0 * i, end=2.0 * i + 1.8, speaker=f"S{i % 2}", source=t, budget=budget)
            for i, t in enumerate(texts)]


# --- budget ------------------------------------------------------------------------------------------


def test_spoken_seconds_grows_with_text_and_uses_the_language_rate():
    short, long_ = "Hola.", "Hola, ¿cómo estás? Hace mucho que no nos vemos, amigo mío."
    assert 0 < translate.spoken_seconds(short, ES) < translate.spoken_seconds(long_, ES)
    # same letters, slower language rate -> more seconds
    assert translate.spoken_seconds(long_, FR) > translate.spoken_seconds(long_, ES)
    # Japanese counts characters: 8 characters at 8 characters per second
    assert translate.spoken_seconds("今日はいい天気だ", JA) == pytest.approx(1.0)


@pytest.mark.parametrize("text, code, n", [("make the table", "en", 3), ("she wanted to talk", "en", 5),
                                           ("un homme et des tables", "fr", 5), ("la casa grande", "es", 5),
                                           ("a 42", "en", 3)])
def test_syllables_skip_silent_endings(text, code, n):
    assert translate.syllables(text, code) == n


def test_length_hint_scales_with_seconds():
    def n(hint: str) -> int:
        return int(hint.split()[2])

    assert n(translate.length_hint(4.0, ES)) > n(translate.length_hint(1.0, ES)) >= 1
    assert translate.length_hint(2.0, JA).endswith("characters")
    assert translate.length_hint(2.0, ES).endswith("words")


def test_long_translations_are_flagged(tmp_path):
    src = lines("Yes.", "No.", budget=0.8)
    path = tmp_path / "es.json"
    path.write_text(json.dumps({"L0001": "Sí.", "L0002": "No, de ninguna manera, eso no va a ocurrir jamás."}))
    t = translate.translate(src, "en", ES, cfg(backend="file", file=str(path)))
    assert "long" not in t.lines[0].flags and "long" in t.lines[1].flags


# --- LLM output handling (no model) ------------------------------------------------------------------


@pytest.mark.parametrize("reply, expected", [
    ("Translation: Hola, ¿qué tal?", "Hola, ¿qué tal?"),
    ('"Hola, ¿qué tal?"', "Hola, ¿qué tal?"),
    ("```\nHola, ¿qué tal?\n```", "Hola, ¿qué tal?"),
    ("Spanish translation: Hola, ¿qué tal?\n\nNote: informal register.", "Hola, ¿qué tal?"),
    ("Hola, ¿qué tal? (Note: informal)", "Hola, ¿qué tal?"),
    ("**Hola**, ¿qué tal?", "Hola, ¿qué tal?"),
    ("1. Hola, ¿qué tal?", "Hola, ¿qué tal?"),
    ("Hola, ¿qué tal? (at most 4 words)", "Hola, ¿qué tal?"),
    ('Claro, aquí tienes la traducción al español:\n"Hola, ¿qué tal?"', "Hola, ¿qué tal?"),  # pa_sample es L0007
    ("Voici la traduction :\nSalut, ça va ?", "Salut, ça va ?"),
])
def test_clean_strips_chatter(reply, expected):
    assert llm.clean(reply, ES, "Hi, how are you?") == expected


def test_clean_drops_romaji_for_japanese_and_keeps_source_quotes():
    assert llm.clean("「こんにちは」 (Konnichiwa)", JA, "Hello") == "こんにちは"
    assert llm.clean('"Corre"', ES, '"Run"') == '"Corre"'


@pytest.mark.parametrize("source, out, target, reason", [
    ("Hello there.", "  ", ES, "empty"),
    ("I need your help now.", "I need your help now!", ES, "untranslated"),
    ("My biggest weakness is asking for help.", "My biggest weakness is asking for ayuda.", ES, "untranslated"),
    ("Good morning.", "Ohayou gozaimasu.", JA, "wrong script"),
    ("The weather is nice today.", "今天天气很好我们去公园", JA, "wrong script"),  # Chinese: no kana
    ("My weakness: asking for help.", "弱さ: 帮助を求める", JA, "wrong script"),  # a Chinese 帮 among kana
    ("Good morning.", "Buenos días. " * 20, ES, "loop"),
    ("Good morning.", "Buenos días, querido amigo mío, qué alegría verte hoy por aquí en esta mañana tan bonita.",
     ES, "runaway"),
    ("Good morning.", "Доброе утро.", ES, "wrong script"),
    ("Dr. Jackson has a lot of patience.", "ジャクソンさんはpatienceがある。", JA, "untranslated"),
    ("Well, there's not much difference.", "Claro, aquí tienes la traducción al español:", ES, "chatter"),
    ("Well, there's not much difference.", '"Claro, aquí tienes la traducción al español', ES, "chatter"),
    ("I like it.", "Voici la traduction en français : J'aime ça.", FR, "chatter"),
])
def test_problem_detects_bad_outputs(source, out, target, reason):
    assert llm.problem(source, out, target) == reason


def test_problem_accepts_good_outputs():
    assert llm.problem("Good morning, Tom.", "Buenos días, Tom.", ES) is None
    assert llm.problem("Good morning.", "おはようございます。", JA) is None
    assert llm.problem("Tom!", "Tom!", ES) is None  # a lone name may stay as it is
    assert llm.problem("Who translated this?", "¿Quién tradujo esto?", ES) is None
    assert llm.problem("The translation is wrong.", "La traducción está mal.", ES) is None


def test_parse_numbered_tolerates_gaps_and_chatter():
    reply = "Here you go:\n1. Hola.\n3) Adiós.\nNote: done"
    assert llm.parse_numbered(reply, 3, ES, ["Hi.", "Thanks.", "Bye."]) == ["Hola.", None, "Adiós."]


def test_pages_split_long_transcripts_without_losing_lines():
    items = [llm.Item("x" * 40) for _ in range(10)]
    ps = llm.pages(items, max_chars=100)
    assert len(ps) > 1 and [i for p in ps for i in p] == list(range(10))


def test_glossary_names_only_terms_present():
    note = llm.glossary_note("Ask the Product Owner.", {"product owner": "responsable de producto", "sprint": "ciclo"})
    assert "responsable de producto" in note and "ciclo" not in note
    assert llm.glossary_note("Nothing here.", {"sprint": "ciclo"}) == ""


class ScriptedLLM:
    """Stands in for llama_cpp.Llama: answers chat requests from a list, records the prompts."""

    def __init__(self, replies: list[str]):
        self.replies, self.prompts = list(replies), []

    def create_chat_completion(self, messages, **kw):
        assert kw["temperature"] == 0.0 or kw["seed"] != llm.SEED  # greedy, or sampled with its own fixed seed
        self.prompts.append(messages)
        reply = self.replies.pop(0)
        if not kw.get("stream"):
            return {"choices": [{"message": {"content": reply}}]}
        return ({"choices": [{"delta": {"content": piece}}]} for piece in re.findall(r"\S+|\s+", reply))

    def tokenize(self, data: bytes, add_bos: bool = False):
        return data.split()


def test_translator_retries_once_with_a_stricter_prompt():
    fake = ScriptedLLM(["I am asking for help.", "Estoy pidiendo ayuda."])
    out = llm.Translator(fake).one(llm.Item("I am asking for help.", hint="at most 5 words"), "en", ES)
    assert out[:2] == ("Estoy pidiendo ayuda.", True)
    assert len(fake.prompts) == 2 and fake.prompts[0][0]["content"] != fake.prompts[1][0]["content"]
    assert "at most 5 words" in fake.prompts[0][-1]["content"]


def test_llm_failures_fall_back_to_the_next_backend_and_are_flagged(monkeypatch):
    fake = ScriptedLLM(["Hola a todos."] + ["Thank you."] * (3 + llm.EXTRA_SAMPLES))  # line 2 fails every try
    monkeypatch.setattr(translate.LLMBackend, "check", lambda *a: None)
    monkeypatch.setattr(llm, "load", lambda *a, **k: fake)
    monkeypatch.setattr(llm, "require", lambda name: Path(name))
    monkeypatch.setattr(translate.ApertiumBackend, "check", lambda *a: None)
    monkeypatch.setattr(translate, "apertium", lambda texts, chain: [f"<{t}>".replace("Thank you", "Gracias")
                                                                      for t in texts])
    t = translate.translate(lines("Hello everyone.", "Thank you.", ""), "en", ES, cfg(backend="auto"))
    assert [l.text for l in t.lines] == ["Hola a todos.", "<Gracias.>", ""]
    assert "fallback:apertium" in t.lines[1].flags and not t.lines[0].flags
    assert t.backend == "llm+apertium"
    assert [(l.id, l.start, l.speaker) for l in t.lines] == [(l.id, l.start, l.speaker) for l in lines("a", "b", "c")]


def test_a_line_no_backend_gets_right_keeps_the_best_effort_and_is_flagged(monkeypatch):
    fake = ScriptedLLM(["Ohayou.", "Good morning."] + ["Ohayou."] * (1 + llm.EXTRA_SAMPLES))  # romaji, English: all fail for ja
    monkeypatch.setattr(llm, "require", lambda name: Path(name))
    monkeypatch.setattr(llm, "load", lambda *a, **k: fake)
    t = translate.translate(lines("Good morning."), "en", JA, cfg(backend="auto"))  # ja route: llm only
    assert t.lines[0].text == "Good morning." and "suspect" in t.lines[0].flags


CHATTER = "¡Por supuesto! Aquí tienes la traducción al español:"


def test_a_line_answered_with_talk_is_asked_again_until_a_sample_translates_it():
    """Greedy, strict and the first sample all talk about translating (a Portuguese line on the long bench
    programs did): more samples, each with a seed of its own, until one is a translation."""
    fake = ScriptedLLM([CHATTER] * 4 + ["Y más, para ese momento estaré listo."])
    out = llm.Translator(fake).one(llm.Item("e bora mais, para esse momento eu vou ficar pronto"), "pt", ES)
    assert out[:2] == ("Y más, para ese momento estaré listo.", True)
    assert len(fake.prompts) == 5


def test_a_line_only_ever_answered_with_talk_is_not_dubbed_but_flagged(monkeypatch):
    fake = ScriptedLLM([CHATTER] * (3 + llm.EXTRA_SAMPLES))
    monkeypatch.setattr(llm, "require", lambda name: Path(name))
    monkeypatch.setattr(llm, "load", lambda *a, **k: fake)
    t = translate.translate(lines("e bora mais, para esse momento eu vou ficar pronto"), "pt", ES, cfg(backend="llm"))
    assert t.lines[0].text == ""  # not the model's talk: the dub never says it
    assert "untranslated" in t.lines[0].flags and "guard:chatter" in t.lines[0].flags
    assert not fake.replies  # every try was made


def test_a_line_that_fails_mildly_is_not_asked_more_than_three_times():
    fake = ScriptedLLM(["Pido ayuda, " * 8 + "ayuda."] * 3)  # too long for its hint, every time: usable
    out = llm.Translator(fake).one(llm.Item("I ask for help.", hint="at most 4 words"), "en", ES)
    assert not out.ok and out.text and len(fake.prompts) == 3


def test_shorten_keeps_only_a_shorter_valid_rendering(monkeypatch):
    monkeypatch.setattr(llm, "require", lambda name: Path(name))
    line = lines("I would really like to thank all of you for coming here tonight.")[0]
    line.text = "Me gustaría mucho darles las gracias a todos ustedes por venir aquí esta noche."
    fake = ScriptedLLM(["Gracias a todos por venir esta noche."])  # the budgeted translation fits: done
    monkeypatch.setattr(llm, "load", lambda *a, **k: fake)
    short = translate.shorten(line, "en", ES, cfg(), max_seconds=3.0)
    assert short == "Gracias a todos por venir esta noche." and line.text != short
    assert "at most" in fake.prompts[0][-1]["content"] and line.source in fake.prompts[0][-1]["content"]
    # longer; then the source made shorter in English, and translated
    fake = ScriptedLLM([line.text + " De verdad.", "Thanks.", "Thanks all for coming tonight.",
                        "Muchas gracias a todos por venir."])  # "Thanks." lost the content: not translated
    monkeypatch.setattr(llm, "load", lambda *a, **k: fake)
    assert translate.shorten(line, "en", ES, cfg(), max_seconds=3.0) == "Muchas gracias a todos por venir."
    assert fake.prompts[-1][-1]["content"].endswith("Thanks all for coming tonight.")
    fake = ScriptedLLM([line.text, "Thanks.", "Thanks!"])  # an echo, short sources that lost the content
    monkeypatch.setattr(llm, "load", lambda *a, **k: fake)
    assert translate.shorten(line, "en", ES, cfg(), max_seconds=3.0) == line.text


def test_shorten_drops_fillers_first_and_rejects_fragments():
    fr = languages.get("fr")
    assert translate.drop_fillers("Oh, bonjour. Bon, on y va (enfin).", fr) == "Bonjour. On y va."
    assert translate.drop_fillers("Oui.", fr) == "Oui."  # all there is: kept
    assert translate.drop_last_clause("Il n'y a pas de différence. Au moins, ils m'appellent Yankee ici, "
                                      "donc je peux le dire.") == \
        "Il n'y a pas de différence. Au moins, ils m'appellent Yankee ici."
    assert translate.drop_last_clause("Sí, claro, bueno, vale, ¿qué tal estás hoy?") == "Sí, claro, bueno, vale."
    assert translate.drop_last_clause("Hola, ¿qué tal?") == "Hola, ¿qué tal?"  # the tail is half the line
    src, text = "I am Diane from New Jersey.", "Je suis Diane de New Jersey."
    assert not translate.keeps_content("Je suis Diane", text, src, fr, 1.0)  # a cut-off start
    assert not translate.keeps_content("Je suis Diane.", text, src, fr, 1.0)  # a name lost
    assert translate.keeps_content("Diane, de New Jersey.", text, src, fr, 1.0)


def test_no_available_backend_lists_the_reasons(monkeypatch):
    def missing(name):
        raise MissingModel("translation", "qwen", "Install it.")

    monkeypatch.setattr(llm, "require", missing)
    with pytest.raises(DubError, match=r"no translation backend for en->ja: translation: model 'qwen'"):
        translate.translate(lines("Hello."), "en", JA, cfg(backend="auto"))


def test_source_equal_to_target_is_refused():
    with pytest.raises(DubError, match="already in Spanish"):
        translate.translate(lines("Hola."), "es", ES, cfg())


def test_explicit_backend_that_cannot_serve_the_pair_says_why():
    with pytest.raises(DubError, match="apertium: no en->ja pair"):
        translate.translate(lines("Hello."), "en", JA, cfg(backend="apertium"))
    with pytest.raises(DubError, match="not one of"):
        translate.translate(lines("Hello."), "en", JA, cfg(backend="deepl"))


# --- apertium ----------------------------------------------------------------------------------------


@needs_apertium
def test_apertium_batches_lines_and_chains_through_spanish():
    src = lines("My biggest weakness is asking for help.", "", "The house is big.")
    es = translate.translate(src, "en", ES, cfg(backend="apertium"))
    assert es.backend == "apertium" and len(es.lines) == 3
    assert "ayuda" in es.lines[0].text.lower() and es.lines[1].text == "" and "casa" in es.lines[2].text.lower()
    fr = translate.translate(src, "en", FR, cfg(backend="apertium"))
    assert "maison" in fr.lines[2].text.lower()


# --- the user's own translations ---------------------------------------------------------------------


def test_json_file_translations(tmp_path):
    p = tmp_path / "t.json"
    p.write_text(json.dumps({"L0001": "Hola.", "L0002": "Adiós."}))
    t = translate.translate(lines("Hello.", "Bye."), "en", ES, cfg(backend="file", file=str(p)))
    assert [l.text for l in t.lines] == ["Hola.", "Adiós."] and t.backend == "file"


def test_file_name_may_hold_the_language(tmp_path):
    (tmp_path / "t.fr.json").write_text(json.dumps({"L0001": "Bonjour."}))
    t = translate.translate(lines("Hello."), "en", FR, cfg(backend="file", file=str(tmp_path / "t.{lang}.json")))
    assert t.lines[0].text == "Bonjour."


@pytest.mark.parametrize("content, message", [
    ('{"L0001": "Hola.",\n "L0009": "x"}', r"line 2\): unknown line id 'L0009'"),
    ('{"L0001": "Hola."}', "no translation for line L0002"),
    ('{"L0001": "Hola.",\n "L0002" "Adiós."}', "line 2 column 10"),
    ('{"L0001": "Hola.", "L0002": 3}', "'L0002' is not a string"),
])
def test_json_file_errors_name_file_and_place(tmp_path, content, message):
    p = tmp_path / "t.json"
    p.write_text(content)
    with pytest.raises(DubError, match=message) as e:
        translate.translate(lines("Hello.", "Bye."), "en", ES, cfg(backend="file", file=str(p)))
    assert str(p) in str(e.value)


SRT = """1
00:00:00,100 --> 00:00:01,500
Hola.

2
00:00:02,000 --> 00:00:02,900
Adiós,

3
00:00:02,900 --> 00:00:03,700
amigo.
"""


def test_srt_cues_match_lines_by_time(tmp_path):
    p = tmp_path / "t.srt"
    p.write_text(SRT)
    t = translate.translate(lines("Hello.", "Bye, friend."), "en", ES, cfg(backend="file", file=str(p)))
    assert [l.text for l in t.lines] == ["Hola.", "Adiós, amigo."]


def test_srt_cues_match_lines_by_order_when_times_differ(tmp_path):
    p = tmp_path / "t.srt"
    p.write_text(SRT.replace("00:00:0", "00:01:0"))
    t = translate.translate(lines("Hello.", "Bye,", "friend."), "en", ES, cfg(backend="file", file=str(p)))
    assert [l.text for l in t.lines] == ["Hola.", "Adiós,", "amigo."]


def test_srt_errors(tmp_path):
    p = tmp_path / "t.srt"
    p.write_text(SRT.replace("00:00:0", "00:01:0"))
    with pytest.raises(DubError, match="overlaps no transcript line"):
        translate.translate(lines("Hello.", "Bye."), "en", ES, cfg(backend="file", file=str(p)))
    p.write_text("1\n00:00:00,100 --> 00:00:01,500\nHola.\n\n2\n00:00:02,100 -> 00:00:03,500\nAdiós.\n")
    with pytest.raises(DubError, match="line 5: not valid SRT"):
        translate.translate(lines("Hello.", "Bye."), "en", ES, cfg(backend="file", file=str(p)))


# --- seq2seq -----------------------------------------------------------------------------------------


def test_seq2seq_language_codes():
    assert translate.seq2seq_codes("nllb", "en", "ja") == ("eng_Latn", "jpn_Jpan")
    assert translate.seq2seq_codes("m2m", "en", "fr") == ("en", "fr")
    assert translate.seq2seq_codes("marian", "en", "es") == ("", ">>spa<<")


def test_missing_seq2seq_model_names_it_and_how_to_get_it():
    name = "nobody/opus-mt-en-xx-not-here"
    with pytest.raises(MissingModel) as e:
        translate.translate(lines("Hello."), "en", ES, cfg(backend="seq2seq", seq2seq_model=name))
    assert name in str(e.value) and f"huggingface-cli download {name}" in str(e.value)


@pytest.fixture(scope="module")
def tiny_marian(tmp_path_factory) -> Path:
    """A random-weight Marian model with a character-level SentencePiece vocabulary, saved to a folder."""
    import sentencepiece as spm
    from transformers import MarianConfig, MarianMTModel, MarianTokenizer

    d = tmp_path_factory.mktemp("marian")
    corpus = ["hello world", "how are you", "hola mundo", "cómo estás", "the house is big", "la casa es grande"]
    spm.SentencePieceTrainer.train(sentence_iterator=iter(corpus), model_prefix=str(d / "sp"), vocab_size=40,
                                   model_type="char", hard_vocab_limit=False, minloglevel=2)
    pieces = [l.split("\t")[0] for l in (d / "sp.vocab").read_text().splitlines()]
    vocab = {"<pad>": 0, "</s>": 1, "<unk>": 2} | {p: i + 3 for i, p in enumerate(x for x in pieces
                                                                              if x not in ("<unk>", "<s>", "</s>"))}
    (d / "vocab.json").write_text(json.dumps(vocab))
    tok = MarianTokenizer(str(d / "sp.model"), str(d / "sp.model"), str(d / "vocab.json"))
    conf = MarianConfig(vocab_size=len(vocab), d_model=16, encoder_layers=1, decoder_layers=1,
                        encoder_attention_heads=2, decoder_attention_heads=2, encoder_ffn_dim=32,
                        decoder_ffn_dim=32, max_position_embeddings=64, pad_token_id=0, eos_token_id=1,
                        decoder_start_token_id=0, forced_eos_token_id=1)
    out = d / "model"
    MarianMTModel(conf).save_pretrained(out)
    tok.save_pretrained(out)
    return out


@pytest.mark.filterwarnings("ignore:Recommended. pip install sacremoses")
def test_seq2seq_translates_in_batches_from_a_local_folder(tiny_marian):
    texts = ["hello world", "how are you", "the house is big"]
    out = translate.seq2seq(texts, "en", "es", str(tiny_marian), batch_size=2)  # two batches
    assert len(out) == 3 and all(isinstance(t, str) for t in out)
    assert translate.load_seq2seq(str(tiny_marian))[2] == "marian"


def test_seq2seq_backend_fills_lines(tiny_marian, monkeypatch):
    monkeypatch.setattr(translate, "seq2seq", lambda texts, *a: [t.upper() for t in texts])
    es_only = ES.model_copy(deep=True)
    es_only.translation.route = []  # no fallback: only the chosen backend
    src = lines("hello world", "", "how are you")
    t = translate.translate(src, "en", es_only, cfg(backend="seq2seq", seq2seq_model=str(tiny_marian)))
    assert t.backend == "seq2seq" and [l.text for l in t.lines] == ["HELLO WORLD", "", "HOW ARE YOU"]


# --- the real model ----------------------------------------------------------------------------------


@pytest.mark.slow
def test_llm_translates_two_lines_into_spanish():
    pytest.importorskip("llama_cpp")
    try:
        llm.model_path(llm.EMBEDDED)
    except MissingModel as e:
        pytest.skip(str(e))
    src = lines("Good morning, everyone.", "Thank you very much for your help.", budget=2.0)
    t = translate.translate(src, "en", ES, cfg(backend="llm"))
    assert t.backend == "llm"
    for s, l in zip(src, t.lines):
        assert l.text and l.text != s.source and llm.problem(s.source, l.text, ES) is None
    words = " ".join(l.text.lower() for l in t.lines)
    assert any(w in words for w in ("buenos", "gracias", "ayuda", "todos"))
    again = translate.translate(src, "en", ES, cfg(backend="llm"))  # greedy: a rerun gives the same text
    assert [l.text for l in again.lines] == [l.text for l in t.lines]


@pytest.fixture
def embedded_llm() -> Path:
    """The embedded GGUF's path (the test is skipped where it or llama-cpp-python is missing)."""
    pytest.importorskip("llama_cpp")
    try:
        return llm.model_path(llm.EMBEDDED)
    except MissingModel as e:
        pytest.skip(str(e))


@pytest.mark.slow
def test_llm_prompt_cache_restores_earlier_prompts_without_their_logit_buffers(embedded_llm):
    model = llm.load(str(embedded_llm))
    tr = llm.Translator(model)
    first = tr.one(llm.Item("Let's meet at the station at noon.", "", ""), "en", ES).text
    tr.shorten("Let's meet at the station at noon.", first, "en", ES, "at most 4 words")  # another prompt
    cache = model.cache
    assert cache.cache_state and all(s.scores.shape[0] == 1 for s in cache.cache_state.values())
    restored = []
    real_load = model.load_state
    model.load_state = lambda state: (restored.append(state.n_tokens), real_load(state))
    try:
        again = tr.one(llm.Item("Let's meet at the station at noon.", "", ""), "en", ES).text
    finally:
        del model.load_state
    assert restored, "the first prompt's state was not restored from the cache"
    assert again == first  # a restored prefix reads on to the same greedy answer


@pytest.mark.slow
def test_fixed_prompt_starts_are_kept_on_disk_and_a_later_run_reads_none_of_them(embedded_llm, tmp_path, monkeypatch):
    path = embedded_llm
    model = llm.load(str(path))
    monkeypatch.setattr(llm.models, "models_dir", lambda: tmp_path)
    monkeypatch.setattr(model, "cache", llm.prompt_cache())
    llm.prime(str(path), "en", [ES, FR])
    kept = sorted((tmp_path / "prompt-states").glob("*.pkl"))
    assert len(kept) == 5  # translation and limited translation per target, condensing once

    monkeypatch.setattr(model, "cache", llm.prompt_cache())
    read = []
    real = model.create_chat_completion
    monkeypatch.setattr(model, "create_chat_completion", lambda **kw: (read.append(kw), real(**kw))[1])
    llm.prime(str(path), "en", [ES, FR])
    assert not read and len(model.cache.cache_state) == 5, "every state came from disk"
    restored = []
    real_load = model.load_state
    monkeypatch.setattr(model, "load_state", lambda state: (restored.append(state.n_tokens), real_load(state)))
    llm.Translator(model).one(llm.Item("Good morning.", "", ""), "en", ES)
    assert restored and restored[0] >= 40, "the translation prompt started from the kept system text"


def test_shorten_ignores_a_rendering_that_barely_shortens(monkeypatch):
    monkeypatch.setattr(llm, "require", lambda name: Path(name))
    line = lines("I thought you knew I had heard of it. This is Diane in New Jersey.")[0]
    line.text = "Entiendo que conoces que escuchaste de eso. Esto es Diane en Nueva Jersey."
    barely = "Pensaba que sabías que escuchaste de eso. Esta es Diane en Nueva Jersey."  # 4 % shorter
    assert translate.spoken_seconds(barely, ES) > translate.MIN_CUT * translate.spoken_seconds(line.text, ES)
    # the limited translation, then each condensed source and its translation
    fake = ScriptedLLM([barely, "I thought you knew I'd heard of it. Diane, New Jersey.", barely,
                        "You knew I'd heard of it. Diane in New Jersey.", barely])
    monkeypatch.setattr(llm, "load", lambda *a, **k: fake)
    assert translate.shorten(line, "en", ES, cfg(), max_seconds=2.0) == line.text
    assert not fake.replies


def test_shorten_stops_at_the_first_condensed_line_that_fits(monkeypatch):
    """The sampled condensed source is asked for only when the greedy one did not give a fitting line."""
    monkeypatch.setattr(llm, "require", lambda name: Path(name))
    line = lines("I would really like to thank all of you for coming here tonight.")[0]
    line.text = "Me gustaría mucho darles las gracias a todos ustedes por venir aquí esta noche."
    fake = ScriptedLLM([line.text, "Thanks all for coming tonight.", "Gracias a todos por venir esta noche.", "unused"])
    monkeypatch.setattr(llm, "load", lambda *a, **k: fake)
    assert translate.shorten(line, "en", ES, cfg(), max_seconds=3.0) == "Gracias a todos por venir esta noche."
    assert fake.replies == ["unused"]


@pytest.mark.parametrize("reply, done", [
    ("Hola, ¿qué tal?", False),  # still being written
    ("Hola, ¿qué tal?\n", True),
    ("Claro, aquí tienes la traducción:\n", False),  # a preamble: the answer follows
    ("Claro, aquí tienes la traducción:\n\nHola.\n", True),
    ("```\nHola.\n", True),
    ("Traducción:\nTraducción:\nTraducción:\n", True),  # a loop on the preamble stops too
])
def test_answered_stops_a_single_line_reply_once_its_line_is_written(reply, done):
    assert llm.answered(reply) is done


@pytest.mark.parametrize("short, source, expanded", [
    ("Diane in NJ heard of it.", "I thought you knew. This is Diane in New Jersey.", "Diane in New Jersey heard of it."),
    ("I am in NJ now.", "I'm in New Jersey now though.", "I am in New Jersey now."),
    ("Met her in LA, OK?", "I met her in Los Angeles last year. OK?", "Met her in Los Angeles, OK?"),
    ("The NJ line.", "Take the train.", "The NJ line."),  # no such name in the source: left as it is
])
def test_a_condensed_line_gets_the_sources_names_written_out(short, source, expanded):
    assert translate.expand_initials(short, source) == expanded


def test_the_model_is_released_after_its_last_user(monkeypatch):
    calls = []
    monkeypatch.setattr(llm, "release", lambda: calls.append(1))
    users = llm.Users(3)
    users.done()
    users.done()
    assert calls == []
    users.done()
    assert calls == [1]


def test_lip_sync_waits_for_the_release_only_while_another_user_asks(monkeypatch):
    import threading

    events = []
    monkeypatch.setattr(llm, "release", lambda: events.append("released"))
    users = llm.Users(2)
    users.done()  # this language's speech is fitted
    users.wait_released()  # nobody asks: it goes on (a user not yet started may need its thread)
    asked, go = threading.Event(), threading.Event()

    def other_language():
        with users.asking(then_done=True):
            asked.set()
            go.wait(5)
            events.append("shortened")

    t = threading.Thread(target=other_language)
    t.start()
    asked.wait(5)
    waiter = threading.Thread(target=lambda: (users.wait_released(), events.append("lips")))
    waiter.start()
    waiter.join(0.3)
    assert waiter.is_alive() and events == []  # held while the other language may still shorten lines
    go.set()
    t.join(5)
    waiter.join(5)
    assert events == ["shortened", "released", "lips"]


def test_a_waiter_goes_on_only_once_the_release_is_over(monkeypatch):
    import threading

    releasing, finish, events = threading.Event(), threading.Event(), []
    monkeypatch.setattr(llm, "release", lambda: (releasing.set(), finish.wait(5), events.append("released")))
    users = llm.Users(1)
    asking = users.asking()
    asking.__enter__()  # a user asks (not its last use)
    waiter = threading.Thread(target=lambda: (users.wait_released(), events.append("lips")))
    waiter.start()
    last = threading.Thread(target=users.done)  # the last user is done: the release starts
    last.start()
    releasing.wait(5)
    asking.__exit__(None, None, None)  # nobody asks any more, but the model is still being let go
    waiter.join(0.3)
    assert waiter.is_alive()
    finish.set()
    last.join(5)
    waiter.join(5)
    assert events == ["released", "lips"]


def test_a_user_that_asks_and_stops_without_being_done_does_not_hold_the_lips(monkeypatch):
    monkeypatch.setattr(llm, "release", lambda: pytest.fail("released with a user left"))
    users = llm.Users(2)
    with users.asking():  # a sequential run's translation of one language, more to come
        pass
    users.wait_released()  # returns: nobody asks now


@pytest.mark.skipif(not (llm.models.models_dir() / "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf").exists(),
                    reason="the embedded translation model is not assembled (make setup)")
def test_a_released_model_is_freed_and_loads_again():
    import weakref

    path = str(llm.require(llm.EMBEDDED))
    model = weakref.ref(llm.load(path))
    assert model() is not None
    llm.release()
    assert model() is None  # nothing else (the exit hook) keeps it alive
    assert llm.load(path) is not None
    llm.release()


LOADED_MEMORY = """
from dubbing import llm
def rss():
    return int(open("/proc/self/statm").read().split()[1]) * 4096
before = rss()
llm.load(str(llm.require(llm.EMBEDDED)))
print((rss() - before) / 1e9)
"""


@pytest.mark.skipif(not (llm.models.models_dir() / "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf").exists()
                    or not Path("/proc/self/statm").exists(), reason="needs the embedded model and /proc")
def test_the_loaded_model_is_held_once():
    """The 1.1 GB of weights are resident once: mapped from the file, the pages read to repack them
    stayed resident beside the repacked copy (+1.9 GB; read instead, +1.3 GB)."""
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-c", LOADED_MEMORY], capture_output=True, text=True, timeout=300,
                         cwd=Path(__file__).resolve().parents[1])
    assert out.returncode == 0, out.stderr[-2000:]
    assert float(out.stdout.split()[-1]) < 1.5, out.stdout


# --- translation in parts (a cluster's workers) -------------------------------------------------------


class PromptEchoLLM:
    """Replies with the source line and a checksum of the whole prompt: a reply changes if the context or
    history the line was asked with does."""

    def create_chat_completion(self, messages, **kw):
        import zlib

        ask = messages[-1]["content"].strip().splitlines()[-1]
        reply = f"{ask} [{zlib.crc32(json.dumps(messages).encode()) % 1000}]"
        if not kw.get("stream"):
            return {"choices": [{"message": {"content": reply}}]}
        return ({"choices": [{"delta": {"content": piece}}]} for piece in re.findall(r"\S+|\s+", reply))

    def tokenize(self, data: bytes, add_bos: bool = False):
        return data.split()


def test_parts_of_whole_pages_translate_as_the_whole_does(monkeypatch):
    """pipeline._translated with a run_parts map: parts of whole LLM pages (translate.page_parts), so a
    style whose prompts carry the page's context and the lines before gives every line what the whole gave."""
    import pickle

    from dubbing import pipeline

    fake = PromptEchoLLM()
    monkeypatch.setattr(translate.LLMBackend, "check", lambda *a: None)
    monkeypatch.setattr(translate.LLMBackend, "translator",
                        lambda self, c, g=None: llm.Translator(fake, llm.Style(context=True, history=1)))
    monkeypatch.setattr(llm, "problem", lambda *a, **k: None)
    words = "the quick brown fox jumps over the lazy dog and runs far away".split()
    many = [Line(id=f"L{i + 1:04d}", start=10.0 * i, end=10.0 * i + 8, speaker=f"S{i % 2}",
                 source=" ".join(words[(i + k) % len(words)] for k in range(25)) + ".") for i in range(80)]
    parts = translate.page_parts(many, 120.0)
    assert [l for p in parts for l in p] == many and len(parts) >= 3
    starts = {p.start for p in llm.pages([llm.Item(l.source, l.speaker) for l in many])}
    assert all(many.index(p[0]) in starts for p in parts)  # each part starts a page
    assert all(p[-1].end - p[0].start >= 120.0 for p in parts[:-1])
    cfg_ = config.load().model_copy(update={"translation": cfg(backend="llm")})
    sent = []

    def elsewhere(fn, items):
        sent.extend(items)
        return [fn(pickle.loads(pickle.dumps(x))) for x in items]

    whole = pipeline._translated(many, "en", ES, cfg_, None, None)
    apart = pipeline._translated(many, "en", ES, cfg_, None, elsewhere)
    assert len(sent) == len(parts) and apart == whole and whole.backend == "llm"
    # cut mid-page instead, the same lines come out otherwise: the test can tell
    half = len(many) // 2 + 1
    assert [pipeline._translated(p, "en", ES, cfg_, None, None).lines for p in (many[:half], many[half:])] != \
        [whole.lines[:half], whole.lines[half:]]
