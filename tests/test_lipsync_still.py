"""`dub animate`: a still portrait's painted mouth interior, its prosody-driven head motion and blinks,
and the liveness measures that judge them (lipsync/still.py, lipsync/liveness.py)."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from lipsync import geometry as G
from lipsync import landmarks as L
from lipsync import liveness as LV
from lipsync import still as ST
from lipsync.mouth_model import ShapeModel


def _mouth(h: int = 120, w: int = 200, gap: float = 50.0) -> np.ndarray:
    """An inner-lip polygon (20 points, from the left corner over the top) of a mouth open by `gap` px."""
    a = np.linspace(0, np.pi, 11)
    top = np.column_stack([100 - 80 * np.cos(a), 50 - 6 * np.sin(a)])
    bottom = np.column_stack([100 + 80 * np.cos(a[1:-1]), 50 + gap * np.sin(a[1:-1])])
    return np.vstack([top, bottom])


def test_the_painted_interior_has_teeth_under_the_upper_lip_a_darker_cavity_and_a_tongue_only_when_wide():
    lip, teeth = np.array([170.0, 100.0, 100.0]), np.array([220.0, 212.0, 195.0])
    rgb, alpha = ST.paint_interior((120, 200), _mouth(gap=50), lip, teeth)
    lum = rgb.mean(-1)
    assert alpha[60, 100] > 0.99 and alpha[5, 5] < 0.01
    assert lum[50:55, 80:120].mean() > 150  # teeth just under the upper lip, in the middle
    assert lum[75:85, 85:115].mean() < 0.6 * lum[50:55, 80:120].mean()  # the cavity behind them is darker
    row = lum[52, 40:160]
    assert row.std() > 3  # the teeth are parted and shaded, not one flat slab
    reddish = lambda img, m: ((img[..., 0] - img[..., 1]) > 35) & (img.mean(-1) > 50) & m
    inside = alpha > 0.99
    assert reddish(rgb, inside).sum() > 50  # a tongue shows in a wide-open mouth
    narrow, a2 = ST.paint_interior((120, 200), _mouth(gap=14), lip, teeth)
    assert reddish(narrow, (a2 > 0.99) & (np.arange(120)[:, None] > 56)).sum() < 10  # ...not in a narrow one


def test_a_closed_mouth_whose_corners_turn_down_opens_as_asked():
    # the bug: the generic shape model told the lower lip by its height under the corners, so a shut
    # mouth with its corners turned down (the whole lower lip above the corners' line) never opened
    x = np.linspace(-1, 1, 11)
    top = np.column_stack([x, -0.1 * (1 - x ** 2)])
    inner = np.vstack([top, top[1:-1][::-1] + [0, 0.001]])
    outer = np.vstack([np.column_stack([1.2 * x, -0.3 * (1 - x ** 2) - 0.05]),
                       np.column_stack([1.2 * x[1:-1][::-1], 0.25 * (1 - x[1:-1][::-1] ** 2)])])
    mov = np.zeros((len(L.MOVING), 2))
    mov[L.SLICE_OUTER], mov[L.SLICE_INNER] = outer, inner
    rest = np.arange(len(L.MOVING)) >= L.N_OUTER + L.N_INNER
    mov[rest] = np.column_stack([np.linspace(-1.5, 1.5, rest.sum()), np.linspace(0.5, 1.5, rest.sum())])
    model = ShapeModel.generic_for(mov)
    q0 = G.mouth_measures_moving(mov[None])[0]
    for want in (0.05, 0.2):
        q1 = q0 + [want, 0]
        got = G.mouth_measures_moving((mov + model.predict(q1) - model.predict(q0))[None])[0]
        assert got[0] - q0[0] == pytest.approx(want, rel=0.05)


def _speech(t: np.ndarray) -> np.ndarray:
    """Loudness of 4-Hz syllables in phrases of 2 s with 0.8-s pauses between."""
    phrase = (t % 2.8) < 2.0
    return phrase * (0.2 + np.clip(np.sin(2 * np.pi * 4 * t), 0, None))


def test_the_head_moves_like_a_talking_head_dips_on_stress_and_calms_in_pauses():
    t = np.arange(0, 30, 0.04)
    loud = _speech(t)
    pose = ST.head_motion(t, loud, 120 + 20 * np.sin(2 * np.pi * 0.3 * t))
    assert pose.shape == (len(t), 5)
    std = pose[:, :3].std(0)
    assert np.all(std > 0.5) and np.all(std < 3.0)  # degrees: real talking heads 0.8-1.9 on a tripod
    rise = np.clip(np.diff(loud, prepend=0), 0, None)
    pitch_speed = np.diff(pose[:, 1], prepend=pose[0, 1])
    assert np.corrcoef(rise, pitch_speed)[0, 1] > 0.1  # the nose goes down as the voice rises
    speaking = (t % 2.8) < 1.8
    calm = ((t % 2.8) > 2.2) & ((t % 2.8) < 2.8)
    speed = np.abs(np.diff(pose[:, :3], axis=0, prepend=pose[:1, :3])).sum(1)
    assert speed[calm].mean() < speed[speaking].mean()
    assert np.array_equal(ST.head_motion(t, loud, None, seed=3), ST.head_motion(t, loud, None, seed=3))


def test_blinks_come_at_the_pauses_never_too_far_apart_nor_too_close():
    t = np.arange(0, 30, 0.04)
    at = np.array(ST.blink_times(t, _speech(t)))
    assert 6 <= len(at) <= 20  # 12-40 a minute
    gaps = np.diff(np.r_[0.0, at, 30.0])
    assert gaps[1:-1].min() >= ST.BLINK_MIN_GAP - 1e-9 and gaps.max() <= ST.BLINK_GAP[1] + 2.0
    in_pause = ((at % 2.8) > 1.9) | ((at % 2.8) < 0.05)
    assert in_pause.mean() > 0.5
    curve = ST.blink_curve(t, list(at))
    assert curve.max() == 1.0 and (curve > 0.5).sum() < len(at) * 0.2 / 0.04


def _face_points(w: int = 320, h: int = 320) -> tuple[np.ndarray, np.ndarray]:
    """A stand-in face for the rig: 478 points on a dome in the middle of the picture, with depth."""
    rng = np.random.default_rng(0)
    a, r = rng.uniform(0, 2 * np.pi, 478), np.sqrt(rng.uniform(0, 1, 478))
    xy = np.column_stack([w / 2 + 60 * r * np.cos(a), h / 2 + 80 * r * np.sin(a)])
    z = -40 * np.sqrt(np.clip(1 - r ** 2, 0, 1))
    oval = np.linspace(0, 2 * np.pi, len(L.FACE_OVAL), endpoint=False)
    xy[L.FACE_OVAL] = np.column_stack([w / 2 + 62 * np.cos(oval), h / 2 + 82 * np.sin(oval)])
    z[L.FACE_OVAL] = 0
    return xy, z


def test_the_head_turns_over_a_background_that_stays_put():
    rng = np.random.default_rng(1)
    frame = rng.integers(0, 255, (320, 320, 3), np.uint8)
    xy, z = _face_points()
    rig = ST.HeadRig(xy, z, frame.shape)
    assert np.array_equal(rig.apply(frame, np.zeros(5)), frame)  # at rest, nothing moves
    moved = rig.apply(frame, np.array([3.0, 2.0, 1.5, 0.02, 0.0]))
    x0, y0, x1, y1 = rig.roi
    outside = np.ones(frame.shape[:2], bool)
    outside[y0:y1, x0:x1] = False
    assert np.array_equal(moved[outside], frame[outside])  # the background beyond the ring is untouched
    assert np.abs(moved[150:170, 150:170].astype(int) - frame[150:170, 150:170]).mean() > 10  # the face moved


def test_head_pose_and_blinks_are_read_back_from_landmarks():
    xy, z = _face_points()
    rig = ST.HeadRig(xy, z, (320, 320))
    base = np.column_stack([xy, z])
    yaw = 4 * np.sin(np.linspace(0, 6, 60))
    frames = [np.vstack([rig.rotated(np.array([a, 0, 0])), base[468:]]) for a in yaw]
    pose = LV.head_pose(np.array(frames))
    assert np.corrcoef(pose[:, 0], yaw)[0, 1] > 0.99  # the rig's yaw read back as yaw, same sign
    assert np.abs(pose[:, 0]).std() == pytest.approx(np.abs(yaw).std(), rel=0.1)
    assert np.abs(pose[:, 1:]).max() < 0.5  # no pitch or roll where none was asked
    t = np.arange(100) * 0.04
    eyes = np.full(100, 0.1)
    eyes[[20, 21, 60, 61, 62]] = 0.01  # two blinks
    eyes[80:100] = 0.02  # shut for 0.8 s: not a blink
    assert len(LV.blinks(eyes, t)) == 2


@pytest.mark.slow
def test_a_portrait_speaks_with_a_moving_head_blinks_and_a_mouth_that_opens_onto_teeth(tmp_path, media_dir):
    """End to end on a frame of vr_face2 (an interior painted there, looked at while tuning): the
    output measured as any video (not from the curves that drove it)."""
    import cv2

    from dubbing import video as vio

    png = tmp_path / "portrait.png"
    cv2.imwrite(str(png), cv2.cvtColor(next(vio.frames(media_dir / "video/vr_face2.mp4")).rgb, cv2.COLOR_RGB2BGR))
    out = tmp_path / "out"
    subprocess.run([sys.executable, "-m", "dub", "animate", png, "--audio", media_dir / "audio/fw_jfk.flac",
                    "--out", out], check=True, capture_output=True)
    made = out / "portrait.animate.mp4"
    sync = json.loads((out / "portrait.animate.work" / "sync.json").read_text())
    assert sync["av_offset_frames"] is not None and abs(sync["av_offset_frames"]) <= 1
    assert sync["av_confidence"] > 0.2
    obs = LV.observe(made)
    pose = np.nanstd(LV.head_pose(obs.xyz), 0)
    assert np.all(pose > 0.5)  # a frozen head reads 0.1-0.6 (the old sway: 0.19 / 0.48 / 0.56)
    assert len(LV.blinks(LV.eye_openness(obs.xyz), obs.times)) >= 2  # 11 s of speech
    ratio = LV.mouth_ratio(obs.xyz)
    assert np.nanpercentile(ratio, 95) > 0.2  # the mouth opens
    tex = LV.open_interiors(made, obs)
    assert len(tex) >= 10
    assert 0.5 < np.median(tex[:, 2]) < 1.2  # a lit interior (real mouths: 0.62-1.05 of the lips), not a void


def test_a_photos_open_mouth_shut_is_drawn_as_lips_meeting_not_squeezed_teeth():
    from lipsync import render as R

    lip = np.array([170.0, 100.0, 100.0])
    rgb, alpha = ST.paint_shut((120, 200), _mouth(gap=20), lip)
    inside = alpha > 0.99
    lum = rgb.mean(-1)
    assert lum[inside].max() <= lip.mean() + 1  # nothing brighter than the lips: no teeth
    assert lum[57, 100] < 0.8 * lum[47, 100]  # darker where the lips meet
    # the fill of a mouth shut to a line is drawn over the lips held 2 px apart, not over the line
    shut = np.zeros((len(L.MOVING), 2))
    x = np.linspace(20, 180, L.N_INNER // 2 + 1)
    top = np.column_stack([x, 50 - 6 * np.sin(np.linspace(0, np.pi, len(x)))])
    shut[L.SLICE_INNER] = np.vstack([top, top[1:-1][::-1] + [0, 0.01]])
    assert R.gap_px(shut) < 0.1
    line = (R.polygon_mask((120, 200), shut[L.SLICE_INNER]) > 127).sum()
    held = (R.polygon_mask((120, 200), R.opened(shut[L.SLICE_INNER])) > 127).sum()
    assert held > 1.5 * line  # (anti-aliasing draws the shut line itself about a pixel thick)
