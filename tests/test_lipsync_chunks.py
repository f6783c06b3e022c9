"""Chunked rendering: stable chunk grid and keys, lossless joins, and an edit re-rendering only its chunks."""

from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from lipsync import chunks as CH

MEDIA = Path(__file__).resolve().parents[2] / "shared" / "media"
FACE1 = MEDIA / "video" / "vr_face1.mp4"


def test_chunk_grid_is_fixed_in_time_and_keys_change_only_where_frames_do():
    times = np.arange(0, 5.0, 1 / 30) + 0.017  # 150 frames, first not at 0
    pts = np.arange(150) * 512
    assert CH.bounds(times) == [(0, 60), (60, 120), (120, 150)]
    keys, values = [b""] * 150, [np.zeros(0)] * 150
    a = CH.plan(times, pts, keys, values, "v")
    keys[70], values[70] = b"face 0", np.array([100.0, 200.0])
    b = CH.plan(times, pts, keys, values, "v")
    assert [x.key == y.key for x, y in zip(a, b)] == [True, False, True]
    assert CH.plan(times, pts, keys, values, "other video")[0].key != b[0].key



def test_chunks_hold_no_copy_of_the_points_they_are_drawn_from():
    """A chunk's values are read from the frames' own when asked (to check or record a render), not
    copied into every chunk at planning: those copies grew with the video's length."""
    times, pts = np.arange(120) / 30, np.arange(120)
    reads = []

    class Values:
        def __getitem__(self, frames):
            reads.append((frames.start, frames.stop))
            return [np.array([float(i), 1.0]) for i in range(frames.start, frames.stop)]

    chunks = CH.plan(times, pts, [b"f"] * 120, Values(), "v")
    assert reads == []
    assert np.array_equal(chunks[1].values, np.ravel([[i, 1.0] for i in range(60, 120)]))
    assert reads == [(60, 120)]

def test_a_chunk_is_reused_when_its_points_moved_by_float_noise_only(tmp_path):
    times, pts = np.arange(60) / 30, np.arange(60)
    keys, values = [b"f"] * 60, [np.array([100.0, 200.0, 0.5])] * 60
    (c,) = CH.plan(times, pts, keys, values, "v")
    assert not CH.reusable(tmp_path, c)
    (tmp_path / f"{c.key}.mp4").write_bytes(b"rendered")
    CH.remember(tmp_path, c)
    noise = CH.plan(times, pts, keys, [v + 1e-5 for v in values], "v")[0]
    moved = CH.plan(times, pts, keys, values[:59] + [values[0] + [0, 0.5, 0]], "v")[0]
    assert CH.reusable(tmp_path, noise) and not CH.reusable(tmp_path, moved)
    CH.prune(tmp_path, [])
    assert not list(tmp_path.iterdir())


def test_concat_joins_chunks_losslessly_with_their_timestamps(tmp_path):
    from dubbing import video as vio

    rng = np.random.default_rng(0)
    frames = [(rng.integers(0, 255, (64, 96, 3), dtype=np.uint8), 1000 + 40 * i + (i % 3)) for i in range(30)]
    parts = []
    for k, (a, b) in enumerate([(0, 10), (10, 11), (11, 30)]):
        parts.append(tmp_path / f"c{k}.mp4")
        with vio.VideoWriter(parts[-1], 96, 64, Fraction(1, 1000), Fraction(25), b_frames=False) as w:
            for img, pts in frames[a:b]:
                w.write(img, pts)
    out = vio.concat(parts, tmp_path / "all.mp4")
    got = list(vio.frames(out))
    assert np.allclose([f.time for f in got], [p / 1000 for _, p in frames], atol=1e-4)
    singles = [f for part in parts for f in vio.frames(part)]
    assert all(np.array_equal(a.rgb, b.rgb) for a, b in zip(got, singles))  # packets copied, not re-encoded
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


