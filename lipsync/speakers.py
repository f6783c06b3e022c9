"""Which face is which speaker: each track's mouth opening against each diarized speaker's voice
activity; tracks that share screen time are assigned one-to-one (Hungarian)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy.optimize import linear_sum_assignment

MIN_CORR = 0.1  # below this a face is not taken to be the speaker
MIN_FRAMES = 12  # a track seen for fewer frames (under half a second) is no speaker, and takes no one's place:
# on a 20 s vlog (LatentSync's demo3, stop 32), a face found in one frame shared the screen with the man
# talking throughout, so he was no longer "one face on screen, one voice", and no face was synced
ON_SCREEN = 0.9  # share of the one voice's speech a lone face is seen for to be its speaker whatever its motion
STILL_STD = 0.002  # mouth-opening spread of a face that never moves (a photo shown as video: 0.0003;
                   # a talking face: tens of times more); correlation says nothing about such a face


def activity(times: np.ndarray, turns: Sequence[tuple[float, float, str]], speaker: str) -> np.ndarray:
    """1.0 at the times (s) where `speaker` talks, else 0.0."""
    act = np.zeros(len(times))
    for a, b, s in turns:
        if s == speaker:
            act[(times >= a) & (times < b)] = 1.0
    return act


def on_screen(frames: np.ndarray, times: np.ndarray, turns: Sequence[tuple[float, float, str]], speaker: str) -> float:
    """Share of `speaker`'s speech (frames of the whole video at `times` s) during which a track seen at
    `frames` is on screen."""
    talk = activity(times, turns, speaker) > 0
    if not talk.any():
        return 0.0
    seen = np.zeros(len(times), bool)
    seen[np.asarray(frames, int)] = True
    return float((seen & talk).sum() / talk.sum())


def correlation(x: np.ndarray, y: np.ndarray) -> float:
    """Pearson r of two curves, 0 when either is flat."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    if len(x) < 3 or x.std() < 1e-9 or y.std() < 1e-9:
        return 0.0
    return float(np.corrcoef(x, y)[0, 1])


