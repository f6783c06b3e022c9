"""A recording with one voice per channel is heard channel by channel (dubbing/channels.py)."""

import json
import subprocess
import sys

import numpy as np
import pytest

from conftest import ROOT, needs_media
from dubbing import channels
from dubbing.lines import make_lines
from dubbing.schema import Diarization, Segment, SpeakerTurn, Transcript, Word

SR = 16000


def _voice(f0: float, seconds: float, seed: int) -> np.ndarray:
    """A buzzy vowel-like sound with a wandering pitch around `f0` Hz."""
    rng = np.random.default_rng(seed)
    wander = np.cumsum(rng.normal(0, 0.002, int(seconds * SR)))
    phase = 2 * np.pi * np.cumsum(f0 * (1 + 0.05 * np.sin(wander * 50))) / SR
    return (0.1 * sum(np.sin(k * phase) / k for k in range(1, 12))).astype(np.float32)


def test_independent_channels_are_told_from_a_mix_panned_or_heard_by_two_microphones():
    a, b = _voice(110, 20, 0), _voice(210, 20, 1)
    lag = int(channels.MAX_LAG * SR)
    assert channels.coherence(a, b, lag) < channels.MAX_COHERENCE  # one voice each
    assert channels.coherence(a, a, lag) == pytest.approx(1.0, abs=1e-4)  # dual mono
    assert channels.coherence(a, 0.5 * a + 0.01 * b, lag) > 0.9  # a panned mix
    delayed = np.concatenate([np.zeros(int(0.008 * SR), np.float32), a[:-int(0.008 * SR)]])
    assert channels.coherence(a, delayed, lag) > 0.9  # two microphones 2.7 m apart hear the same voice

    def reader(x):
        return lambda start, seconds: x[int(start * SR):int((start + seconds) * SR)]

    assert channels.channels_coherence(reader(np.stack([a, b], axis=1)), 20.0, SR) < channels.MAX_COHERENCE
    assert channels.channels_coherence(reader(np.stack([a, a + 0.3 * b], axis=1)), 20.0, SR) > channels.MAX_COHERENCE
    silent = np.stack([a, np.zeros_like(a)], axis=1)
    assert channels.channels_coherence(reader(silent), 20.0, SR) is None  # a silent channel: nothing to tell



@pytest.mark.parametrize("duration, n", [(3.0, 1), (6.1, 2), (23.0, 5), (600.0, channels.CHUNKS)])
def test_chunks_cover_a_short_file_without_piling_up_and_spread_over_a_long_one(duration, n):
    starts = channels.chunk_starts(duration)
    assert len(starts) == n
    assert starts[0] == 0.0
    if n < channels.CHUNKS:  # a short file is read whole: no gap between chunks
        assert all(b - a <= channels.CHUNK for a, b in zip(starts, starts[1:]))
    if duration > channels.CHUNK:
        assert starts[-1] == pytest.approx(duration - channels.CHUNK, abs=1e-3)


def test_the_channel_check_is_made_once_per_source(tmp_path, monkeypatch):
    """The CLI prepares the source before the flow and the flow's prepare task again: the second must
    read the first's decision, not measure the channels again."""
    from types import SimpleNamespace

    import soundfile as sf

    from dubbing import config, pipeline
    from dubbing.workspace import Job

    a = np.repeat(_voice(120, 8, 0), 3)  # 48 kHz, the same voice on both channels
    job = Job(tmp_path)
    job.path("source").mkdir()
    full = job.path("source/audio48k.wav")
    sf.write(full, np.stack([a, a], axis=1), 48000)
    calls = []
    measure = channels.channels_coherence
    monkeypatch.setattr(channels, "channels_coherence", lambda *a: calls.append(1) or measure(*a))
    for _ in range(2):
        assert pipeline._by_channel(job, full, SimpleNamespace(duration=8.0), config.load(None), None, "key",
                                    pipeline.quiet, {}) is None
    assert calls == [1]


@needs_media
def test_one_voice_in_both_channels_under_wide_music_is_not_split(media_dir):
    """A film's mix: dialogue in the centre, music different in each channel and loud between the lines.
    The cheap look over the whole mix can read it incoherent; the speech itself is heard in both."""
    from dubbing import media, vad

    speech = media.load_audio(media_dir / "audio/fw_jfk.flac", SR)
    rng = np.random.default_rng(0)
    n = len(speech) + 20 * SR  # the music runs on 20 s after the speech
    voice = np.concatenate([speech, np.zeros(n - len(speech), np.float32)])
    music = [0.05 * rng.standard_normal(n).astype(np.float32) for _ in range(2)]
    film = [voice + m for m in music]
    assert channels.coherence(music[0][:5 * SR], music[1][:5 * SR], int(channels.MAX_LAG * SR)) < channels.MAX_COHERENCE
    regions = [vad.speech_regions(x, SR) for x in film]
    assert channels.same_speech(film, regions, SR)
    two_people = [voice, np.concatenate([np.zeros(3 * SR, np.float32), voice[:-3 * SR]])]  # one voice, another take
    assert not channels.same_speech(two_people, [vad.speech_regions(x, SR) for x in two_people], SR)


