"""Face tracking: shot cuts, identity re-linking across cuts, gap filling, and (on real footage) a
clip cut face1 -> face2 -> face1 and a frame of four small faces."""

import json
from pathlib import Path

import numpy as np
import pytest

from lipsync import track as T

from conftest import MEDIA, ffmpeg, needs_media

FACE1 = MEDIA / "video" / "vr_face1.mp4"
FACE2 = MEDIA / "video" / "vr_face2.mp4"


def _scene(seed: int, w: int = 320, h: int = 180) -> np.ndarray:
    """A smooth random picture (blurred blocks), different for each seed."""
    import cv2

    rng = np.random.default_rng(seed)
    small = rng.integers(0, 256, (6, 10, 3), dtype=np.uint8)
    return cv2.GaussianBlur(cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC), (0, 0), 5)


def test_cut_detector_finds_hard_cuts_not_motion():
    a, b = _scene(1), _scene(2)
    pan = [np.roll(a, 3 * k, axis=1) for k in range(30)]  # camera pan: big motion, same tones
    frames = pan + [np.roll(b, 2 * k, axis=0) for k in range(20)] + [np.roll(a, -4 * k, axis=1) for k in range(20)]
    det = T.CutDetector()
    cuts = [i for i, f in enumerate(frames) if det.step(f)]
    assert cuts == [30, 50]


def test_cut_detector_finds_a_cut_to_the_same_tones_in_another_layout():
    a = _scene(4)
    frames = [a] * 10 + [np.ascontiguousarray(a[:, ::-1])] * 10  # mirrored: the same grey histogram
    det = T.CutDetector()
    assert [i for i, f in enumerate(frames) if det.step(f)] == [10]


def test_cut_detector_ignores_a_fade_in_brightness():
    a = _scene(3).astype(float)
    det = T.CutDetector()
    assert not any(det.step(np.clip(a * (0.6 + 0.02 * k), 0, 255).astype(np.uint8)) for k in range(40))


def _identity(tracks: dict[int, tuple[float, float, list[int]]]) -> tuple[T.Identity, np.ndarray]:
    """An Identity fed synthetic descriptors: id -> (shape offset, hue bin weight, frames)."""
    n = 1 + max(max(f) for _, _, f in tracks.values())
    track = np.full((n, T.MAX_FACES), -1, np.int32)
    ident = T.Identity()
    base = np.linspace(0.5, 1.5, len(T._IU))
    for tid, (off, hue, frames) in tracks.items():
        for f in frames:
            k = int(np.flatnonzero(track[f] < 0)[0])
            track[f, k] = tid
            ident.shapes.setdefault(tid, []).append(base + off)
            h = np.zeros(128)
            h[0], h[1] = hue, 1 - hue
            ident.hists.setdefault(tid, []).append(h)
    return ident, track


def test_relink_joins_one_person_across_a_cut_but_not_two_people():
    ident, track = _identity({0: (0.0, 0.9, list(range(0, 20))),  # person A
                              1: (0.1, 0.2, list(range(20, 40))),  # person B (another shape, colour)
                              2: (0.002, 0.88, list(range(40, 60)))})  # person A again
    assert ident.relink(track) == {0: 0, 1: 1, 2: 0}


def test_relink_never_joins_faces_seen_together_or_too_briefly():
    ident, track = _identity({0: (0.0, 0.9, list(range(0, 20))),
                              1: (0.0, 0.9, list(range(10, 30))),  # same look, but on screen with 0
                              2: (0.0, 0.9, [40, 41])})  # too few frames to judge
    assert ident.relink(track) == {0: 0, 1: 1, 2: 2}


def test_relink_refuses_when_two_earlier_people_both_fit():
    ident, track = _identity({0: (0.0, 0.9, list(range(0, 20))),
                              1: (0.004, 0.9, list(range(0, 20))),  # on screen with 0, and looks like 0
                              2: (0.002, 0.9, list(range(40, 60)))})  # later: could be either
    assert ident.relink(track) == {0: 0, 1: 1, 2: 2}