@pytest.mark.slow
@pytest.mark.skipif(not FACE1.exists(), reason="../shared/media not present")
def test_an_edit_late_in_the_video_rerenders_only_its_chunks(tmp_path):
    """Phones changed after 2.6 s: the first 2-s chunk is reused as it was, the result is the same as a
    fresh render of the edited phones (made without measuring: the same pictures, no sync figures), and the
    report says how many frames were drawn."""
    from dubbing import espeak
    from dubbing.schema import SpeakerTurn
    from lipsync import api, faces
    from dubbing import video as vio

    _, _, ph = espeak.synthesize("Hola, me llamo Ana y hoy vamos a hablar de la ayuda.", "es")
    before = [(p.symbol, p.start + 0.2, p.end + 0.2, "S0") for p in ph]
    after = [p if p[1] < 2.6 else ("m" if p[0] != "m" else "a", *p[1:]) for p in before]
    turns = [SpeakerTurn(start=0.0, end=4.5, speaker="S0")]
    fa = faces.analyse(FACE1, tmp_path / "track")
    run = lambda phones, out, work, measure=True: api.sync_video(FACE1, FACE1, phones, turns, tmp_path / out,
                                                                 tmp_path / work, faces=fa, measure=measure)
    first = run(before, "a.mp4", "w")
    edited = run(after, "b.mp4", "w")
    fresh = run(after, "c.mp4", "w2", measure=False)  # the edit rendered from scratch
    n = first.frames
    assert edited.measured_frames == n and edited.av_confidence is not None
    assert fresh.measured_frames == 0 and all(getattr(fresh, k) is None for k in ("av_confidence", "closure_rate"))
    assert first.rendered_frames == first.synced_frames > 0.8 * n
    a, b, c = ([f.rgb for f in vio.frames(tmp_path / x)] for x in ("a.mp4", "b.mp4", "c.mp4"))
    times = vio.frame_times(tmp_path / "a.mp4")[0]
    early = int(np.searchsorted(times, times[0] + 2.0))  # the first chunk, 2 s from the first frame
    assert 0 < edited.rendered_frames <= n - early  # the first chunk was reused
    assert all(np.array_equal(x, y) for x, y in zip(a[:early], b[:early]))
    # as rendering the edit from scratch, up to far-away points moved by float noise
    assert max(np.abs(x.astype(int) - y).max() for x, y in zip(b, c)) <= 3
    assert any(not np.array_equal(x, y) for x, y in zip(a[early:], b[early:]))


@pytest.mark.slow
@pytest.mark.skipif(not FACE1.exists(), reason="../shared/media not present")
def test_chunks_that_draw_nothing_are_encoded_once_for_every_language(tmp_path):
    """vr_face1's first 2.5 s, then 4 s without a face: the chunks after the face pass the frames
    through, are encoded by the first language into the shared folder and taken as they are by the
    second; each language's chunks with the face are its own."""
    from conftest import ffmpeg
    from dubbing.schema import SpeakerTurn
    from dubbing import video as vio
    from lipsync import api, faces

    info = vio.probe(FACE1)
    clip = tmp_path / "face-then-none.mp4"
    ffmpeg("-i", str(FACE1), "-f", "lavfi", "-i", f"color=c=gray:s={info.width}x{info.height}:r={float(info.rate)}:d=4",
           "-filter_complex", "[0:v]trim=0:2.5,setpts=PTS-STARTPTS[a];[1:v]setpts=PTS-STARTPTS[b];[a][b]concat=n=2:v=1[v]",
           "-map", "[v]", "-map", "0:a", "-c:v", "libx264", "-pix_fmt", "yuv420p", "-c:a", "aac", str(clip))
    turns = [SpeakerTurn(start=0.0, end=2.4, speaker="S0")]
    fa = faces.analyse(clip, tmp_path / "track")
    shared = tmp_path / "passthrough"
    es = [(p, 0.2 + 0.15 * i, 0.33 + 0.15 * i, "S0") for i, p in enumerate(["o", "l", "a", "a", "m", "i", "ɣ", "o"])]
    fr = [(p, 0.2 + 0.15 * i, 0.33 + 0.15 * i, "S0") for i, p in enumerate(["b", "o", "ʒ", "u", "ʁ", "a", "m", "i"])]
    a = api.sync_video(clip, FACE1, es, turns, tmp_path / "es.mp4", tmp_path / "es", faces=fa, shared_chunks=shared)
    kept = {p.name: p.stat().st_mtime_ns for p in shared.glob("*.mp4")}
    assert len(kept) >= 1 and a.rendered_frames > 0
    b = api.sync_video(clip, FACE1, fr, turns, tmp_path / "fr.mp4", tmp_path / "fr", faces=fa, shared_chunks=shared)
    assert {p.name: p.stat().st_mtime_ns for p in shared.glob("*.mp4")} == kept  # taken, not made again
    own = [len(list((tmp_path / x / "chunks").glob("*.mp4"))) for x in ("es", "fr")]
    assert own[0] == own[1] >= 1
    x, y = ([f.rgb for f in vio.frames(tmp_path / n)] for n in ("es.mp4", "fr.mp4"))
    times = vio.frame_times(clip)[0]
    idle = int(np.searchsorted(times, times[0] + 2.0 * own[0]))  # the first chunk without the face
    assert len(x) == len(y) == len(times) == b.frames and idle < len(times)
    assert all(np.array_equal(p, q) for p, q in zip(x[idle:], y[idle:]))
    assert any(not np.array_equal(p, q) for p, q in zip(x[:idle], y[:idle]))