def _part(speaker: str, words: list[tuple[float, float, str]]) -> tuple[Transcript, Diarization]:
    ws = [Word(start=a, end=b, text=t, speaker=speaker) for a, b, t in words]
    tr = Transcript(language="en", duration=5.0, segments=[Segment(id=0, start=ws[0].start, end=ws[-1].end,
                                                                   text=" ".join(t for *_, t in words), words=ws,
                                                                   speaker=speaker)])
    dia = Diarization(turns=[SpeakerTurn(start=ws[0].start, end=ws[-1].end, speaker=speaker)], speakers=[speaker],
                      embeddings={speaker: [1.0, 0.0]})
    return tr, dia


def test_channels_merge_into_one_transcript_whose_overlapping_speakers_keep_whole_lines():
    left = _part("SPEAKER_00", [(0.2, 0.6, "He"), (0.7, 1.1, "began"), (1.2, 1.6, "a"), (1.7, 2.3, "complaint"),
                                (2.4, 2.9, "against"), (3.0, 3.6, "the"), (3.7, 4.5, "wizard.")])
    right = _part("SPEAKER_00", [(0.4, 0.9, "The"), (1.0, 1.6, "horizon"), (1.65, 2.1, "seems"), (2.2, 2.6, "distant.")])
    tr, dia = channels.merge([left, right])
    assert dia.speakers == ["SPEAKER_00", "SPEAKER_01"] and set(dia.embeddings) == {"SPEAKER_00", "SPEAKER_01"}
    assert [s.speaker for s in tr.segments] == ["SPEAKER_00", "SPEAKER_01"] and [s.id for s in tr.segments] == [0, 1]
    assert {w.speaker for w in tr.segments[1].words} == {"SPEAKER_01"}
    lines = make_lines(tr, turns=dia.turns, per_speaker=True)
    assert [(ln.speaker, ln.source) for ln in lines] == [
        ("SPEAKER_00", "He began a complaint against the wizard."), ("SPEAKER_01", "The horizon seems distant.")]
    assert lines[1].start < lines[0].end  # they overlap, as they were said


@pytest.mark.slow
@needs_media
def test_two_people_talking_over_each_other_on_two_channels_are_both_dubbed(tmp_path, media_dir):
    r = subprocess.run([sys.executable, "-m", "dub", "translate", str(media_dir / "audio/fw_stereo_diarization.wav"),
                        "--to", "es", "--out", str(tmp_path)], capture_output=True, text=True, cwd=ROOT, timeout=1800)
    assert r.returncode == 0, r.stderr[-2000:]
    job = tmp_path / "fw_stereo_diarization"
    lines = json.loads((job / "source/lines.json").read_text())["lines"]
    said = {ln["speaker"]: ln["source"].lower() for ln in lines}
    assert len(said) == 2  # mixed to mono, the right channel's sentence was lost under the left's
    assert any("horizon" in s for s in said.values()) and any("wizard" in s for s in said.values())
    assert "one voice per channel" in json.loads((job / "source/diarization.json").read_text())["method"]
    timing = json.loads((job / "es/timing.json").read_text())["lines"]
    assert len(timing) == 2 and all(abs(t["start"] - t["slot_start"]) <= 0.3 for t in timing)
    # two voices at once cannot be transcribed back: each speaker's dubbed voice is, alone
    quality = json.loads((job / "es/quality.json").read_text())
    assert set(quality["cer_by_speaker"]) == set(said) and quality["cer"] <= 0.25, quality


def test_only_source_slots_that_overlap_count_as_talking_at_once():
    from dubbing.pipeline import talk_over
    from dubbing.schema import FittedLine

    def line(speaker, start, end, slot_start, slot_end):
        return FittedLine(line_id=f"{speaker}{start}", speaker=speaker, slot_start=slot_start, slot_end=slot_end,
                          start=start, end=end, speed=1.0, stretch=1.0)

    assert talk_over([line("A", 0, 2, 0, 2), line("B", 1.5, 3, 1.5, 3)])
    assert not talk_over([line("A", 0, 2.5, 0, 2), line("B", 2.2, 3, 2.1, 3)])  # a dub that overflows its slot
    assert not talk_over([line("A", 0, 2, 0, 2), line("A", 1.5, 3, 1.5, 3)])  # one speaker