def motion(opening: np.ndarray, win: int = 5) -> np.ndarray:
    """Mouth motion energy per frame: local standard deviation of the opening over `win` frames."""
    o = np.asarray(opening, float)
    if len(o) < 2:
        return np.zeros_like(o)
    pad = np.pad(o, win // 2, mode="edge")
    w = np.lib.stride_tricks.sliding_window_view(pad, win)
    return w.std(-1)[: len(o)]


def assign(track_frames: dict[int, np.ndarray], track_opening: dict[int, np.ndarray], times: np.ndarray,
           turns: Sequence[tuple[float, float, str]], envelope: np.ndarray | None = None, sole: bool = False
           ) -> tuple[dict[int, str], dict[tuple[int, str], float]]:
    """Track id -> speaker label for the tracks that speak, and every (track, speaker) correlation.

    track_frames: frame indices of each track; track_opening: its mouth opening at those frames;
    times: frame times (s) of the whole video; envelope: the source audio's loudness at those
    times, if known (a speaker's curve is then their activity times the loudness, which still
    varies when one person talks throughout).
    One face on screen with one voice is that voice's if its mouth is still (a photo made to talk), moves
    with the voice at all (r > 0), or is on screen for nearly all the voice says (ON_SCREEN: one person
    talking to the camera; on 5 and 10 s windows of LatentSync's demo1 and demo3, 6 of 10 scored r <= 0
    against their own voice); a narrator over a shot of someone who does not speak leaves that shot as
    it is. With `sole` it is that voice's whatever its motion and screen time (`dub lipsync`: the user
    asked for this video's face to say the new audio).
    """
    speakers = sorted({s for _, _, s in turns})
    corr = {}
    still = {tid for tid, o in track_opening.items() if len(o) and float(np.std(o)) < STILL_STD}
    for tid, f in track_frames.items():
        m = motion(track_opening[tid])
        for s in speakers:
            act = activity(times[f], turns, s)
            if envelope is not None:
                act = act * motion(envelope[f])
            corr[(tid, s)] = correlation(m, act)
    # groups of tracks that overlap in time compete for speakers; disjoint tracks (cuts) do not
    ids = [t for t in track_frames if len(track_frames[t]) >= MIN_FRAMES]
    span = {t: (track_frames[t].min(), track_frames[t].max()) for t in ids}
    groups: list[set[int]] = []
    for t in span:
        hit = [g for g in groups if any(span[t][0] <= span[u][1] and span[u][0] <= span[t][1] for u in g)]
        merged = {t}.union(*hit) if hit else {t}
        groups = [g for g in groups if g not in hit] + [merged]
    out: dict[int, str] = {}
    for g in groups:
        gl = sorted(g)
        if not speakers:
            continue
        c = np.array([[corr[(t, s)] for s in speakers] for t in gl])
        for r, k in zip(*linear_sum_assignment(-c)):
            alone = len(gl) == 1 and len(speakers) == 1  # one face on screen, one voice
            if c[r, k] >= MIN_CORR or (alone and (sole or c[r, k] > 0 or gl[r] in still or
                                                  on_screen(track_frames[gl[r]], times, turns, speakers[k]) >= ON_SCREEN)):
                out[gl[r]] = speakers[k]
    return out, corr


# Tuned on bench/conversation.py's `interview` (its `panel` held out): over turns of 1-2.5 s a face that
# talks scores r 0.16-0.60 (one of 11 turns below 0); a listener's held frame moves its mouth by
# 0.0001-0.0004 (std of the opening), a talking one by 0.027-0.057.
TALK_R = 0.15  # a face talks in a turn when its mouth motion follows the voice's loudness this well (r)...
TALK_MARGIN = 0.15  # ...and better, by this much, than any other moving face on screen then
TALK_SEEN = 0.7  # ...and it is on screen for this share of the turn's frames
TALK_MIN_FRAMES = 12  # turns shorter than this (frames) say nothing


def talkers(track_frames: dict[int, np.ndarray], track_opening: dict[int, np.ndarray], times: np.ndarray,
            turns: Sequence[tuple[float, float]], envelope: np.ndarray) -> dict[int, tuple[int, float]]:
    """Which face talks in each turn, where one visibly does: {turn index: (track id, r)}.

    track_frames, track_opening: as in `assign`; times: frame times (s); turns: (start s, end s) of
    the voice's turns; envelope: the source audio's loudness at `times`. A face talks in a turn when
    its mouth motion correlates with the voice's loudness motion over the turn's frames (TALK_R) clearly
    better than every other moving face seen then (TALK_MARGIN). A listener whose lips do not move
    (STILL_STD) is no talker; a voice over a shot without a moving face, or two faces that move alike,
    give no answer for that turn."""
    env = motion(envelope)
    out: dict[int, tuple[int, float]] = {}
    where = {tid: {int(f): k for k, f in enumerate(fr)} for tid, fr in track_frames.items()}
    for i, (a, b) in enumerate(turns):
        frames = np.flatnonzero((times >= a) & (times < b))
        if len(frames) < TALK_MIN_FRAMES:
            continue
        scores = []
        for tid, at in where.items():
            k = [at[f] for f in frames if f in at]
            if len(k) < TALK_SEEN * len(frames):
                continue
            if float(np.std(track_opening[tid][k])) < STILL_STD:  # lips that do not move: not a talker
                continue
            seen = np.array([f for f in frames if f in at])
            scores.append((correlation(motion(track_opening[tid][k]), env[seen]), tid))
        scores.sort(reverse=True)
        if scores and scores[0][0] >= TALK_R and (len(scores) == 1 or scores[0][0] - scores[1][0] >= TALK_MARGIN):
            out[i] = (scores[0][1], round(scores[0][0], 3))
    return out
