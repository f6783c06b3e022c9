"""Forced alignment: DTW against an espeak-ng rendition recovers known phone times."""

import numpy as np
import pytest

import languages
from dubbing.align import (STEPS, align, anchor_words, fit_pauses, gapped_dtw, matched_rate, open_gap, warp_times,
                           widen_edges)
from tests.conftest import needs_media


def test_warp_times_follows_the_path():
    path = np.array([[0, 0], [1, 2], [2, 4], [3, 6]])[::-1]  # librosa returns the path reversed
    assert np.allclose(warp_times(np.array([0, 1.5, 3]), path), [0, 3, 6])


def test_gapped_dtw_without_gaps_is_librosas_path():
    from librosa.sequence import dtw

    cost = np.random.default_rng(0).random((40, 55))
    _, want = dtw(C=cost, step_sizes_sigma=STEPS, weights_mul=STEPS[:, 1].astype(float))
    path, gaps = gapped_dtw(cost, np.zeros(0, int), 1.0)
    assert gaps == []
    assert np.array_equal(path, want[::-1])


def test_gapped_dtw_passes_over_a_sound_the_text_does_not_hold():
    """Reference: word A (20 frames) then word B (20); audio: A, 30 frames of something else (a laugh),
    then B. The plain DTW must smear the laugh into the words (its slope is at most 2); the gapped one
    passes over it at the end of A."""
    a, b, laugh = np.array([1.0, 0, 0]), np.array([0, 1.0, 0]), np.array([0, 0, 1.0])
    ref = np.array([a] * 20 + [b] * 20)
    audio = np.array([a] * 20 + [laugh] * 30 + [b] * 20)
    cost = np.linalg.norm(ref[:, None] - audio[None], axis=2)
    path, gaps = gapped_dtw(cost, np.array([19]), 0.5)
    [(row, first, stop)] = gaps
    assert (row, first) == (19, 20) and stop in (49, 50)  # a (1, 2) step into B may cover the laugh's last frame
    assert not np.any((path[:, 1] >= 20) & (path[:, 1] < 49))  # no frame of the laugh matched to a word
    path, gaps = gapped_dtw(cost, np.zeros(0, int), 0.5)
    assert gaps == [] and np.any((path[:, 1] >= 20) & (path[:, 1] < 49))


def test_open_gap_ends_a_word_where_the_gap_starts_and_starts_the_next_after_it():
    times = np.array([[0.0, 0.2], [0.2, 0.5], [0.5, 0.7], [0.7, 1.0]])
    out = open_gap(times, [0, 0, 1, 1], 0, 0.4, 0.6)
    assert np.allclose(out, [[0.0, 0.16], [0.16, 0.4], [0.6, 0.76], [0.76, 1.0]])
    assert np.array_equal(open_gap(times, [0, 0, 1, 1], 0, 1.1, 1.2), times)  # outside the two words: kept


def test_a_hesitation_lasts_as_long_as_it_is_said():
    """"euh" held 0.6 s longer than espeak-ng says it: the word lasts until "non" starts, rather than ending
    early with a gap after it (as a word that is not a hesitation would)."""
    from dubbing import espeak

    text = "oui euh non merci"
    y, sr, phones, words = espeak.synthesize_words(text, "fr-fr+m3", rate_wpm=150)
    euh = [p for p, w in zip(phones, words) if w == 1]
    mid = (euh[0].start + euh[-1].end) / 2
    hold = np.tile(y[int((mid - 0.02) * sr):int((mid + 0.02) * sr)], 15)  # its vowel's middle 40 ms, 15 times
    pad = 0.3
    got = align(np.r_[np.zeros(int(pad * sr), np.float32), y[:int(mid * sr)], hold, y[int(mid * sr):]], sr, text,
                languages.get("fr"))
    non_starts = pad + euh[-1].end + len(hold) / sr
    said = {w: [p for p, k in zip(got, words) if k == w] for w in set(words)}
    assert abs(said[1][-1].end - non_starts) < 0.05, said[1][-1].end
    assert abs(said[2][0].start - non_starts) < 0.05, said[2][0].start


def test_align_recovers_phone_times_of_a_different_voice_and_rate():
    from dubbing import espeak

    text = "Mi mayor debilidad es pedir ayuda, pero estoy aprendiendo."
    lang = languages.get("es")
    y, sr, truth = espeak.synthesize(text, "es+f3", rate_wpm=140)
    pad = 0.3
    y = np.r_[np.zeros(int(pad * sr), np.float32), y]
    got = align(y, sr, text, lang)
    assert [p.symbol for p in got] == [p.symbol for p in truth]
    err = np.abs(np.array([p.start for p in got]) - np.array([p.start + pad for p in truth]))
    assert np.median(err) < 0.03
    assert all(b.start >= a.start for a, b in zip(got, got[1:]))


def test_align_empty_text_is_a_clear_error():
    from dubbing.errors import DubError

    with pytest.raises(DubError):
        align(np.zeros(16000, np.float32), 16000, "  ", languages.get("es"))


