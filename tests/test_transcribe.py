"""Long audio is transcribed in pieces cut at pauses: the words and times of the whole (within
Whisper's own variation from where its 30 s windows fall)."""

import numpy as np
import pytest

from conftest import needs_media, MEDIA
from dubbing import transcribe as T
from dubbing.constants import SPEECH_RATE


ENGLISH = ("audio/fw_jfk.flac", "audio/fleurs_en-000.ogg", "video/vr_face1.mp4", "audio/fw_stereo_diarization.wav",
           "video/vr_face2.mp4")


def _program() -> tuple[np.ndarray, list[tuple[float, float]]]:
    """The shared English clips one after another with 1-3 s pauses between (different words throughout),
    and where each is (s)."""
    from dubbing.media import load_audio

    rng = np.random.default_rng(0)
    parts, spans, n = [], [], 0
    for name in ENGLISH:
        clip = load_audio(MEDIA / name, SPEECH_RATE)
        pause = np.zeros(int(rng.uniform(1, 3) * SPEECH_RATE), np.float32)
        parts += [clip, pause]
        spans.append((n / SPEECH_RATE, (n + len(clip)) / SPEECH_RATE))
        n += len(clip) + len(pause)
    return np.concatenate(parts), spans


def test_the_check_decodes_lines_in_short_runs_padded_into_their_gaps():
    lines = [(0.1, 1.0), (1.3, 2.5), (2.6, 4.8), (6.0, 12.0), (12.1, 13.0), (12.5, 19.5), (30.0, 31.0)]
    runs = T.speech_runs(lines, 31.1, longest=5.0, pad=0.2)
    # joined while a run lasts 5 s at most; a line overlapping a run joins it whatever its length
    assert runs == [(0.0, pytest.approx(5.0)), (pytest.approx(5.8), pytest.approx(12.05)),
                    (pytest.approx(12.05), pytest.approx(19.7)), (pytest.approx(29.8), 31.1)]
    assert T.speech_runs(list(reversed(lines)), 31.1, 5.0, 0.2) == runs  # in any order
    assert T.speech_runs([], 10.0) == []
    pieces = T._run_pieces(runs, 15.0)
    assert [(a / SPEECH_RATE, b / SPEECH_RATE) for a, b, _ in pieces] == [(0.0, 12.05), (12.05, 19.7), (29.8, 31.1)]
    assert pieces[0][2] == runs[:2] and pieces[2][2] == [(0.0, pytest.approx(1.3))]  # from the piece's start


def test_cuts_fall_in_pauses_near_every_piece():
    audio = np.tile(np.r_[np.ones(9 * SPEECH_RATE, np.float32), np.zeros(SPEECH_RATE, np.float32)], 40)  # 400 s
    cuts = T._cuts(audio, 60.0)
    assert cuts[0] == 0 and cuts[-1] == len(audio) and len(cuts) == 8
    for c in cuts[1:-1]:
        assert audio[c] == 0.0  # in a pause
    assert np.all(np.diff(cuts) <= 1.5 * 60 * SPEECH_RATE)
    assert T._cuts(audio[: 80 * SPEECH_RATE], 60.0) == [0, 80 * SPEECH_RATE]  # short: whole


