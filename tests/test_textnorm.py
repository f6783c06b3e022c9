"""What the back-transcription check compares: normalized text, and for Japanese its reading."""

import jiwer

from dubbing.textnorm import normalize, reading


def test_japanese_spelled_another_way_reads_the_same():
    assert reading("はい", "ja") == reading("ハイ", "ja") == "ハイ"
    assert reading("三週間で", "ja") == reading("3週間で", "ja")
    assert reading("1ヶ月が来た。", "ja") == reading("一ヶ月が来た", "ja")
    # spelled alike, heard otherwise: still an error
    assert jiwer.cer(reading("一ヶ月が来た", "ja"), reading("カネスが来た", "ja")) > 0.3
    assert jiwer.cer(normalize("はい"), normalize("ハイ")) == 1.0  # what the spelling's CER says


def test_a_long_script_is_read_in_pieces():
    """Open JTalk refuses a 30-minute dub's script at once ("Input text is too long")."""
    line = "私の最大の弱点は必要なときに助けを求めることです"
    assert reading(" ".join([line] * 2000), "ja") == reading(line, "ja") * 2000
    assert reading(line * 30, "ja").startswith(reading(line, "ja"))  # no space: cut every READ_PIECE characters


def test_languages_written_as_read_have_no_separate_reading():
    assert reading("¿Qué tal?", "es") is None and reading("Ça va ?", "fr") is None