@pytest.mark.slow
@pytest.mark.skipif(not FACE1.exists(), reason="../shared/media not present")
def test_a_face_that_neither_speaks_nor_parts_its_lips_is_left_as_it_is(tmp_path):
    """vr_face1's first 2.9 s (its lips close at 2.5-3.2 s), then that frame held for 4 s: the new speech
    ends at 1.5 s and the face's own turn at 2.0 s, so from 0.3 s after its lips last part the face is
    passed through (not drawn, its chunks shared by every language), and drawn before."""
    from conftest import ffmpeg
    from dubbing.schema import SpeakerTurn
    from dubbing import video as vio
    from lipsync import api, faces

    clip = tmp_path / "speak-then-hold.mp4"
    ffmpeg("-i", str(FACE1), "-vf", "trim=0:2.9,setpts=PTS-STARTPTS,tpad=stop_mode=clone:stop_duration=4",
           "-af", "atrim=0:2.9,apad=pad_dur=4", "-c:v", "libx264", "-pix_fmt", "yuv420p", "-c:a", "aac", str(clip))
    fa = faces.analyse(clip, tmp_path / "track")
    phones = [(p, 0.2 + 0.15 * i, 0.33 + 0.15 * i, "S0") for i, p in enumerate(["o", "l", "a", "a", "m", "i", "ɣ", "o"])]
    shared = tmp_path / "passthrough"
    rep = api.sync_video(clip, FACE1, phones, [SpeakerTurn(start=0.0, end=2.0, speaker="S0")], tmp_path / "out.mp4",
                         tmp_path / "w", faces=fa, shared_chunks=shared)
    times = vio.frame_times(clip)[0]
    speech = int(np.searchsorted(times, 1.5))
    assert rep.speakers == {"S0": 0} and rep.frames == len(times)
    assert speech < rep.rendered_frames == rep.synced_frames < int(np.searchsorted(times, 3.3))
    assert len(list(shared.glob("*.mp4"))) >= 1  # the held frames' chunks, made once for all languages
    out = [f.rgb for f in vio.frames(tmp_path / "out.mp4")]
    assert len(out) == len(times)


@pytest.mark.slow
@pytest.mark.skipif(not FACE1.exists(), reason="../shared/media not present")
def test_an_output_measured_on_a_span_is_measured_on_those_frames_alone(tmp_path):
    """The sync figures of a span come from seeking to it: the span of every frame gives the whole
    video's figures exactly, and a 2.4-s span its own, from 60 frames."""
    from dubbing import espeak
    from dubbing.schema import SpeakerTurn
    from dubbing import video as vio
    from lipsync import api, faces
    from lipsync import metrics as M

    _, _, ph = espeak.synthesize("Hola, me llamo Ana y hoy vamos a hablar de la ayuda.", "es")
    phones = [(p.symbol, p.start + 0.2, p.end + 0.2, "S0") for p in ph]
    fa = faces.analyse(FACE1, tmp_path / "track")
    rep = api.sync_video(FACE1, FACE1, phones, [SpeakerTurn(start=0.0, end=4.5, speaker="S0")], tmp_path / "o.mp4",
                         tmp_path / "w", faces=fa)
    n = len(vio.frame_times(FACE1)[0])
    assert rep.measured_frames == rep.frames == n  # a short output is measured whole
    target = np.linspace(0, 1, n)
    run = lambda span, k: M.evaluate(tmp_path / "o.mp4", FACE1, tmp_path / f"m{k}", phones, "S0", target, FACE1,
                                     fa.tracks, span=span)
    whole, all_of_it, part = run(None, 0), run((0, n), 1), run((40, 100), 2)
    assert [getattr(whole, k) for k in M.FIGURES] == [getattr(all_of_it, k) for k in M.FIGURES]
    assert whole.frames == n and part.frames == 60
    assert part.psnr_outside is not None and abs(part.psnr_outside - whole.psnr_outside) < 3
    assert part.target_r is not None and part.target_r != whole.target_r


