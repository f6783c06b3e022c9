"""The honest test of a dub's mouth: one person's clip cut in halves A and B, A's face driven by B's
audio through `dub lipsync` with the person's own lips off, against B's real mouth.

    PYTHONPATH=$PWD .venv/bin/python bench/lips_heldout.py [--out /tmp/lipsheldout] [--set lipsync.KEY=VALUE ...] [VIDEO ...]

For each video (default: vr_face1, vr_face2, ls_demo2 from ../shared/media) the clip is cut at the
frame nearest its middle into A (first half) and B (second half), both re-encoded near-losslessly.
`dub lipsync A --audio <B>` (flows.lipsync.lipsync_video) runs with `lipsync.own_motion: false` (as in every dub: the
new speech never says the video's own words), so the mouth drawn for B's speech comes from the
model alone; B's frames are never seen by the tool. The output and B are tracked again and their
mouth opening (inner-lip gap over mouth width, per frame) compared frame by frame:

- r: Pearson r of the output's opening against B's real opening;
- amp: amplitude ratio, std of the output's opening over std of B's;
- loud r: the baseline, B's voice loudness (speech band, per frame) taken as the mouth opening,
  against B's real opening. A model of the mouth that is worth having beats it.

B's own voice flatters any model that reads the voice's sound rather than its phones: a dub's mouth
is driven by another voice. So each clip is also driven by B's words spoken by a stock voice
(STOCK_VOICE, `stock_take`: each of B's transcript segments synthesized at the rate that fits its
span and placed where it starts), and the output's frames are mapped back onto B's through the
phones, both aligned on the same text (`take_time`): the "stock" columns. They are the figures that
say what a viewer of a dub sees. (Stop 28: a ridge regression from Whisper's encoder states to the
opening, fitted on A, predicted B's real mouth at r 0.45 on ls_demo2 from B's own voice, and at
0.10-0.16 from the stock take of the same words: it had learned the person's voice, not speech.)

drawn: the share of A's frames the output synced (drawn now, or in chunks kept from an earlier run).
A row under MIN_DRAWN is printed but left out of the means: its mouth is mostly A's own, which says
nothing of the model.

The last column is the person model's own check (sync.json `person`): fitted on the first 70 % of
A's frames, predicting the last 30 % from phones and loudness alone, beside the generic targets on
the same frames; the model drives the mouth only where it beat them.

Tuning and holding out: the settings of lipsync/person.py (RIDGES) were chosen on vr_face1 only
(TUNED); vr_face2 and ls_demo2 are held out, and the table marks each row.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
MEDIA = ROOT.parent / "shared" / "media"
sys.path.insert(0, str(ROOT))

TUNED = {"vr_face1"}  # clips the model's settings were chosen on; every other clip is held out
RATE = 16000  # Hz
STOCK_VOICE = "jm_kumo"  # the stock voice that speaks B's words in the dub-like drive
MIN_DRAWN = 0.9  # share of A's frames the output must have synced for its figures to be the model's (stop 35:
# LatentSync demo3's A was passed through, its own mouth scored against B as r 0.032)


def halves(video: Path, out: Path) -> tuple[Path, Path]:
    """Cut `video` at the frame nearest its middle into out/A.mp4 and out/B.mp4 (x264 crf 12, AAC)."""
    from dubbing import media
    from dubbing import video as vio

    t = vio.frame_times(video)[0]
    mid = float(t[len(t) // 2])
    out.mkdir(parents=True, exist_ok=True)
    a, b = out / "A.mp4", out / "B.mp4"
    enc = ["-c:v", "libx264", "-crf", "12", "-pix_fmt", "yuv420p", "-c:a", "aac", "-b:a", "192k"]
    if not a.exists():
        media.run_ffmpeg(["-y", "-i", str(video), "-t", f"{mid:.4f}", *enc, str(a)], "cutting A")
    if not b.exists():
        media.run_ffmpeg(["-y", "-i", str(video), "-ss", f"{mid:.4f}", *enc, str(b)], "cutting B")
    return a, b


def opening(video: Path, work: Path) -> tuple[np.ndarray, np.ndarray]:
    """(frame indices, mouth opening = inner-lip gap over mouth width) of the video's main face."""
    from lipsync import metrics as M
    from lipsync import track as T

    # the face seen longest, as the product's own measure takes it (metrics.pick). (Stop 35 joined pieces of
    # one face here: demo3's output had split where MediaPipe meshed it twice; the tracker keeps one of two
    # such meshes since stop 36, track.distinct.)
    main = M.pick(M.curves(T.track_file(video, work)))
    return main.frames, main.q[:, 0] / np.maximum(main.q[:, 1], 1e-6)


