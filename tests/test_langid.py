"""Language identification: windows, the vote, the decode check, the stop; and on real held-out clips."""

import numpy as np
import pytest

from conftest import needs_media
from dubbing import config, langid
from dubbing.errors import DubError

CFG = config.load().language_id
RATE = langid.SAMPLE_RATE


def test_windows_pack_regions_and_spread_over_the_file():
    regions = [(0.0, 2.0), (2.5, 5.0), (6.0, 30.0), (40.0, 40.5), (50.0, 53.0)]
    w = langid.speech_windows(regions, length=8.0, count=10, min_length=1.0)
    assert w[0] == (0.0, 5.0)  # two close regions in one window
    assert all(e - s <= 8.0 + 1e-9 for s, e in w)
    assert (40.0, 40.5) not in w  # too short to judge
    assert w[-1] == (50.0, 53.0)
    few = langid.speech_windows(regions, length=8.0, count=3, min_length=1.0)
    assert len(few) == 3 and few[0] == w[0] and few[-1] == w[-1]  # spread: first and last kept
    # only short speech: the longest bit is still judged
    assert langid.speech_windows([(1.0, 1.4), (5.0, 5.8)], 8.0, 5, 1.0) == [(4.9, 5.9)]  # widened
    assert langid.speech_windows([(0.1, 0.5)], 8.0, 5, 1.0, duration=0.8) == [(0.0, 0.8)]


def _votes(*tops):
    return [langid.WindowVote(start=i * 10.0, end=i * 10.0 + d, top=t) for i, (d, t) in enumerate(tops)]


def test_vote_pools_by_seconds_and_doubts_the_improbable():
    votes = _votes((8.0, {"en": 0.9, "cy": 0.1}), (2.0, {"cy": 0.8, "en": 0.2}))
    pooled = langid.pool(votes)
    assert list(pooled) == ["en", "cy"] and pooled["en"] == pytest.approx(0.76)
    assert langid.agreement(votes, "en") == pytest.approx(0.8)
    sure = _votes((8.0, {"en": 0.97}), (8.0, {"en": 0.95}))
    assert langid.doubt(langid.pool(sure), sure, CFG) == ""
    welsh = _votes((8.0, {"cy": 0.97, "en": 0.02}), (8.0, {"cy": 0.96, "en": 0.03}))
    assert "improbable" in langid.doubt(langid.pool(welsh), welsh, CFG)
    # the likely language among the detector's runners-up is decoded too
    assert langid.candidates_to_check(langid.pool(welsh), CFG) == ["cy", "en"]
    split = _votes((8.0, {"es": 0.99}), (8.0, {"ru": 0.9, "es": 0.05}))
    assert langid.doubt(langid.pool(split), split, CFG)


def test_transcript_checks_read_words_and_scripts():
    assert langid.script_share("こんにちは世界", "ja") == 1.0
    assert langid.script_share("hello world", "ja") == 0.0
    assert langid.script_share("hello world", "en") == 1.0
    if langid.word_list("en") is None:
        pytest.skip("no English word list (Debian wamerican) on this machine")
    assert langid.word_share("ask not what your country can do for you", "en") == 1.0
    assert langid.word_share("pergunte o que você pode fazer pelo seu país", "en") < 0.5
    assert langid.word_share("anything", "cy") is None  # no list: no judgement


class Fake:
    """A detector and a decoder that answer as a confused Whisper did on the issue's TV interview:
    Welsh at 0.97, and Welsh-like nonsense when made to decode Welsh."""

    def __init__(self, top, readings):
        self.top, self.readings, self.decoded = top, readings, []

    def detect(self, audio):
        return dict(self.top)

    def decode(self, audio, language):
        self.decoded.append(language)
        return self.readings[language]


def test_an_improbable_confident_answer_is_decoded_and_overruled():
    audio = np.zeros(20 * RATE, np.float32)
    fake = Fake({"cy": 0.97, "en": 0.02}, {
        "cy": ("Mae'n rhaid i ni fynd i'r ysgol yn y bore bach", -1.1, 1.3),
        "en": ("And so my fellow Americans ask not what your country can do for you", -0.35, 1.2)})
    d = langid.identify(audio, [(1.0, 9.0), (10.0, 18.0)], fake.detect, fake.decode, CFG)
    assert d.language == "en" and d.method == "decode"
    assert sorted(fake.decoded) == ["cy", "en"]
    assert [c.language for c in d.candidates] == ["en", "cy"]


def test_a_sure_vote_decodes_nothing():
    fake = Fake({"es": 0.99, "pt": 0.005}, {})
    d = langid.identify(np.zeros(10 * RATE, np.float32), [(0.5, 9.0)], fake.detect, fake.decode, CFG)
    assert (d.language, d.method, fake.decoded) == ("es", "vote", [])


def test_below_the_floor_it_stops_asking_for_from():
    fake = Fake({"en": 0.4, "de": 0.35, "nl": 0.2}, {
        "en": ("uh mm hm", -1.9, 1.0), "de": ("äh hm", -2.0, 1.0), "nl": ("hm", -2.2, 1.0)})
    with pytest.raises(DubError, match="--from") as e:
        langid.identify(np.zeros(3 * RATE, np.float32), [(0.2, 2.5)], fake.detect, fake.decode, CFG)
    assert "\n" not in str(e.value)


def test_a_loop_loses_to_a_plain_reading():
    fake = Fake({"es": 0.5, "pt": 0.45}, {
        "es": ("no no no no no no no no no no no no no no no no no no", -0.2, 4.5),
        "pt": ("eu vou fazer uma receita muito gostosa para vocês hoje", -0.45, 1.3)})
    d = langid.identify(np.zeros(10 * RATE, np.float32), [(0.5, 9.0)], fake.detect, fake.decode, CFG)
    assert d.language == "pt"


@pytest.mark.slow
@needs_media
@pytest.mark.parametrize("clip,variant", [("fleurs_fr", "clean"), ("ls_demo2", "opening"), ("fw_jfk", "opening"),
                                          ("vr_face1", "short1")])
def test_held_out_clips_are_right_or_stop(clip, variant):
    """Held-out (tests/langid_material.py HELD_OUT): a wrong language fails; a stop asking for --from passes
    only for the hard variants."""
    from bench.langid import variant as make
    from dubbing import transcribe, vad
    from tests import langid_material as M

    assert clip in M.HELD_OUT
    cfg = config.load()
    model = transcribe.load(cfg.asr.model, cfg.asr.compute_type)
    x = make(M.load(clip), variant, M.seed(clip))
    try:
        got = langid.identify(x, vad.speech_regions(x), langid.whisper_detector(model), langid.whisper_decoder(model),
                              cfg.language_id).language
    except DubError:
        assert variant != "clean", f"{clip} clean: stopped"
        return
    assert got == M.CLIPS[clip][1]
