"""The generic viseme table (lipsync/visemes.py CLASSES) fitted to real mouths, and checked on clips it
was not fitted on.

    PYTHONPATH=$PWD .venv/bin/python bench/visemes_fit.py [--extra DIR] [--work /tmp/visemesfit]
                                                          [--ridge 10] [--jaw-from-voice 0.25]

Each clip is a person speaking to the camera with their own voice: its frames give the real mouth
(inner-lip gap and mouth width per frame, FaceMesh, as the sync figures read it), its audio the phones
(Whisper's words through dubbing.resync, or GRID's words from its file name, since Whisper mishears
GRID's made-up sentences) and the loudness. Per clip, the opening is put in the person's range
(mouth_model.Range: 0 at their resting opening, 1 at their widest) and the width likewise, and a
ridge regression over all TUNE clips' frames finds, per viseme class, the jaw and spread-round that
predict those frames through the coarticulated class shares (person.class_weights), pulled towards
the hand-set table by --ridge; silence and the bilabials keep theirs (the mouth rests in pauses and
shuts at /p b m/ by design).

Printed: per clip, r of the opening over width predicted from the phones through the product's path
(analysis.articulation with the jaw from the voice at --jaw-from-voice, through the person's Range)
against the real one, for the table in the tree and for the fitted one; over TUNE clips also each
clip left out of the fit (leave-one-out); and the fitted table. HELD_OUT clips are never fitted on.

Clips: from ../shared/media, vr_face1 and grid_bbaf2n (tune), vr_face2 and ls_demo2 (held out). With
--extra DIR, also the clips of DIR named as in EXTRA (public repositories' demo footage, not shipped:
`git show <commit>:<path>` of a snapshot of each):
- github.com/OpenTalker/video-retalking (Apache-2.0) d32e8e58248255e2d243eeaf3cba545dbe505ca8
  examples/face/{3,4,5}.mp4 as vr_face3.mp4, vr_face4.mp4 (tune), vr_face5.mp4 (held out);
- github.com/bytedance/LatentSync (Apache-2.0) a229c3948406bc2cf6eaf4873e662e70c6a04746
  assets/demo3_video.mp4 as ls_demo3.mp4 (tune);
- github.com/rizkiarm/LipNet (MIT; GRID corpus, CC BY 4.0) bec592aa1e66378bc7ab33f6110f1c8a431b3b9a
  evaluation/samples/GRID/<id>.mpg as grid_<id>.mpg, and evaluation/samples/id2_vcd_swwp2s.mpg as
  grid_swwp2s.mpg (tune).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
MEDIA = ROOT.parent / "shared" / "media" / "video"
sys.path.insert(0, str(ROOT))

SHARED = {"vr_face1": "tune", "grid_bbaf2n": "tune", "vr_face2": "held out", "ls_demo2": "held out"}
EXTRA = {"vr_face3": "tune", "vr_face4": "tune", "ls_demo3": "tune", "vr_face5": "held out"}  # + grid_*.mpg: tune
FIXED = ("sil", "PP")  # classes kept as they are
RATE = 16000  # Hz
# GRID's sentence grammar (Cooke et al. 2006): command, colour, preposition, letter, digit, adverb
GRID_WORDS = ({"b": "bin", "l": "lay", "p": "place", "s": "set"}, {"b": "blue", "g": "green", "r": "red", "w": "white"},
              {"a": "at", "b": "by", "i": "in", "w": "with"}, None,
              {"z": "zero", **{str(i): w for i, w in enumerate("zero one two three four five six seven eight nine".split())}},
              {"a": "again", "n": "now", "p": "please", "s": "soon"})


def grid_text(code: str) -> str:
    """The sentence a GRID clip's six-character name encodes ("bbaf2n": "bin blue at f two now")."""
    return " ".join(c if words is None else words[c] for c, words in zip(code, GRID_WORDS))


@dataclass
class Clip:
    name: str
    split: str  # "tune" or "held out"
    t: np.ndarray  # (n,) s, the tracked frames' times
    q: np.ndarray  # (n, 2) real (opening, width), iod
    phones: list  # (symbol, start s, end s), outside the voice's pauses
    voice: np.ndarray  # samples at the metrics' rate

    @property
    def ratio(self) -> np.ndarray:
        return self.q[:, 0] / np.maximum(self.q[:, 1], 1e-6)


def load(path: Path, split: str, work: Path, cfg) -> Clip:
    """Track the clip's main face and align its own speech (cached under `work`)."""
    import languages
    from dubbing import align, media, resync, transcribe
    from dubbing import video as vio
    from lipsync import analysis as A
    from lipsync import metrics as M
    from lipsync import track as T

    name = path.stem
    cache = work / name
    cache.mkdir(parents=True, exist_ok=True)
    t = vio.frame_times(path)[0]
    faces = M.curves(T.track_file(path, cache / "track"))
    main = max(faces.values(), key=lambda c: len(c.frames))
    y = media.load_audio(path, RATE)
    if name.startswith("grid_"):
        phones = [(p.symbol, p.start, p.end) for p in align.align(y, RATE, grid_text(name[5:]), languages.get("en"))]
    else:
        tr = transcribe.transcribe(y, cfg.asr)
        phones = [(p.symbol, p.start, p.end) for _, ph in resync.segment_phones(y, tr, languages.get(tr.language))
                  for p in ph]
    voice = M.samples(media.write_wav(cache / "voice.wav", y, RATE))
    return Clip(name, split, t[main.frames], main.q[:, :2], A.outside_pauses(phones, A.pauses(voice)), voice)