# ---- against published word alignments (tests/align_material.py; held-out clips only) ----------

from tests import align_material as M  # noqa: E402


def _held_out_errors(language: str) -> np.ndarray:
    from dubbing import espeak

    errs = []
    for c in M.clips():
        if c.language != language or c.split != "held-out":
            continue
        truth, text, owner = M.words_and_text(M.read_truth(c.truth))
        lang = languages.get(language)
        phone_word = espeak.synthesize_words(text, lang.espeak)[3]
        phones = align(M.load_audio(c), M.RATE, text, lang)
        got = M.word_times([(p.start, p.end) for p in phones], phone_word, owner, len(truth))
        errs.append(M.boundary_errors(truth, got))
    if not errs:
        pytest.skip(f"no held-out {language} clip present")
    return np.concatenate(errs)


def test_grid_word_boundaries_hold_against_the_corpus_alignment():
    """GRID (English, two speakers): the first aligner put words 0.2-1.2 s off (median 182 ms, 34 % of
    boundaries within 100 ms); the DTW alone: median 39 ms, 94 %; anchored to pocketsphinx's words:
    20 ms, 99 % (one boundary of 96 at 160 ms). The issue's goal: median <= 30 ms."""
    e = _held_out_errors("en")
    assert np.median(e) <= 0.030, np.median(e)
    assert np.mean(e <= 0.100) >= 0.97, np.mean(e <= 0.100)


def test_french_word_boundaries_hold_against_sppas_alignment():
    """Spontaneous French: main's median was 40 ms; ours ~25 ms. Words were dragged up to 0.9 s late past a
    laugh or a long filler the text does not hold (83 % of boundaries within 100 ms); gaps between words
    (align.gapped_dtw): 90 %; and loud speech the VAD missed at a clip's start kept: 92 %, max 0.63 s (the
    goal, none over 100 ms, is not met)."""
    e = _held_out_errors("fr")
    assert np.median(e) <= 0.032, np.median(e)
    assert np.mean(e <= 0.100) >= 0.90, np.mean(e <= 0.100)


def test_loud_speech_the_vad_misses_at_a_clips_start_is_speech():
    """SPPAS's YM clip starts mid-speech ("et euh donc", 0-0.6 s, 23-35 dB above its noise floor): Silero
    hears none of it, and the first words were put 0.45 s late."""
    from dubbing.align import speech_regions

    clip = next((c for c in M.clips() if c.name == "fr/YM_track_0182"), None)
    if clip is None:
        pytest.skip("the SPPAS YM clip is not present")
    truth = M.words_and_text(M.read_truth(clip.truth))[0]
    assert truth[0][0] == 0.0
    assert speech_regions(M.load_audio(clip))[0][0] <= 0.05


@needs_media
def test_leading_silence_is_not_eaten_by_the_first_phone():
    """grid_bbaf2n: 0.95 s of silence before "bin" (the corpus's alignment); the first phone starts
    there, and "now" ends where the corpus says (2.12 s), not at the end of the clip."""
    from dubbing import media

    y = media.load_audio(M.MEDIA / "video" / "grid_bbaf2n.mpg", M.RATE)
    phones = align(y, M.RATE, "bin blue at f two now", languages.get("en"))
    assert abs(phones[0].start - 0.95) <= 0.08, phones[0]
    assert abs(phones[-1].end - 2.12) <= 0.08, phones[-1]


def test_widen_edges_grows_over_loud_frames_only_within_reach():
    db = np.array([-40, -40, -10, -10, -10, 0, 0, 0, -10, -40, -40], float)
    assert widen_edges(db, 5, 8, floor=-40, above=10, reach=5) == (2, 9)
    assert widen_edges(db, 5, 8, floor=-40, above=10, reach=1) == (4, 9)
    assert widen_edges(db, 5, 8, floor=-40, above=40, reach=5) == (5, 8)


def test_matched_rate_makes_the_reference_as_long_as_the_audio():
    assert matched_rate(2.0, 1.0, wpm=175) == 350
    assert matched_rate(1.0, 2.0, wpm=175) == 88
    assert matched_rate(1.0, 10.0, wpm=175) == 80  # bounded below
    assert matched_rate(1.0, 0.0, wpm=175) == 175


def test_fit_pauses_puts_a_pause_between_the_nearest_words():
    # two words of two phones each; the boundary at 1.0 s, the audio pauses 1.1-1.3 s
    times = np.array([[0.5, 0.8], [0.8, 1.0], [1.0, 1.2], [1.2, 1.5]])
    out = fit_pauses(times, [0, 0, 1, 1], [(1.1, 1.3)], reach=0.3)
    assert np.allclose(out[:2], [[0.5, 0.86], [0.86, 1.1]])
    assert np.allclose(out[2:], [[1.3, 1.38], [1.38, 1.5]])  # each phone keeps its share of the word
    far = fit_pauses(times, [0, 0, 1, 1], [(1.1, 1.3)], reach=0.1)  # too far from a word boundary
    assert np.allclose(far, times)