def compare(f_x: np.ndarray, x: np.ndarray, f_ref: np.ndarray, ref: np.ndarray) -> tuple[float, float, int]:
    """(Pearson r, std ratio x/ref, frames) over the frame indices both curves have."""
    common, ix, ir = np.intersect1d(f_x, f_ref, return_indices=True)
    a, b = x[ix], ref[ir]
    if len(common) < 3 or a.std() < 1e-9 or b.std() < 1e-9:
        return float("nan"), float("nan"), len(common)
    return float(np.corrcoef(a, b)[0, 1]), float(a.std() / b.std()), len(common)


def settings(pairs: list[str]):
    """The project's config with lipsync.own_motion off and `KEY=VALUE` overrides of the lipsync section."""
    import yaml

    from dubbing import config

    cfg = config.load()
    upd = {"own_motion": False}
    for p in pairs:
        k, v = p.split("=", 1)
        upd[k.removeprefix("lipsync.")] = yaml.safe_load(v)
    return cfg.model_copy(update={"lipsync": cfg.lipsync.model_copy(update=upd)})


def stock_take(b_audio: np.ndarray, cfg, voice: str = STOCK_VOICE) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """B's words spoken by a stock voice, as a dub speaks a line: each of B's transcript segments
    synthesized at the rate that fits its span and placed where it starts. Returns (samples at
    RATE Hz, B's phone boundaries s, the take's boundaries s): both aligned on the same text, so the
    two lists pair up and map B's time onto the take's (`take_time`)."""
    import librosa

    import languages
    from dubbing import align, resync, transcribe
    from dubbing.schema import Voice
    from dubbing.speak import Synthesizer

    tr = transcribe.transcribe(b_audio, cfg.asr)
    lang = languages.get(tr.language)
    synth, spk = Synthesizer(), Voice(speaker="B", backend="kokoro", name=voice)
    take = np.zeros(len(b_audio), np.float32)
    src, dst = [], []
    for seg, ph in resync.segment_phones(b_audio, tr, lang):
        if not ph:
            continue
        start, span = ph[0].start, ph[-1].end - ph[0].start
        rate = (synth.predict(seg.text, spk, lang) or span) / max(span, 1e-3)  # the rate that fits B's span
        said = synth.synthesize(seg.text, spk, lang, float(np.clip(rate, 0.7, 1.6)))
        y = librosa.resample(said.audio, orig_sr=said.sample_rate, target_sr=RATE)
        y = y[int(said.phones[0].start * RATE):]
        at = int(start * RATE)
        y = y[:max(0, len(take) - at)]
        take[at:at + len(y)] += y
        got = align.align(y, RATE, seg.text, lang)
        if len(got) != len(ph):  # the same text gives the same phones; a mismatch leaves the segment unmapped
            continue
        src += [p.start for p in ph] + [ph[-1].end]
        dst += [start + p.start for p in got] + [start + got[-1].end]
    return take, np.asarray(src), np.asarray(dst)