def test_gaps_are_filled_within_a_shot_only():
    n = 12
    lm = np.zeros((n, T.MAX_FACES, len(T.L.SUBSET), 2), np.float32)
    track = np.full((n, T.MAX_FACES), -1, np.int32)
    for f in (0, 1, 4, 5, 8, 9):
        lm[f, 0] = f
        track[f, 0] = 0
    tr = T.Tracks(np.arange(n) / 25, np.arange(n), 64, 64, lm, np.zeros((n, T.MAX_FACES, len(T.BLENDSHAPES))),
                  track, np.zeros((n, T.MAX_FACES), bool))
    T.fill_gaps(tr, 5, cut_frames=[7])
    assert list(np.flatnonzero(tr.filled[:, 0])) == [2, 3]  # 6-7 spans the cut at 7: left empty
    assert tr.lm[2, 0, 0, 0] == pytest.approx(2.0) and (tr.track[6:8] < 0).all()


def _segment(src: Path, start: float, dur: float, out: Path) -> Path:
    ffmpeg("-ss", str(start), "-t", str(dur), "-i", str(src), "-vf", "fps=25,scale=480:480,setsar=1", "-an",
           "-c:v", "libx264", "-crf", "16", "-pix_fmt", "yuv420p", "-g", "25", str(out))
    return out


def _track(video: Path, work: Path) -> T.Tracks:
    return T.track_file(video, work)


def _main_id(tr: T.Tracks, a: int, b: int) -> int:
    ids, counts = np.unique(tr.track[a:b][tr.track[a:b] >= 0], return_counts=True)
    return int(ids[np.argmax(counts)])


@pytest.mark.slow
@needs_media
def test_one_person_keeps_one_track_across_cuts_and_another_gets_their_own(tmp_path):
    """vr_face1 -> vr_face2 -> vr_face1 (hard cuts, same size, 25 f/s): the two vr_face1 shots share
    one track id, vr_face2 has another, and the cuts are found within a frame of where they are."""
    from dubbing import video as vio

    parts = [_segment(FACE1, 0.0, 2.0, tmp_path / "a.mp4"), _segment(FACE2, 0.5, 2.0, tmp_path / "b.mp4"),
             _segment(FACE1, 3.5, 2.0, tmp_path / "c.mp4")]
    (tmp_path / "list.txt").write_text("".join(f"file '{p}'\n" for p in parts))
    clip = tmp_path / "cuts.mp4"
    ffmpeg("-f", "concat", "-safe", "0", "-i", str(tmp_path / "list.txt"), "-c", "copy", str(clip))
    lengths = [len(vio.frame_times(p)[0]) for p in parts]
    truth = [lengths[0], lengths[0] + lengths[1]]  # first frame of each new shot

    from lipsync import faces

    fa = faces.analyse(clip, tmp_path / "work")
    fa.save(tmp_path / "faces")  # the pipeline's cache: what comes back is what was found
    fa = faces.SourceFaces.load(tmp_path / "faces")
    tr = fa.tracks
    times = tr.times
    assert len(times) == sum(lengths)
    assert set(fa.banks) == set(fa.templates) == set(tr.ids)  # a re-linked shot feeds its person's bank
    assert all(len(b.entries) for b in fa.banks.values())
    found = tr.extra["cut_frames"]
    assert len(found) == 2 and all(abs(f - t) <= 1 for f, t in zip(found, truth)), (found, truth)
    assert tr.extra["cuts"] == pytest.approx([times[f] for f in found])
    assert json.loads(json.dumps(tr.extra)) == tr.extra  # cached as JSON next to the arrays
    first, second, third = (_main_id(tr, a, b) for a, b in ((0, truth[0]), (truth[0], truth[1]), (truth[1], len(times))))
    assert first == third != second
    # each shot's face is present in (nearly) every frame of its shot, under that one id
    for (a, b), tid in zip(((0, truth[0]), (truth[0], truth[1]), (truth[1], len(times))), (first, second, third)):
        assert (tr.track[a + 1:b - 1] == tid).any(axis=1).mean() > 0.95
    assert not (tr.track[truth[0]:truth[1]] == first).any()  # no face1 landmarks inside the face2 shot


@pytest.mark.slow
@needs_media
def test_a_face_hidden_for_a_while_comes_back_under_its_id(tmp_path):
    """The face covered for 1.2 s (longer than the IoU linker waits; not a cut) keeps one id."""
    clip = tmp_path / "hidden.mp4"
    ffmpeg("-i", str(FACE1), "-vf", "fps=25,scale=480:480,"
           "drawbox=x=100:y=40:w=260:h=300:color=gray:t=fill:enable='between(t,2,3.2)'",
           "-an", "-c:v", "libx264", "-crf", "16", "-pix_fmt", "yuv420p", str(clip))
    tr = _track(clip, tmp_path / "work")
    assert tr.extra["cuts"] == [] and len(tr.extra["relinked"]) == 1
    assert len(tr.ids) == 1
    f, _ = tr.frames_of(tr.ids[0])
    assert f.min() < 5 and f.max() > len(tr.times) - 5