@pytest.mark.skipif(not FACE1.exists(), reason="../shared/media not present")
def test_the_render_holds_nothing_the_length_of_the_voice(tmp_path, monkeypatch):
    """Through the render (most of a long dub's lip sync, beside the other languages' work), sync_video
    holds neither the decoded voice nor the faces' curves: a 10-minute voice (38 MB of samples) must
    not be in memory while the chunks are drawn."""
    import tracemalloc

    from dubbing import media
    from dubbing.schema import SpeakerTurn
    from lipsync import api, faces
    from lipsync import metrics as M

    voice = media.load_audio(FACE1, M.AUDIO_RATE)
    long = np.zeros(600 * M.AUDIO_RATE, np.float32)
    long[: len(voice)] = voice
    wav = tmp_path / "voice.wav"
    media.write_wav(wav, long, M.AUDIO_RATE)
    fa = faces.analyse(FACE1, tmp_path / "track")
    held = []

    class Drawn(Exception):
        pass

    def render(*a, **kw):
        held.append(tracemalloc.get_traced_memory()[0])
        raise Drawn

    monkeypatch.setattr(api, "_render_chunks", render)
    phones = [(p, 0.2 + 0.15 * i, 0.33 + 0.15 * i, "S0") for i, p in enumerate(["o", "l", "a", "a", "m", "i"])]
    tracemalloc.start()
    try:
        with pytest.raises(Drawn):
            api.sync_video(FACE1, wav, phones, [SpeakerTurn(start=0.0, end=4.5, speaker="S0")], tmp_path / "o.mp4",
                           tmp_path / "w", faces=fa)
    finally:
        tracemalloc.stop()
    assert held and held[0] < 0.5 * long.nbytes, f"{held[0] / 1e6:.0f} MB held at the render"


@pytest.mark.slow
@pytest.mark.skipif(not FACE1.exists(), reason="../shared/media not present")
def test_a_render_run_as_parts_elsewhere_gives_the_same_video(tmp_path, monkeypatch):
    """The chunks to render, sent as parts of PART_S seconds to another process (here: pickled and
    rendered from the copy, as a cluster's worker would), make the same frames as one local pass; each
    part decodes from a seek to its own first frame, and carries its own frames' points, not the plans."""
    import pickle

    from dubbing import video as vio
    from dubbing.schema import SpeakerTurn
    from lipsync import api, faces

    monkeypatch.setattr(api, "PART_S", 2.0)
    fa = faces.analyse(FACE1, tmp_path / "track")
    phones = [(p, 0.2 + 0.15 * i, 0.33 + 0.15 * i, "S0") for i, p in enumerate("olamiaboepuamo")]
    turns = [SpeakerTurn(start=0.0, end=4.5, speaker="S0")]
    sent = []

    def elsewhere(fn, parts):
        sent.extend(pickle.dumps(p) for p in parts)
        return [pickle.loads(pickle.dumps(fn))(pickle.loads(pickle.dumps(p))) for p in parts]

    here = api.sync_video(FACE1, FACE1, phones, turns, tmp_path / "here.mp4", tmp_path / "a", faces=fa, measure=False)
    there = api.sync_video(FACE1, FACE1, phones, turns, tmp_path / "there.mp4", tmp_path / "b", faces=fa,
                           measure=False, run_parts=elsewhere)
    assert len(sent) >= 2 and there.rendered_frames == here.rendered_frames > 0
    x, y = ([f.rgb for f in vio.frames(tmp_path / n)] for n in ("here.mp4", "there.mp4"))
    assert len(x) == len(y) == here.frames and all(np.array_equal(p, q) for p, q in zip(x, y))
    assert not any(b"TrackPlan" in p or b"_FrameValues" in p for p in sent)  # its own frames' points, not the plans