def take_time(t: np.ndarray, src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """B's times t (s) mapped onto the stock take's: piecewise linear through the paired phone
    boundaries, shifted by the nearest boundary's offset outside them (silence keeps its length)."""
    if len(src) < 2:
        return np.asarray(t, float)
    order = np.argsort(src, kind="stable")
    src, dst = src[order], np.maximum.accumulate(dst[order])
    out = np.interp(t, src, dst)
    out = np.where(t < src[0], t + dst[0] - src[0], out)
    return np.where(t > src[-1], t + dst[-1] - src[-1], out)


def resting(voice: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Which frame times t (s) fall in the voice's pauses (lipsync.analysis.pauses: where a drawn mouth
    rests), for samples `voice` at the metrics' rate."""
    from lipsync.analysis import pauses

    out = np.zeros(len(t), bool)
    for a, b in pauses(voice):
        out[(t >= a) & (t < b)] = True
    return out


def drive(a: Path, audio: Path, dest: Path, cfg):
    """`dub lipsync A --audio AUDIO` into dest: (output path, report, output frame times s, the
    voice's samples the mouth was driven by)."""
    from flows import lipsync as flows
    from lipsync import metrics as M
    from dubbing import video as vio

    path, rep, _ = flows.run(flows.lipsync_video, a, audio, dest, cfg, log_dir=dest)
    return path, rep, vio.frame_times(path)[0], M.samples(dest / f"{a.stem}.lipsync.work" / "voice.wav")


def run(video: Path, out: Path, cfg, stock: bool = True) -> dict:
    """The honest test on one clip: figures of the output and of the loudness baseline against B,
    driven by B's own audio and (stock) by B's words in a stock voice."""
    from dubbing import media
    from lipsync import metrics as M
    from dubbing import video as vio

    a, b = halves(video, out)
    y_b = media.load_audio(b, RATE)
    b_wav = media.write_wav(out / "B.wav", y_b, RATE)
    t_b = vio.frame_times(b)[0]
    f_b, o_b = opening(b, out / "track_B")
    path, rep, _, voice = drive(a, b_wav, out / "out", cfg)
    f_o, o_o = opening(path, out / "out" / "track_out")
    r, amp, n = compare(f_o, o_o, f_b, o_b)
    r_loud, _, _ = compare(np.arange(len(t_b)), M.envelope(voice, t_b), f_b, o_b)
    talk = ~resting(voice, t_b)[f_b]  # B's frames where B's voice sounds
    row = {"clip": video.stem, "set": "tuned" if video.stem in TUNED else "held out", "frames": n, "r": r,
           "amp": amp, "r_loud": r_loud, "person": getattr(rep, "person", None),
           "rest": float(1 - talk.mean()), "r_talk": compare(f_o, o_o, f_b[talk], o_b[talk])[0],
           "drawn": rep.synced_frames / max(rep.frames, 1), "skipped": sorted({w for *_, w in rep.skipped})}
    if stock:
        take, src, dst = stock_take(y_b, cfg)
        path, _, t_o, voice = drive(a, media.write_wav(out / "B_stock.wav", take, RATE), out / "stock", cfg)
        f_s, o_s = opening(path, out / "stock" / "track_out")
        at = take_time(t_b[f_b], src, dst)  # where B's frames fall in the stock take
        x = np.interp(at, t_o[f_s], o_s, np.nan, np.nan)  # the output's opening where each of B's frames falls
        ok = np.isfinite(x)
        row["r_stock"], row["amp_stock"], _ = compare(f_b[ok], x[ok], f_b, o_b)
        row["r_stock_talk"] = compare(f_b[ok & talk], x[ok & talk], f_b, o_b)[0]
        row["r_loud_stock"], _, _ = compare(f_b, M.loudness(voice, at), f_b, o_b)
        row["mapped"] = float(np.mean((at >= dst[0]) & (at <= dst[-1]))) if len(dst) else 0.0
    return row


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("videos", nargs="*", type=Path, default=[MEDIA / "video" / f"{n}.mp4" for n in
                                                           ("vr_face1", "vr_face2", "ls_demo2")])
    ap.add_argument("--out", type=Path, default=Path(tempfile.gettempdir()) / "lipsheldout")
    ap.add_argument("--set", dest="sets", action="append", default=[], help="lipsync.KEY=VALUE override")
    ap.add_argument("--no-stock", dest="stock", action="store_false", help="skip the drive by a stock voice")
    a = ap.parse_args()
    cfg = settings(a.sets)
    rows = [run(v, a.out / v.stem, cfg, a.stock) for v in a.videos]
    stock = f" {'r stock':>7} {'amp':>5} {'loud r':>6} {'mapped':>6} {'talk r':>6}" if a.stock else ""
    print(f"{'clip':10} {'set':9} {'frames':>6} {'drawn':>5} {'r':>6} {'amp':>6} {'loud r':>7} {'rest':>5} {'talk r':>6}{stock}  "
          "person model (self-check on held-out source)")
    for x in rows:
        p = x["person"]
        pm = "-" if p is None else (f"r {p.r:.2f} amp {p.amp:.2f} (generic r {p.r_generic:.2f} amp {p.amp_generic:.2f}) "
                                    f"on {p.frames} frames, {p.visemes} visemes seen, {'used' if p.used else 'not used'}")
        st = (f" {x['r_stock']:7.3f} {x['amp_stock']:5.2f} {x['r_loud_stock']:6.3f} {x['mapped']:6.0%}"
              f" {x['r_stock_talk']:6.3f}") if a.stock else ""
        print(f"{x['clip']:10} {x['set']:9} {x['frames']:6d} {x['drawn']:5.0%} {x['r']:6.3f} {x['amp']:6.3f} {x['r_loud']:7.3f} "
              f"{x['rest']:5.0%} {x['r_talk']:6.3f}{st}  {pm}")
    keys = ("r", "amp", "r_loud", "r_talk") + (("r_stock", "amp_stock", "r_loud_stock", "r_stock_talk")
                                               if a.stock else ())
    for x in rows:
        if x["drawn"] < MIN_DRAWN:  # its mouth is mostly the video's own: no figure of the model
            print(f"{x['clip']}: left out of the means, {x['drawn']:.0%} of its frames drawn ({'; '.join(x['skipped'])})")
    for s in ("tuned", "held out"):
        sel = [x for x in rows if x["set"] == s and x["drawn"] >= MIN_DRAWN]
        if sel:
            print(f"mean {s:9} " + "  ".join(f"{k} {np.nanmean([x[k] for x in sel]):.3f}" for k in keys))
    print("r, amp: the output's mouth opening (inner-lip gap / mouth width) against B's real one; loud r: B's voice "
          "loudness as the opening. The stock columns: the same with B's words spoken by a stock voice, as in a dub "
          "(its frames mapped onto B's through the phones; mapped: B's frames inside the mapped speech). rest: B's "
          "frames in its voice's pauses; talk r: r over the other frames alone. "
          "Issue 16's bar: r >= 0.6 (aim 0.8), amp 0.85-1.15.")


if __name__ == "__main__":
    main()
