import pytest

import languages
from dubbing import config


def test_every_language_file_is_valid_and_complete():
    codes = languages.supported()
    assert {"es", "fr", "ja", "de", "it", "pt", "en"} <= set(codes)
    for c in codes:
        lang = languages.get(c)
        assert lang.code == c
        assert lang.tts.voices["female"] and lang.tts.voices["male"]
        assert lang.speech_rate.syllables_per_second > 3


def test_unknown_code_lists_the_supported_ones():
    with pytest.raises(languages.UnknownLanguage, match="supported: de, en, es"):
        languages.parse_list("es,xx")
    assert [l.code for l in languages.parse_list("es, FR,es")] == ["es", "fr"]


def test_user_config_merges_and_bad_keys_are_named(tmp_path):
    p = tmp_path / "c.yaml"
    p.write_text("fit:\n  stretch_max: 1.2\n")
    cfg = config.load(p)
    assert cfg.fit.stretch_max == 1.2 and cfg.fit.stretch_min == 0.8
    p.write_text("fit:\n  strech_max: 1.2\n")
    with pytest.raises(config.ConfigError, match="strech_max"):
        config.load(p)
    p.write_text("fit: [1,\n")
    with pytest.raises(config.ConfigError, match="not valid YAML"):
        config.load(p)
    assert config.load().digest("fit") != config.load(tmp_path / "c.yaml" if False else None).digest("mix")


def test_viseme_overrides_name_known_classes():
    from lipsync.visemes import CLASSES

    for c in languages.supported():
        for ipa, cls in languages.get(c).visemes.items():
            assert cls in CLASSES, f"{c}.yaml: {ipa} -> unknown viseme class {cls!r}"


def test_hesitations_are_words_the_aligner_can_tell():
    """The aligner matches a hesitation against the line's words split on whitespace, lower-cased; Japanese
    reaches it as unspaced katakana, where no word could match."""
    for code in languages.supported():
        lang = languages.get(code)
        if lang.g2p == "openjtalk":
            assert not lang.hesitations, code
        for h in lang.hesitations:
            assert h == h.lower() and len(h.split()) == 1, (code, h)
