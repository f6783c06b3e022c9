"""How far the tracked lips land from the real ones, with and without lipsync.steady (the mesh held
to the image's own motion), against references the tracker did not make.

- Real footage (`--judge`): an independent landmark model, dlib's 68-point shape predictor on its own
  HOG face boxes, places the lips (both corners, the middles of the upper and lower lip's outer edges).
  Per frame, the mean distance of MediaPipe's four points to dlib's, less the clip's median offset
  between the two models' definitions, in dlib's eye distances (iod). Frames where the two disagree by
  more than 0.08 / 0.12 iod are mostly the mesh's glitches (and some of dlib's own).
  dlib is not a dependency: `pip install --no-deps --target DIR dlib-bin==20.0.1.post1`, and the sdist
  face-recognition-models==0.3.0 unpacked; `--dlib DIR --dlib-model .../shape_predictor_68_face_landmarks.dat`.
- Camera shake (default): each clip is shaken by known translations (a slow drift with sudden jumps, each
  frame blurred along its own motion), so the truth is the still clip's landmarks moved by the known
  shift. This did not make MediaPipe's mesh slip (the glitches seen on real footage come with laughs and
  turns, not with the shift itself): it checks that steadying moves nothing that was right.

    python bench/steady.py [--clips vr_face1,vr_face2,ls_demo2] [--jump 0.05] [--seed 3]
    python bench/steady.py --judge --clips ls_demo2,vr_face2 --extra DIR --dlib DIR --dlib-model FILE

lipsync.steady's thresholds were set on LatentSync's demo3 (not shared: `--extra` holds such clips);
report on the others.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from dubbing import video as vio  # noqa: E402
from lipsync import landmarks as L  # noqa: E402
from lipsync import track as T  # noqa: E402

SHARED = Path(__file__).resolve().parents[2] / "shared" / "media" / "video"
LIPS = L.at(np.concatenate([L.LIPS_OUTER, L.LIPS_INNER]))
EYES = (L.at(L.LEFT_EYE_OUTER), L.at(L.RIGHT_EYE_OUTER))


def shifts(n: int, short_side: int, jump: float, rng: np.random.Generator) -> np.ndarray:
    """(n, 2) px: a drift of ~0.3 % of the short side per frame, and on one frame in eight a jump of
    about `jump` of it, in a random direction."""
    step = rng.normal(0, 0.003 * short_side, (n, 2))
    jumps = rng.random(n) < 1 / 8
    ang = rng.uniform(0, 2 * np.pi, n)
    size = jump * short_side * rng.uniform(0.6, 1.4, n)
    step[jumps] += np.stack([np.cos(ang), np.sin(ang)], 1)[jumps] * size[jumps, None]
    out = np.cumsum(step, 0)
    return out - out.mean(0)


def blur_along(img: np.ndarray, d: np.ndarray) -> np.ndarray:
    """`img` blurred along the motion `d` (px) of its frame (a line kernel as long as the motion)."""
    length = int(round(float(np.hypot(*d))))
    if length < 2:
        return img
    k = np.zeros((length, length), np.float32)
    c = (length - 1) / 2
    u = d / np.hypot(*d)
    cv2.line(k, (int(round(c - u[0] * c)), int(round(c - u[1] * c))),
             (int(round(c + u[0] * c)), int(round(c + u[1] * c))), 1.0, 1)
    return cv2.filter2D(img, -1, k / k.sum())


def shake(src: Path, dest: Path, move: np.ndarray) -> None:
    """Write `src` moved by `move` (px per frame) and blurred along each frame's motion (x264 CRF 16, the
    source's frame times)."""
    info = vio.probe(src)
    prev = move[0]
    with vio.VideoWriter(dest, info.width, info.height, info.time_base, info.rate, crf=16) as out:
        for f in vio.frames(src):
            if f.index >= len(move):
                break
            m = np.float32([[1, 0, move[f.index][0]], [0, 1, move[f.index][1]]])
            img = cv2.warpAffine(f.rgb, m, (info.width, info.height), borderMode=cv2.BORDER_REPLICATE)
            out.write(blur_along(img, move[f.index] - prev), f.pts)
            prev = move[f.index]


def main_track(tr: T.Tracks) -> dict[int, np.ndarray]:
    """frame -> landmarks of the longest track, detected frames only (not gap-filled)."""
    tid = max(tr.ids, key=lambda t: len(tr.frames_of(t)[0]))
    f, s = tr.frames_of(tid)
    return {int(i): np.array(tr.lm[i, k]) for i, k in zip(f, s) if not tr.filled[i, k]}


def errors(truth: dict[int, np.ndarray], got: dict[int, np.ndarray], move: np.ndarray) -> np.ndarray:
    """Per frame both have: median lip-point distance to the truth moved by the shake, in iod."""
    out = []
    for i, lm in got.items():
        if i in truth:
            t = truth[i] + move[i]
            iod = np.linalg.norm(t[EYES[0]] - t[EYES[1]])
            out.append(np.median(np.linalg.norm(lm[LIPS] - t[LIPS], axis=1)) / iod)
    return np.array(out)


