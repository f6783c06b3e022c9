"""The face analysis made in parts of the video's time and joined (lipsync.face_parts) is the analysis
of the whole: the same people, the same cuts, each detection where the whole put it."""

import sys

import numpy as np

from lipsync import face_parts, faces
from lipsync import landmarks as L
from lipsync import track as T
from tests.conftest import ROOT, needs_media


def test_parts_cover_the_frames_once_and_a_short_video_is_one_part():
    got = face_parts.spans(3000, 25.0, 10.0)
    assert got[0][0] == 0 and got[-1][1] == 3000
    assert all(a[1] == b[0] for a, b in zip(got, got[1:]))
    assert all(200 <= b - a <= 300 for a, b in got)
    assert face_parts.spans(370, 25.0, 10.0) == [(0, 370)]


def _part(boxes: list[tuple[int, tuple[float, float]] | None], cuts=(), colour=0.0) -> faces.SourceFaces:
    """A part's analysis: per frame one face (track id, box corner) or none; its look set by `colour`."""
    n = len(boxes)
    lm = np.zeros((n, T.MAX_FACES, len(L.SUBSET), 2), np.float32)
    track = np.full((n, T.MAX_FACES), -1, np.int32)
    for f, b in enumerate(boxes):
        if b is not None:
            tid, (x, y) = b
            lm[f, 0] = np.c_[np.linspace(x, x + 100, len(L.SUBSET)), np.linspace(y, y + 120, len(L.SUBSET))]
            track[f, 0] = tid
    ids = sorted({b[0] for b in boxes if b is not None})
    look = np.r_[np.full(64, 1 + colour), np.full(64, 1 - colour)] / 128  # colour 0.9: distance 0.39 from 0
    tr = T.Tracks(np.arange(n) / 25.0, np.arange(n), 1280, 720, lm, np.zeros((n, T.MAX_FACES, 4), np.float32),
                  track, np.zeros(track.shape, bool),
                  {"cut_frames": list(cuts), "identity": [{"id": i, "shape": [0.5] * 10, "colour": list(look)}
                                                          for i in ids]})
    return faces.SourceFaces(tr, {}, {})


def test_a_face_across_an_edge_stays_one_track_and_a_cut_there_is_left_to_appearance(tmp_path):
    before = _part([(0, (100, 100))] * 10)
    same_shot = _part([(0, (102, 101))] * 11)  # its first frame is the frame before the edge
    joined = face_parts.join([before, same_shot], [0, 10], tmp_path / "a", 25.0)
    assert joined.tracks.ids == [0] and len(joined.tracks.times) == 20
    # a cut at the edge, another person where the last one was (another look): two people
    # (here the part found no face on the frame before its edge, so nothing of it takes the match)
    other = _part([None] + [(1, (100, 100))] * 10, cuts=[1], colour=0.9)
    joined = face_parts.join([before, other], [0, 10], tmp_path / "b", 25.0)
    assert len(joined.tracks.ids) == 2 and joined.tracks.extra["cut_frames"] == [10]
    # a cut at the edge and the same look: the person is re-linked by appearance, as across a cut
    back = _part([(0, (100, 100))] + [(1, (600, 100))] * 10, cuts=[1])
    joined = face_parts.join([before, back], [0, 10], tmp_path / "c", 25.0)
    assert joined.tracks.ids == [0]
    assert np.allclose(joined.tracks.lm[12, 0, 0], [600, 100])  # each frame's landmarks where its part put them


@needs_media
def test_an_interview_analysed_in_parts_has_the_people_and_faces_of_the_whole(tmp_path):
    """bench/conversation.py's interview (28 s, four people, seven cuts, two shots of two) in parts of
    2.5 s, so edges fall inside shots and people return in later parts."""
    sys.path.insert(0, str(ROOT / "bench"))
    import conversation

    path, _ = conversation.build("interview", tmp_path / "inputs")
    whole = faces.analyse(path, tmp_path / "whole").tracks
    parts = face_parts.analyse_in_parts(path, tmp_path / "parts", lambda fn, xs: [fn(x) for x in xs], 2.5).tracks
    assert len(parts.times) == len(whole.times)
    assert parts.extra["cut_frames"] == whole.extra["cut_frames"]
    assert len(parts.ids) == len(whole.ids) == 4
    pairs, n = {}, 0
    for f in range(len(whole.times)):
        for s in np.flatnonzero(whole.track[f] >= 0):
            n += 1
            near = [(float(np.median(np.abs(parts.lm[f, k] - whole.lm[f, s]))), int(parts.track[f, k]))
                    for k in np.flatnonzero(parts.track[f] >= 0)]
            if near and min(near)[0] < 3.0:  # px
                pairs.setdefault(int(whole.track[f, s]), set()).add(min(near)[1])
                pairs.setdefault("matched", set()).add((f, s))
    assert len(pairs["matched"]) >= 0.98 * n
    assert all(len(v) == 1 for k, v in pairs.items() if k != "matched")  # one person of the whole is one of the parts
    assert len({next(iter(v)) for k, v in pairs.items() if k != "matched"}) == 4


@needs_media
def test_parts_that_decode_other_frames_than_their_spans_fall_back_to_one_pass(tmp_path, caplog):
    """A part that decodes fewer frames than its span (a stream that breaks there) would leave the join's
    later frames out of place, with zero times: the analysis is made in one pass instead, and says so."""
    from dataclasses import replace

    video = ROOT.parent / "shared" / "media" / "video" / "vr_face1.mp4"
    short = lambda fn, parts: [fn(replace(p, span=(p.span[0], p.span[1] - 1))) for p in parts]  # noqa: E731
    got = face_parts.analyse_in_parts(video, tmp_path / "parts", short, 2.0).tracks
    whole = faces.analyse(video, tmp_path / "whole").tracks
    assert "in one pass" in caplog.text
    assert np.array_equal(got.times, whole.times) and np.all(np.diff(got.times) > 0)
    assert np.array_equal(got.track, whole.track)
