"""Overlapped speech in one channel (dubbing/overlap.py): the detector hears two recorded voices at once
that it never heard in training, stays quiet over one voice, and the lines it touches are flagged and
listed first for review."""

import numpy as np
import pytest

from dubbing import config, media, overlap, review, vad
from dubbing.constants import SPEECH_RATE
from dubbing.schema import Line
from tests.conftest import MEDIA, needs_media


def test_stretches_are_thresholded_bridged_and_short_ones_dropped():
    prob = np.zeros(300)  # 3 s of 10 ms frames
    prob[10:40] = 0.9  # 0.30 s
    prob[50:80] = 0.8  # 0.10 s after it: one stretch with it
    prob[200:210] = 0.9  # 0.10 s alone: too short
    prob[250:290] = 0.4  # under the threshold
    assert np.allclose(overlap.spans(prob), [(0.10, 0.80)])
    assert np.allclose(overlap.spans(prob, bridge=0.05), [(0.10, 0.40), (0.50, 0.80)])


def test_lines_sharing_enough_time_with_an_overlap_are_flagged_once():
    lines = [Line(id="L0001", speaker="SPEAKER_00", start=0.0, end=2.0, source="a"),
             Line(id="L0002", speaker="SPEAKER_01", start=1.9, end=4.0, source="b", flags=["asr:no-speech"]),
             Line(id="L0003", speaker="SPEAKER_00", start=5.0, end=6.0, source="c"),
             Line(id="L0004", speaker="SPEAKER_01", start=6.0, end=7.0, source="d")]
    got = overlap.flag_lines(lines, [(1.5, 2.5), (5.95, 6.5)])
    assert [ln.flags for ln in got] == [["overlap:0.5"], ["asr:no-speech", "overlap:0.6"], [], ["overlap:0.5"]]
    assert overlap.flag_lines(got, [(1.5, 2.5)]) == got  # flagged once
    assert lines[0].flags == []  # copies


def test_an_overlapped_line_is_listed_first_with_what_it_means():
    row = review.Row(id="L0004", speaker="SPEAKER_01", start=3.0, end=5.0, source="yes", text="sí",
                     out_start=3.0, out_end=5.0, stretch=1.0, flags=["overlap:0.8"])
    assert review.first(row)
    assert review.concerns(row, config.load().fit) == [
        "two voices at once for 0.8 s: the dub speaks the one the recognizer heard; the other's words are not in it"]


@needs_media
def test_two_recorded_voices_in_one_channel_are_heard_and_one_voice_is_not():
    """fw_stereo_diarization: two people, one per channel, who speak at once from ~0.4 to ~2.5 s. Mixed to
    mono, the detector (trained on synthetic voices only) finds that stretch; over each voice alone it
    flags (almost) nothing."""
    stereo = media.load_audio(MEDIA / "audio/fw_stereo_diarization.wav", mono=False)
    stereo = stereo if stereo.shape[0] == 2 else stereo.T
    (a0, b0), = vad.speech_regions(stereo[1], SPEECH_RATE, min_silence=0.5, pad=0.0)  # the shorter voice
    found = overlap.detect(stereo.mean(0)).spans
    shared = sum(max(0.0, min(b, b0) - max(a, a0)) for a, b in found)
    outside = sum(b - a for a, b in found) - shared
    assert shared >= 0.8 * (b0 - a0) and outside < 0.3, (found, (a0, b0))
    for ch in stereo:
        assert sum(b - a for a, b in overlap.detect(ch).spans) < 0.3


def test_probabilities_cover_every_frame_and_silence_is_not_overlap():
    audio = np.zeros(int(5.3 * SPEECH_RATE), np.float32)
    prob = overlap.probabilities(audio)
    assert prob.shape == (len(audio) // overlap.HOP + 1,)
    assert prob.max() < overlap.THRESHOLD


def test_voices_are_learned_where_they_sound_alone():
    from dubbing.schema import Diarization, SpeakerTurn

    dia = Diarization(turns=[SpeakerTurn(start=0.0, end=3.0, speaker="A"), SpeakerTurn(start=3.0, end=6.0, speaker="B")],
                      speakers=["A", "B"])
    cut = overlap.alone(dia, [(2.5, 3.4), (5.0, 7.0)])
    assert [(t.speaker, t.start, t.end) for t in cut.turns] == [("A", 0.0, 2.5), ("B", 3.4, 5.0)]
    assert overlap.alone(dia, []) is dia


def test_new_overlap_flags_leave_a_translation_keyed_as_before():
    """The translation is keyed on the lines without these flags, so a translation.json the user edited
    is not replaced when a (newer) detector flags lines."""
    from dubbing.workspace import digest

    lines = [Line(id="L0001", speaker="SPEAKER_00", start=0.0, end=2.0, source="a", flags=["asr:no-speech"])]
    flagged = overlap.flag_lines(lines, [(1.0, 2.0)])
    assert flagged != lines and digest(overlap.unflagged(flagged)) == digest(overlap.unflagged(lines))


def test_missing_weights_are_named_with_what_to_do(tmp_path, monkeypatch):
    from dub import doctor
    from dubbing.errors import MissingModel

    with pytest.raises(MissingModel, match="diarization.overlap: false"):
        overlap.network(tmp_path / "none.npz")
    monkeypatch.setattr(overlap, "WEIGHTS", tmp_path / "none.npz")
    check = doctor._try("diarization", "overlap", doctor._overlap)
    assert not check.ok and "none.npz" in check.detail