def dlib_lips(path: Path, dlib_dir: str, model: str) -> dict[int, tuple[np.ndarray, float]]:
    """frame -> (dlib's lip points: left corner, right corner, upper and lower lip middles (4, 2) px, its iod)."""
    sys.path.insert(0, dlib_dir)
    import dlib

    detect, shape = dlib.get_frontal_face_detector(), dlib.shape_predictor(model)
    out = {}
    for f in vio.frames(path):
        grey = cv2.cvtColor(f.rgb, cv2.COLOR_RGB2GRAY)
        k = 480 / min(grey.shape)  # HOG boxes on a 480 px frame, shapes on the full one
        boxes = detect(cv2.resize(grey, None, fx=k, fy=k), 0)
        if not len(boxes):
            continue
        b = max(boxes, key=lambda r: r.area())
        s = shape(grey, dlib.rectangle(int(b.left() / k), int(b.top() / k), int(b.right() / k), int(b.bottom() / k)))
        p = np.array([(s.part(i).x, s.part(i).y) for i in (48, 54, 51, 57, 36, 45)], float)
        out[f.index] = (p[:4], float(np.linalg.norm(p[4] - p[5])))
    return out


def judged(ref: dict[int, tuple[np.ndarray, float]], got: dict[int, np.ndarray]) -> np.ndarray:
    """Per frame both have: mean distance of the mesh's four lip points to dlib's, less the median offset, in iod."""
    mine = L.at([L.MOUTH_CORNERS[0], L.MOUTH_CORNERS[1], 0, 17])
    frames = sorted(set(ref) & set(got))
    d = np.array([(got[i][mine] - ref[i][0]) / ref[i][1] for i in frames])
    return np.linalg.norm(d - np.median(d, 0), axis=2).mean(1)


def judge(a: argparse.Namespace) -> None:
    print(f"{'clip':10} {'frames':>6} {'steadied':>8} | {'mesh vs dlib (iod)':>18}: mean  p95  >0.08 >0.12")
    with tempfile.TemporaryDirectory() as tmp:
        for name in a.clips.split(","):
            src = next(iter(sorted([*SHARED.glob(name + ".*"), *Path(a.extra or SHARED).glob(name + ".*")])), None)
            if src is None:
                print(f"{name}: not found, skipped")
                continue
            ref = dlib_lips(src, a.dlib, a.dlib_model)
            for on in (False, True):
                tr = T.track_file(src, Path(tmp) / f"{name}_{on}", steady=on)
                e = judged(ref, main_track(tr))
                print(f"{name:10} {len(e):6d} {tr.extra.get('steadied', 0) if on else '-':>8} | "
                      f"{'steadied' if on else 'as found':>18}: {e.mean():.4f} {np.percentile(e, 95):.3f} "
                      f"{int((e > 0.08).sum()):5d} {int((e > 0.12).sum()):5d}")
            T.Landmarker.release()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--clips", default="vr_face1,vr_face2,ls_demo2")
    ap.add_argument("--jump", type=float, default=0.05, help="size of a jump, as a fraction of the short side")
    ap.add_argument("--seed", type=int, default=3)
    ap.add_argument("--judge", action="store_true", help="real footage against dlib's lips (see above)")
    ap.add_argument("--extra", help="a folder of more clips, found by name")
    ap.add_argument("--dlib", help="folder holding the dlib package")
    ap.add_argument("--dlib-model", help="shape_predictor_68_face_landmarks.dat")
    a = ap.parse_args()
    if a.judge:
        return judge(a)
    rng = np.random.default_rng(a.seed)
    print(f"{'clip':10} {'frames':>6} {'steadied':>8} | {'lip error (iod)':>15}: mean  p95  >0.05  >0.10")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        for name in a.clips.split(","):
            src = next(iter(sorted(SHARED.glob(name + ".*"))), None)
            if src is None:
                print(f"{name}: not in {SHARED}, skipped")
                continue
            still = T.track_file(src, tmp / f"{name}_still")
            truth = main_track(still)
            info = vio.probe(src)
            move = shifts(len(still.times), min(info.width, info.height), a.jump, rng)
            shaken = tmp / f"{name}_shaken.mp4"
            shake(src, shaken, move)
            for on in (False, True):
                tr = T.track_file(shaken, tmp / f"{name}_{on}", steady=on)
                e = errors(truth, main_track(tr), move)
                print(f"{name:10} {len(e):6d} {tr.extra.get('steadied', 0) if on else '-':>8} | "
                      f"{'steadied' if on else 'as found':>15}: {e.mean():.3f} {np.percentile(e, 95):.3f} "
                      f"{(e > 0.05).mean():6.1%} {(e > 0.10).mean():6.1%}   (still clip steadied: "
                      f"{still.extra.get('steadied', 0)})")
            T.Landmarker.release()


if __name__ == "__main__":
    main()
