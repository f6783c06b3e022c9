"""Overlapped speech in one channel (dubbing/overlap.py) on recorded speech the detector never heard
(it was trained on synthetic voices only: scripts/train_overlap.py).

    .venv/bin/python bench/overlap.py [--weights dubbing/overlap_weights.npz] [--pairs 150] [--cuts /tmp/convbench]

Prints, from ../shared/media:
  - conversations with their truth: pa_sample (two people, its reference RTTM: 1.9 s of overlap in 6
    stretches) and fw_stereo_diarization mixed to mono (two voices, one per channel; the truth is where
    both channels sound). Frame AUC, precision / recall / F1 of overlapped frames among speech frames at
    the threshold, reference stretches of >= MIN_SPAN s found, detected stretches that are false;
  - false alarms on monologues: seconds flagged per minute of speech in the one-speaker clips;
  - pair mixes: 2 s of one recorded voice alone or with another's (0 or -6 dB, over the whole window),
    all 10 recorded voices: frame AUC and precision / recall;
  - with --cuts DIR: bench/conversation.py's two layouts (four people, hard cuts, no overlap: every
    flagged stretch is false), built in DIR.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from dubbing import media, overlap, rttm, vad  # noqa: E402
from dubbing.lines import seconds_shared  # noqa: E402
from dubbing.constants import SPEECH_RATE as SR  # noqa: E402

MEDIA = ROOT.parent / "shared" / "media"
MONOLOGUES = {"vr_face1": "video/vr_face1.mp4", "vr_face2": "video/vr_face2.mp4", "fw_jfk": "audio/fw_jfk.flac",
              "grid": "video/grid_bbaf2n.mpg", "ls_demo2": "video/ls_demo2.mp4",
              "fleurs_en": "audio/fleurs_en-000.ogg", "fleurs_es": "audio/fleurs_es-000.ogg",
              "fleurs_fr": "audio/fleurs_fr-000.ogg"}
LEVEL = 0.05  # RMS the voices are brought to before mixing


def frames_of(turns: list[tuple[float, float]], n: int) -> np.ndarray:
    out = np.zeros(n, bool)
    for a, b in turns:
        out[int(a / overlap.FRAME):int(b / overlap.FRAME)] = True
    return out


def conversations() -> dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """name -> (mono audio, speech frames, overlapped frames) of the recordings whose truth is known."""
    out = {}
    audio = media.load_audio(MEDIA / "audio/pa_sample.wav")
    n = len(audio) // overlap.HOP + 1
    turns = rttm.read_rttm(MEDIA / "refs/pa_sample.rttm")
    each = [frames_of([(t.start, t.end) for t in turns if t.speaker == s], n) for s in sorted({t.speaker for t in turns})]
    out["pa_sample"] = (audio, each[0] | each[1], each[0] & each[1])
    stereo = media.load_audio(MEDIA / "audio/fw_stereo_diarization.wav", mono=False)
    stereo = stereo if stereo.shape[0] == 2 else stereo.T
    n = stereo.shape[1] // overlap.HOP + 1
    each = [frames_of(vad.speech_regions(ch, SR, min_silence=0.2, pad=0.0), n) for ch in stereo]
    out["fw_stereo (mono mix)"] = (stereo.mean(0), each[0] | each[1], each[0] & each[1])
    return out


def auc(truth: np.ndarray, score: np.ndarray) -> float:
    from sklearn.metrics import roc_auc_score

    return float(roc_auc_score(truth, score)) if 0 < truth.sum() < truth.size else float("nan")


def prf(truth: np.ndarray, said: np.ndarray) -> tuple[float, float, float]:
    tp = float((truth & said).sum())
    p, r = tp / max(said.sum(), 1), tp / max(truth.sum(), 1)
    return p, r, 2 * p * r / max(p + r, 1e-9)


def runs(mask: np.ndarray) -> list[tuple[float, float]]:
    return overlap.spans(mask.astype(float), 0.5, 0.0, 0.0)


def levelled(speech: np.ndarray) -> np.ndarray:
    """`speech` brought to LEVEL RMS."""
    return (speech * LEVEL / (np.sqrt(np.mean(speech ** 2)) + 1e-9)).astype(np.float32)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--weights", type=Path, default=overlap.WEIGHTS)
    ap.add_argument("--pairs", type=int, default=150, help="pair mixes (and as many windows of one voice)")
    ap.add_argument("--cuts", type=Path, help="build bench/conversation.py's layouts here and count false flags")
    args = ap.parse_args()
    net = overlap.network(args.weights)
    print(f"weights {args.weights}, threshold {overlap.THRESHOLD}, stretches >= {overlap.MIN_SPAN} s\n")

    print("conversations (truth: reference turns / channels)")
    print(f"{'recording':22} {'overlap s':>9} {'AUC':>6} {'P':>5} {'R':>5} {'F1':>5}  stretches found   false stretches")
    for name, (audio, speech, truth) in conversations().items():
        prob = overlap.probabilities(audio, net)[:len(speech)]
        found = overlap.spans(prob)
        said = frames_of(found, len(speech))
        p, r, f = prf(truth[speech], said[speech])
        ref = [s for s in runs(truth) if s[1] - s[0] >= overlap.MIN_SPAN]
        hit = sum(any(min(b, d) > max(a, c) for c, d in found) for a, b in ref)
        false = [s for s in found if not truth[int(s[0] / overlap.FRAME):int(s[1] / overlap.FRAME)].any()]
        print(f"{name:22} {truth.sum() * overlap.FRAME:9.2f} {auc(truth[speech], prob[speech]):6.3f} {p:5.2f} {r:5.2f} "
              f"{f:5.2f}  {hit} of {len(ref):<12} {len(false)} ({sum(b - a for a, b in false):.2f} s)")
        print(f"{'':22} found: {', '.join(f'{a:.2f}-{b:.2f}' for a, b in found) or 'none'}")

    print("\nmonologues (one voice: every flagged second is false)")
    voices = {}
    for name, path in MONOLOGUES.items():
        audio = media.load_audio(MEDIA / path)
        regions = vad.speech_regions(audio, SR)
        found = overlap.spans(overlap.probabilities(audio, net))
        inside = sum(seconds_shared(a, b, regions) for a, b in found)
        speech = sum(b - a for a, b in regions)
        print(f"  {name:10} speech {speech:5.1f} s  flagged {inside:4.2f} s ({60 * inside / max(speech, 1e-9):4.1f} s per min)")
        voices[name] = levelled(np.concatenate([audio[int(a * SR):int(b * SR)]
                                                for a, b in vad.speech_regions(audio, SR, min_silence=0.2)]))
    audio = media.load_audio(MEDIA / "audio/pa_sample.wav")
    turns = rttm.read_rttm(MEDIA / "refs/pa_sample.rttm")
    for s in sorted({t.speaker for t in turns}):  # each pa_sample speaker where the other is silent
        mine = frames_of([(t.start, t.end) for t in turns if t.speaker == s], len(audio) // overlap.HOP + 1)
        other = frames_of([(t.start, t.end) for t in turns if t.speaker != s], len(mine))
        keep = np.repeat(mine & ~other, overlap.HOP)[:len(audio)]
        voices[f"pa_{s}"] = levelled(audio[:len(keep)][keep])

    rng = np.random.default_rng(7)
    n = int(overlap.WINDOW * SR)
    names = sorted(voices)

    def window(k: str) -> np.ndarray:
        v = voices[k]
        s = int(rng.integers(0, max(1, len(v) - n)))
        return np.pad(v[s:s + n], (0, max(0, n - len(v[s:s + n]))))

    truth, score = [], []
    for i in range(args.pairs):
        a, b = rng.choice(names, 2, replace=False)
        one = window(a)
        two = one + window(b) * (1.0 if i % 2 else 10 ** (-6 / 20))
        for audio, label in ((one, 0), (two, 1)):
            p = overlap.probabilities(audio, net)
            score.append(p)
            truth.append(np.full(len(p), label, bool))
    t, s = np.concatenate(truth), np.concatenate(score)
    p, r, f = prf(t, s > overlap.THRESHOLD)
    print(f"\npair mixes of {len(names)} recorded voices ({args.pairs} pairs, 0 / -6 dB, 2 s): "
          f"frame AUC {auc(t, s):.3f}, P {p:.2f} R {r:.2f} F1 {f:.2f} at {overlap.THRESHOLD}")

    if args.cuts:
        sys.path.insert(0, str(ROOT / "bench"))
        import conversation

        print("\npeople cut together (no overlap: every flagged stretch is false)")
        for layout in conversation.LAYOUTS:
            path, truth = conversation.build(layout, args.cuts)
            audio = media.load_audio(path)
            found = overlap.spans(overlap.probabilities(audio, net))
            print(f"  {layout:10} {len(truth) - 1} cuts, speech {sum(b - a for a, b in vad.speech_regions(audio, SR)):.1f} s, "
                  f"flagged: {', '.join(f'{a:.2f}-{b:.2f}' for a, b in found) or 'nothing'}")


if __name__ == "__main__":
    main()