def test_word_boundary_error_counts_starts_ends_and_missing_words():
    truth, text, owner = M.words_and_text([(0.0, 0.5, "sil"), (0.5, 0.7, "s'"), (0.7, 0.9, "est"),
                                           (0.9, 1.2, "et_puis"), (1.2, 1.4, "#"), (1.4, 1.6, "oui")])
    assert text == "s'est et puis oui" and owner == [0, 1, 1, 2]
    assert [w for *_, w in truth] == ["s'est", "et_puis", "oui"]
    # phones: two for s'est, one each for et / puis, none for oui (scored at the last end)
    got = M.word_times([(0.52, 0.6), (0.6, 0.9), (0.9, 1.0), (1.0, 1.25)], [0, 0, 1, 2], owner, 3)
    assert got == [(0.52, 0.9), (0.9, 1.25), (1.25, 1.25)]
    e = M.boundary_errors(truth, got)
    assert np.allclose(e, [0.02, 0.0, 0.0, 0.05, 0.15, 0.35])
    s = M.summary(e)
    assert s["within30"] == pytest.approx(0.5) and s["max_ms"] == pytest.approx(350)


def test_grid_align_files_are_read_in_25000ths_of_a_second():
    rows = M.read_truth(M.HERE / "grid" / "bbaf2n.align")
    assert rows[1] == (0.95, 1.18, "bin") and rows[-1][2] == "sil"


def test_anchor_words_moves_each_words_phones_into_its_span_and_keeps_the_onset():
    times = np.array([[0.0, 0.1], [0.1, 0.3], [0.3, 0.4], [0.5, 0.9]])  # words 0, 0, 1, 2
    word = [0, 0, 1, 2]
    got = anchor_words(times, word, [(0.2, 0.6), None, (1.0, 1.2)], onset=0.25, guard=0.1)
    assert np.allclose(got[:2], [[0.2, 0.2 + 0.4 / 3], [0.2 + 0.4 / 3, 0.6]])  # shares within the word kept
    assert np.allclose(got[2], [0.3, 0.4])  # no span: left where it was
    assert np.allclose(got[3], [1.0, 1.2])
    early = anchor_words(times, word, [(0.0, 0.6), None, (1.0, 1.2)], onset=0.25, guard=0.1)
    assert np.isclose(early[0, 0], 0.25) and np.isclose(early[1, 1], 0.6)  # leading silence not taken


@needs_media
def test_word_spans_add_words_the_dictionary_lacks_from_espeaks_phones():
    """grid_bbaf2n written with a digit ("2", not in pocketsphinx's dictionary): the word is added with
    espeak-ng's phones for it and the words land where they do when spelt out; with no table for its
    phones the alignment is refused (None), and align() keeps the DTW's times."""
    from dubbing import espeak, media, sphinx

    y = media.load_audio(M.MEDIA / "video" / "grid_bbaf2n.mpg", M.RATE)
    lang = languages.get("en")
    spelt = sphinx.word_spans(y, "bin blue at f two now".split(), {}, lang.word_aligner.phones)
    text = "Bin blue at F 2 now."
    _, _, phones, words = espeak.synthesize_words(text, lang.espeak)
    said = {}
    for p, w in zip(phones, words):
        said.setdefault(w, []).append(p.symbol)
    digit = sphinx.word_spans(y, text.split(), said, lang.word_aligner.phones)
    assert spelt is not None and digit is not None
    assert np.max(np.abs(np.array(spelt) - np.array(digit))) <= 0.05, (spelt, digit)
    assert sphinx.word_spans(y, ["bin", "blue", "at", "f", "zqxv", "now"], said, {}) is None
    assert abs(spelt[-1][1] - 2.12) <= 0.05  # "now" ends where the corpus says


def test_a_transcript_is_aligned_segment_by_segment_in_the_language_each_was_heard_in(monkeypatch):
    from dubbing import resync
    from dubbing.schema import Phone, Segment, Transcript

    seen = []

    def aligned(audio, tr, lang):
        for seg in tr.segments:
            seen.append((seg.id, lang.code))
            yield seg, [Phone(symbol="a", start=seg.start, end=seg.end)]

    monkeypatch.setattr(resync, "segment_phones", aligned)
    segs = [Segment(id=0, start=2.0, end=3.0, text="hola"), Segment(id=1, start=0.0, end=1.0, text="olá", language="pt"),
            Segment(id=2, start=4.0, end=5.0, text="?", language="xx"), Segment(id=3, start=6.0, end=7.0, text="adiós")]
    through = []
    phones = resync.transcript_phones(np.zeros(16000 * 8, np.float32), Transcript(language="es", duration=8.0, segments=segs),
                                      through.append)
    assert sorted(seen) == [(0, "es"), (1, "pt"), (3, "es")]  # no language file for "xx": left out
    assert through == [1, 2, 3, 4]  # progress per segment, the one left out included
    assert [p.start for p in phones] == [0.0, 2.0, 6.0]
