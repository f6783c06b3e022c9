"""Several people cut together: who speaks, found from voice and face, against the truth (issue 13).

    .venv/bin/python bench/conversation.py [--to es] [--out /tmp/convbench] [--layout interview panel] [--voice-only]

Builds a conversation from ../shared/media clips at 1280x720, 25 f/s, whose truth is known shot by shot:
hard cuts between four people (vr_face1, vr_face2, the GRID speaker, ls_demo2's Portuguese speaker),
each person seen again after a cut, a two-person wide shot where they take turns (the listener's
frame held still), and a reaction shot (the listener on screen while the other one talks). Then
`dub translate` it and print:
  - speakers found against the people who speak, speaker confusion and DER (collar 0.25 s; the
    reference turns are whole shots, so DER's missed speech also counts the pauses inside them);
  - synced / speaking frames: of the frames where the person who speaks is on screen and a voice is
    heard (the diarization has someone talking: pauses inside a shot are not counted), those where the
    face at their place is re-rendered with the voice that speaks then (the face's track is assigned
    to a speaker the diarization has talking at that frame, and that speaker is this person);
  - the per-shot view, so a wrong shot can be found.
Two layouts, so one can be tuned on and the other held out: `interview` (tuning) and `panel`
(held out: other cuts of the same clips in another order, other turn lengths).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy.optimize import linear_sum_assignment

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from run import MEDIA, run  # noqa: E402

from dubbing import rttm  # noqa: E402
from dubbing.schema import SpeakerTurn  # noqa: E402

W, H, FPS, RATE = 1280, 720, 25, 48000
CLIPS = {"A": "video/vr_face1.mp4", "B": "video/vr_face2.mp4", "C": "video/ls_demo2.mp4", "D": "video/grid_bbaf2n.mpg"}
ENCODE = ["-c:v", "libx264", "-preset", "veryfast", "-crf", "18", "-pix_fmt", "yuv420p", "-c:a", "aac",
          "-ar", str(RATE), "-ac", "2"]
FIT = f"scale={W}:{H}:force_original_aspect_ratio=decrease,pad={W}:{H}:(ow-iw)/2:(oh-ih)/2,fps={FPS},setsar=1"
HALF = f"scale=-2:{H},crop={W // 2}:{H},fps={FPS},setsar=1"


@dataclass(frozen=True)
class Shot:
    """`who` talks (their clip's audio from `at` s for `seconds` s); `shown`: who is on screen, "A" alone
    (their own footage in sync), "A|B" side by side, or "~B" (B's frame held still: a reaction shot)."""

    who: str
    at: float
    seconds: float
    shown: str


LAYOUTS = {
    "interview": [Shot("A", 0.0, 3.0, "A"), Shot("B", 0.0, 2.5, "B"), Shot("A", 3.0, 3.0, "A"),
                  Shot("D", 0.0, 3.0, "D"), Shot("B", 2.5, 2.5, "B"), Shot("C", 0.0, 6.0, "C"),
                  Shot("A", 0.0, 3.0, "A|~B"), Shot("B", 0.0, 2.5, "~A|B"), Shot("A", 3.0, 3.0, "~B")],
    "panel": [Shot("C", 6.0, 4.0, "C"), Shot("B", 1.0, 3.0, "B"), Shot("D", 0.5, 2.5, "D"),
              Shot("A", 1.5, 4.0, "A"), Shot("C", 10.0, 5.0, "C"), Shot("B", 1.0, 3.0, "~A|B"),
              Shot("A", 0.0, 2.5, "A|~B"), Shot("D", 0.0, 3.0, "~C"), Shot("B", 2.0, 3.0, "B")],
}


def ffmpeg() -> str:
    import imageio_ffmpeg

    return imageio_ffmpeg.get_ffmpeg_exe()


def sh(*args: str) -> None:
    subprocess.run([ffmpeg(), "-hide_banner", "-loglevel", "error", "-y", *args], check=True)


def panel(person: str, shot: Shot, half: bool) -> tuple[list[str], str]:
    """(inputs, filter) of one person's picture for `shot`: their own frames in sync when they talk,
    their frame at the shot's start held still when they listen."""
    listening = person.startswith("~")
    name = person.lstrip("~")
    fit = HALF if half else FIT
    if listening:
        return ["-i", str(MEDIA / CLIPS[name])], f"trim=end_frame=1,{fit},loop=loop={int(shot.seconds * FPS)}:size=1:start=0"
    return ["-ss", f"{shot.at}", "-t", f"{shot.seconds}", "-i", str(MEDIA / CLIPS[name])], fit


def piece(shot: Shot, dest: Path) -> None:
    """One shot as a normalized clip: its picture and the talker's audio."""
    people = shot.shown.split("|")
    args, chains = [], []
    for k, p in enumerate(people):
        inp, f = panel(p, shot, len(people) > 1)
        args += inp
        chains.append(f"[{k}:v]{f}[v{k}]")
    args += ["-ss", f"{shot.at}", "-t", f"{shot.seconds}", "-i", str(MEDIA / CLIPS[shot.who])]
    stack = f"{''.join(f'[v{k}]' for k in range(len(people)))}hstack=inputs={len(people)}[v]" if len(people) > 1 \
        else "[v0]null[v]"
    sh(*args, "-filter_complex", ";".join(chains) + ";" + stack + f";[{len(people)}:a]aresample={RATE}[a]",
       "-map", "[v]", "-map", "[a]", "-t", f"{shot.seconds}", *ENCODE, str(dest))


def build(layout: str, work: Path) -> tuple[Path, list[tuple[float, float, Shot]]]:
    """The conversation and its truth: (start s, end s, shot) per shot."""
    work.mkdir(parents=True, exist_ok=True)
    dest = work / f"conv_{layout}.mp4"
    truth, t = [], 0.0
    for shot in LAYOUTS[layout]:
        truth.append((t, t + shot.seconds, shot))
        t += shot.seconds
    if not dest.exists():
        parts = []
        for k, shot in enumerate(LAYOUTS[layout]):
            p = work / f"{layout}_{k}.mp4"
            piece(shot, p)
            parts.append(p)
        lst = work / f"{layout}.txt"
        lst.write_text("".join(f"file '{p}'\n" for p in parts))
        sh("-f", "concat", "-safe", "0", "-i", str(lst), "-c", "copy", str(dest))
    return dest, truth


def place(shot: Shot, person: str) -> tuple[float, float] | None:
    """The x range (0..1 of the frame width) where `person` is seen in `shot` (None: not seen)."""
    people = [p.lstrip("~") for p in shot.shown.split("|")]
    if person not in people:
        return None
    k = people.index(person)
    return k / len(people), (k + 1) / len(people)


def score(job: Path, truth: list[tuple[float, float, Shot]], lang: str) -> dict:
    """Speakers, DER and synced / speaking frames of a finished job against the truth."""
    from lipsync.faces import SourceFaces

    dia = json.loads((job / "source/diarization.json").read_text())
    hyp = [SpeakerTurn(start=t["start"], end=t["end"], speaker=t["speaker"]) for t in dia["turns"]]
    ref = [SpeakerTurn(start=a, end=b, speaker=s.who) for a, b, s in truth]
    parts = rttm.der_parts(ref, hyp)
    # hypothesis speaker -> person: the mapping that maximizes time together
    people, hyps = sorted({s.who for *_, s in truth}), sorted({t.speaker for t in hyp})
    both = np.array([[sum(max(0.0, min(b, t.end) - max(a, t.start)) for a, b, s in truth if s.who == p
                          for t in hyp if t.speaker == h) for h in hyps] for p in people])
    person_of = {hyps[j]: people[i] for i, j in zip(*linear_sum_assignment(-both))}
    sync = json.loads((job / lang / "sync.json").read_text())
    speaker_of_track = {int(tid): spk for spk, tids in sync.get("faces", {}).items() for tid in tids}
    tr = SourceFaces.load(job / "source/faces").tracks
    centre = np.asarray(tr.lm[:, :, :, 0].mean(-1)) / tr.width  # (frames, slots) x of each face, 0..1
    rows, speaking, synced = [], 0, 0
    for a, b, shot in truth:
        where = place(shot, shot.who)
        frames = np.flatnonzero((tr.times >= a) & (tr.times < b))
        n_ok, seen, ids = 0, 0, set()
        for i in frames if where else []:
            t = tr.times[i]
            talking = {u.speaker for u in hyp if u.start <= t < u.end}
            if not talking:  # a pause: nobody to draw
                continue
            seen += 1
            for slot in np.flatnonzero(tr.track[i] >= 0):
                if where[0] <= centre[i, slot] < where[1]:
                    ids.add(int(tr.track[i, slot]))
                    spk = speaker_of_track.get(int(tr.track[i, slot]))
                    n_ok += spk in talking and person_of.get(spk) == shot.who
                    break
        speaking += seen
        synced += n_ok
        voices = sorted({person_of.get(u.speaker, u.speaker) for u in hyp if u.start < b and u.end > a and
                         min(b, u.end) - max(a, u.start) > 0.3})
        rows.append((a, b, shot, seen, n_ok, voices, sorted(ids)))
    return {"people": len(people), "found": len(hyps), "der": parts.der, "confusion": parts.confusion / parts.total,
            "speaking": speaking, "synced": synced, "rows": rows, "map": person_of, "tracks": speaker_of_track}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--to", default="es")
    ap.add_argument("--out", type=Path, default=Path("/tmp/convbench"))
    ap.add_argument("--layout", choices=list(LAYOUTS), nargs="+", default=list(LAYOUTS))
    ap.add_argument("--score-only", action="store_true", help="score the jobs already in --out")
    ap.add_argument("--voice-only", action="store_true", help="speakers from the voice alone (diarization.faces: false)")
    a = ap.parse_args()
    extra: tuple[str, ...] = ()
    if a.voice_only:
        a.out.mkdir(parents=True, exist_ok=True)
        (a.out / "voice_only.yaml").write_text("diarization:\n  faces: false\n")
        extra = ("--config", str(a.out / "voice_only.yaml"))
    if not MEDIA.exists():
        sys.exit("../shared/media not present: nothing to benchmark")
    for layout in a.layout:
        path, truth = build(layout, a.out / "inputs")
        if not a.score_only:
            res = run(layout, path, a.to, a.out / "jobs", extra)
            if "error" in res:
                print(f"{layout}: FAILED {res['error']}")
                continue
            print(f"\n## {layout}: {truth[-1][1]:.1f} s -> {a.to}: {res['wall']:.0f} s wall, {res['cpu']:.0f} CPU-s")
        first = a.to.split(",")[0]
        s = score(a.out / "jobs" / path.stem, truth, first)
        print(f"{layout}: people who speak {s['people']}, speakers found {s['found']} (map {s['map']}, "
              f"tracks {s['tracks']}); speaker confusion {100 * s['confusion']:.1f} %, DER {100 * s['der']:.1f} %; "
              f"synced / speaking frames {s['synced']} / {s['speaking']} = {100 * s['synced'] / max(s['speaking'], 1):.0f} %")
        for a0, b0, shot, seen, ok, voices, ids in s["rows"]:
            print(f"  {a0:6.2f}-{b0:6.2f} s  {shot.who} talks, on screen {shot.shown:<6} synced {ok:>3}/{seen:<3} "
                  f"voices heard: {','.join(voices):<6} face tracks there: {ids}")


if __name__ == "__main__":
    main()