@pytest.mark.slow
@needs_media
def test_pieces_give_the_words_and_times_of_the_whole():
    import difflib
    import re

    from dubbing.config import load

    cfg = load().asr
    audio, spoken = _program()
    cuts = T._cuts(audio, 12.0)
    assert len(cuts) > 3 and not any(x * SPEECH_RATE < c < y * SPEECH_RATE for c in cuts for x, y in spoken)
    # the deterministic decoding (the dub's check): the sampled fallback of the source decoding varies run to run
    whole = T.transcribe(audio, cfg, "en", piece=1000.0, check=True)
    pieces = T.transcribe(audio, cfg, "en", piece=12.0, check=True)
    alone = " ".join(T.transcribe(audio[int(x * SPEECH_RATE):int(y * SPEECH_RATE)], cfg, "en", check=True).text
                     for x, y in spoken)  # the reference: each clip transcribed by itself

    def words(text: str) -> list[str]:
        return re.findall(r"[a-z']+", text.lower())

    def agree(text: str) -> float:
        m = difflib.SequenceMatcher(None, words(alone), words(text), autojunk=False)
        return sum(b.size for b in m.get_matching_blocks()) / len(words(alone))

    assert agree(pieces.text) >= max(0.9, agree(whole.text) - 0.02), (agree(pieces.text), agree(whole.text))
    # the pieces sent elsewhere (pickled, as to a cluster's workers, in reverse order) give the same transcript
    import pickle

    sent = []

    def elsewhere(fn, items):
        sent.extend(items)
        return [fn(pickle.loads(pickle.dumps(x))) for x in items[::-1]][::-1]

    assert T.transcribe(audio, cfg, "en", piece=12.0, check=True, run_parts=elsewhere) == pieces
    assert len(sent) == len(cuts) - 1
    # the language not given: the first piece, here, says it; the others go elsewhere in that language
    sent.clear()
    found = T.transcribe(audio, cfg, None, piece=12.0, check=True)
    assert T.transcribe(audio, cfg, None, piece=12.0, check=True, run_parts=elsewhere) == found
    assert len(sent) == len(cuts) - 2 and all(p.language == "en" for p in sent)
    starts = [s.start for s in pieces.segments]
    assert starts == sorted(starts) and pieces.duration == whole.duration and pieces.language == "en"
    # every segment starts within a clip: the pieces' times are offset right
    assert all(any(x - 0.5 <= st <= y for x, y in spoken) for st in starts), starts
    # decoded only where the speech is said to be (as the dub's check does), in pieces: the words of each
    # clip alone (within Whisper's variation: the clip's edges are not VAD's), at their times, none skipped
    runs = T.transcribe(audio, cfg, "en", piece=25.0, check=True, spans=spoken)
    assert agree(runs.text) >= 0.85, agree(runs.text)
    assert all(any(x - 0.5 <= s.start and s.end <= y + 0.5 for x, y in spoken) for s in runs.segments)
    assert all(any(x - 0.25 <= s.start <= y for s in runs.segments) for x, y in spoken)


@needs_media
def test_the_language_is_heard_in_the_spans_given_alone():
    """A dub's check hears the language where its lines are (transcribe.detect_language): French speech
    between two stretches of English is French over its own span, and English over the audio's start."""
    from dubbing.config import load
    from dubbing.media import load_audio

    en, fr = (load_audio(MEDIA / f"audio/{n}", SPEECH_RATE) for n in ("fw_jfk.flac", "fleurs_fr-000.ogg"))
    audio = np.concatenate([en, fr, en])
    span = (len(en) / SPEECH_RATE, (len(en) + len(fr)) / SPEECH_RATE)
    cfg = load().asr
    heard, p = T.detect_language(audio, cfg, [span])
    assert heard == "fr" and p > 0.5, (heard, p)
    assert T.detect_language(audio, cfg)[0] == "en"


def test_speech_with_no_word_near_it_is_what_a_decode_skipped():
    from dubbing.schema import Segment, Word

    seg = Segment(id=0, start=0.0, end=3.0, text="a b", words=[Word(start=0.0, end=1.0, text="a"),
                                                             Word(start=5.0, end=6.0, text="b")])
    regions = [(0.0, 2.0), (3.0, 9.0), (10.0, 10.8), (12.0, 14.0)]
    assert T.missed(regions, [seg], least=1.0, margin=0.3) == [(3.0, 4.7), (6.3, 9.0), (12.0, 14.0)]
    assert T.missed(regions, [], least=1.0) == [(0.0, 2.0), (3.0, 9.0), (12.0, 14.0)]  # 0.8 s: too short


@pytest.mark.slow
@needs_media
def test_speech_after_music_that_a_window_skipped_is_decoded_again():
    """ls_demo2's last 10 s, 4 s of silence, 6 s of a music bed, then vr_face1 and vr_face2: Whisper's
    window over the music and the English after it ended at the music (bench/long.py's 30-minute program
    lost 67 s of speech so). The English is heard."""
    from tests import langid_material as M

    from dubbing import config

    x = np.concatenate([M.cut(M.load("ls_demo2"), 9.9, 20.0), np.zeros(4 * M.RATE, np.float32),
                        0.3 * M.music_bed(6.0, 0), M.load("vr_face1"), M.load("vr_face2")])
    t = T.transcribe(x, config.load().asr, "en")
    said = " ".join(s.text for s in t.segments).lower()
    assert "weaknesses" in said and "california" in said, said
    assert [s.start for s in t.segments] == sorted(s.start for s in t.segments)
    assert not T.missed([(20.0, len(x) / M.RATE)], t.segments, 2.0)