@pytest.mark.slow
@needs_media
def test_small_faces_are_all_found_and_tracked(tmp_path):
    """Four faces 50-105 px wide on a 1280x720 frame (too small for the full-frame detector)."""
    clip = tmp_path / "small.mp4"
    ffmpeg("-i", str(FACE1), "-i", str(FACE2), "-filter_complex",
           "color=c=0x506070:s=1280x720:r=25:d=2[bg];"
           "[0:v]fps=25,trim=0:2,setpts=PTS-STARTPTS,split[a0][a1];[1:v]fps=25,trim=0:2,setpts=PTS-STARTPTS,split[b0][b1];"
           "[a0]scale=180:180[a];[b0]scale=220:220[b];[a1]scale=260:260[c];[b1]scale=300:300[d];"
           "[bg][a]overlay=40:60[x];[x][b]overlay=900:40[y];[y][c]overlay=80:420[z];[z][d]overlay=700:400[v]",
           "-map", "[v]", "-c:v", "libx264", "-crf", "16", "-pix_fmt", "yuv420p", str(clip))
    tr = _track(clip, tmp_path / "work")
    assert len(tr.ids) == 4 and tr.extra["cuts"] == []
    for tid in tr.ids:
        f, _ = tr.frames_of(tid)
        assert len(f) >= 0.9 * len(tr.times)


@pytest.mark.slow
@needs_media
def test_direct_result_reading_matches_mediapipe_public_api():
    """Landmarker reads MediaPipe's C result with numpy; it must give what the public API gives."""
    from dubbing import video as vio

    rgb = next(iter(vio.frames(FACE2))).rgb
    lmk = T.Landmarker.get()
    assert lmk.fast  # the pinned mediapipe has the layout it reads
    box = (0, 0, rgb.shape[1], rgb.shape[0])
    fast = lmk.detect_crop(rgb, box, size=max(rgb.shape[:2]))
    lmk.fast = False
    try:
        public = lmk.detect_crop(rgb, box, size=max(rgb.shape[:2]))
    finally:
        lmk.fast = True
    assert len(fast) == len(public) == 1
    for a, b in zip(fast[0], public[0]):
        assert np.array_equal(a, b)
    assert fast[0].blend[0] > 0  # jawOpen read by name


class _TwiceMeshed:
    """A landmarker that meshes one face per frame, moving right, and at frame 5 meshes it twice: once
    where it was, once where it goes (MediaPipe did so on LatentSync demo3's re-synced output)."""

    def __init__(self):
        self.pts = np.random.default_rng(0).random((478, 2))

    def face(self, x: float):
        return T.Face((self.pts * 100 + (x, 40)).astype(np.float32), np.zeros(len(T.BLENDSHAPES), np.float32),
                      np.zeros(478, np.float32))

    def start_stream(self):
        pass

    def detect_video(self, rgb, t):
        i = int(round(t * 25))
        if i == 5:
            return [self.face(140), self.face(100 + 4 * i)]  # the duplicate first
        return [self.face(100 + 4 * i if i < 5 else 140 + 4 * (i - 6))]

    def detect_crop(self, rgb, box, size=384, hide=()):
        return []


def test_one_face_meshed_twice_in_a_frame_stays_one_track(tmp_path):
    """Two detections of one face in a frame (boxes overlapping at IoU 0.43) are one face: the one that
    continues the track is kept, and the track goes on when only the other's position is seen again.
    Both kept, the face became two tracks at that frame, and the sync figures measured half of it."""
    from dubbing import video as vio

    img = _scene(1)
    frames = (vio.Frame(i, i / 25, i, img) for i in range(12))
    tr = T.track_video(frames, 12, 320, 180, tmp_path, landmarker=_TwiceMeshed(), steady=False)
    assert tr.ids == [0]
    assert (tr.track == 0).sum(axis=1).tolist() == [1] * 12
    assert tr.lm[5, 0, :, 0].min() < 130  # the mesh that continues the track (at x 120), not the one at 140