def range_units(clip: Clip) -> np.ndarray:
    """The clip's real (opening, width) (n, 2) in the person's range: opening 0 at rest, 1 at their widest;
    width 0 at rest, 1 at the widest, -1 at the narrowest (the inverse of mouth_model.Range.measures)."""
    from lipsync.mouth_model import Range

    rng = Range.of(clip.q)
    o = (clip.q[:, 0] - rng.open_rest) / (rng.open_hi - rng.open_rest)
    w = clip.q[:, 1] - rng.width_rest
    w = np.where(w > 0, w / (rng.width_hi - rng.width_rest), w / (rng.width_rest - rng.width_lo))
    return np.stack([o, w], -1)


def fit(clips: list[Clip], ridge: float) -> dict[str, tuple]:
    """The viseme table (class -> parameters) whose jaw and spread-round best predict the clips' mouths
    in range units, each pulled to the table in the tree by `ridge` (frames of weight), FIXED classes kept."""
    from lipsync import person as PM
    from lipsync import visemes as V

    x = np.vstack([PM.class_weights(c.t, c.phones) for c in clips])
    y = np.vstack([range_units(c) for c in clips])
    names = PM.CLASS_NAMES
    prior = np.array([[V.CLASSES[k][V.JAW] * (1 - V.CLASSES[k][V.CLOSURE]),
                       V.CLASSES[k][V.SPREAD] - V.CLASSES[k][V.ROUND]] for k in names])
    lam = np.diag([1e9 if k in FIXED else ridge for k in names])
    coef = np.linalg.solve(x.T @ x + lam, x.T @ y + lam @ prior)  # (K, 2)
    out = {}
    for k, (jaw, wide) in zip(names, coef):
        p = list(V.CLASSES[k])
        if k not in FIXED:
            p[V.JAW] = round(float(np.clip(jaw, 0, 1)), 2)
            wide = float(np.clip(wide, -1, 1))
            p[V.SPREAD], p[V.ROUND] = round(max(wide, 0.0), 2), round(max(-wide, 0.0), 2)
        out[k] = tuple(p)
    return out


@contextmanager
def table(classes: dict[str, tuple] | None):
    """lipsync.visemes.CLASSES replaced by `classes` (None: as it is) while inside."""
    from lipsync import visemes as V

    saved = dict(V.CLASSES)
    V.CLASSES.update(classes or {})
    try:
        yield
    finally:
        V.CLASSES.update(saved)


def r_of(clip: Clip, jaw_from_voice: float) -> float:
    """r of the opening over width the product draws from the clip's phones (and its voice's loudness)
    against the clip's real one."""
    from lipsync import analysis as A
    from lipsync import jali as J
    from lipsync import metrics as M
    from lipsync.mouth_model import Range

    act = J.activation(M.envelope(clip.voice, clip.t), clip.t, A.pauses(clip.voice))
    m = Range.of(clip.q).measures(A.articulation(clip.t, clip.phones, None, act, jaw_from_voice))
    return float(np.corrcoef(m[:, 0] / np.maximum(m[:, 1], 1e-6), clip.ratio)[0, 1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--extra", type=Path, help="a folder of the EXTRA clips (see above)")
    ap.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "visemesfit")
    ap.add_argument("--ridge", type=float, default=10.0)
    ap.add_argument("--jaw-from-voice", type=float, default=None, help="default: the config's lipsync.jaw_from_voice")
    a = ap.parse_args()
    from dubbing import config

    cfg = config.load()
    jw = cfg.lipsync.jaw_from_voice if a.jaw_from_voice is None else a.jaw_from_voice
    paths = [(MEDIA / f"{n}.{'mpg' if n.startswith('grid_') else 'mp4'}", s) for n, s in SHARED.items()]
    if a.extra:
        paths += [(a.extra / f"{n}.mp4", s) for n, s in EXTRA.items()]
        paths += [(p, "tune") for p in sorted(a.extra.glob("grid_*.mpg")) if p.stem != "grid_bbaf2n"]
    clips = [load(p, s, a.work, cfg) for p, s in paths if p.exists()]
    tune = [c for c in clips if c.split == "tune"]
    fitted = fit(tune, a.ridge)
    print(f"{'clip':14} {'set':9} {'frames':>6} {'r now':>6} {'r fit':>6} {'r loo':>6}   (jaw from voice {jw})")
    rows = []
    for c in clips:
        with table(None):
            now = r_of(c, jw)
        with table(fitted):
            new = r_of(c, jw)
        loo = float("nan")
        if c.split == "tune" and len(tune) > 1:
            with table(fit([d for d in tune if d is not c], a.ridge)):
                loo = r_of(c, jw)
        rows.append((c.split, now, new, loo))
        print(f"{c.name:14} {c.split:9} {len(c.t):6d} {now:6.3f} {new:6.3f} {loo:6.3f}")
    for s in ("tune", "held out"):
        sel = [r for r in rows if r[0] == s]
        if sel:
            loo = f"  left out {np.mean([r[3] for r in sel]):.3f}" if s == "tune" else ""
            print(f"mean {s:9} ({len(sel)} clips)  now {np.mean([r[1] for r in sel]):.3f}  fitted "
                  f"{np.mean([r[2] for r in sel]):.3f}{loo}")
    print("fitted table (jaw, spread, round, closure, teeth):")
    for k, p in fitted.items():
        print(f'    "{k}": {p},')


if __name__ == "__main__":
    main()
