"""Entry points: re-sync a video's mouths to a new voice, or make a still portrait speak."""

from __future__ import annotations

import logging
import functools
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from dubbing import video as vio
from dubbing.errors import DubError
from dubbing.schema import SpeakerTurn

from . import analysis as A
from . import chunks as CH
from . import faces as F
from . import geometry as G
from . import jali as J
from . import landmarks as L
from . import metrics as M
from . import person as PM
from . import render as R
from . import retime as RT
from . import smooth as S
from . import speakers as SP
from . import track as T
from .mouth_model import Bank
from .report import SyncReport

Phones = Sequence[tuple[str, float, float, str]]
Progress = Callable[[int, int], None] | None
CRF = 12  # x264 quality of the re-rendered video (near-lossless; the mux copies it as it is): output.crf
PRESET = "veryfast"  # x264 speed preset: output.preset

log = logging.getLogger(__name__)


def _overrides(language: str | None) -> dict[str, str] | None:
    if not language:
        return None
    import languages
    return languages.get(language).visemes or None


def _bank_weights(plan: A.TrackPlan, bank: Bank) -> list[dict[int, float]]:
    """Per frame {bank item: weight}: changes of choice faded over 3 frames, without crops that would be
    stretched (Bank.unstretched)."""
    if not len(bank.items):
        return [{} for _ in plan.frames]
    fades = S.crossfade_weights(plan.bank_choice, 3)
    return [bank.unstretched(w, float(o), int(c)) for w, o, c in zip(fades, plan.q_dst[:, 0], plan.bank_choice)]


def _releasing_landmarker(fn):
    """Close the thread's face landmarker when `fn` returns (see track.Landmarker.release)."""
    @functools.wraps(fn)
    def run(*a, **kw):
        try:
            return fn(*a, **kw)
        finally:
            T.Landmarker.release()

    return run


@_releasing_landmarker
def sync_video(video: Path, audio: Path, phones: Phones, source_turns: list[SpeakerTurn], out_video: Path,
               workdir: Path, strength: float = 0.8, progress: Progress = None,
               language: str | None = None, faces: F.SourceFaces | None = None,
               jaw_from_voice: float = J.WEIGHT, retime: RT.TimeMap | None = None,
               source_speech: tuple[Phones, np.ndarray | Path] | None = None, person_drives: bool = True,
               crf: int = CRF,
               preset: str = PRESET, shared_chunks: Path | None = None, measure: bool = True,
               run_parts: Callable[[Callable, list], list] | None = None, sole: bool = False,
               kept: Sequence[tuple[float, float, str]] = ()) -> SyncReport:
    """Re-render the mouths of the speaking faces of `video` to follow `phones` (IPA, start s, end s,
    speaker) and write a video-only H.264 file with the source's frame timestamps.

    Faces that do not speak, frames that cannot be synced, and a speaking face more than
    analysis.IDLE_MARGIN s from its new speech and its own turns with its lips at rest pass through
    untouched (not drawn; chunks of such frames only are shared across languages); the
    report lists skipped spans and the sync metrics of the output against `audio` (on windows of a
    long output: metrics.measure_spans). jaw_from_voice:
    0..1, how much the jaw follows the loudness of `audio` rather than the visemes (lipsync.jali). `faces`: the
    source's face analysis when the caller keeps one (faces.analyse); otherwise it is made here.
    `retime`: where `audio` says the source's own words, when they were said in the source
    (lipsync.retime); there the faces show their own lips, moved in time, instead of the visemes.
    `source_speech`: the phones the video's own audio says (IPA, start s, end s, speaker) and its voice
    (samples at metrics.AUDIO_RATE, or its file): each speaking face's mouth model is learned from them
    and its own frames (lipsync.person), checked on held-out frames (report.person), and drives its new
    mouth where the check passed and `person_drives`; elsewhere the generic mouth opens as wide as the
    person's does while speaking in the source (person.as_wide).
    Rendered chunks are kept in `workdir/chunks`: calling again with changed phones re-renders only
    the chunks whose mouths changed. Chunks that draw nothing (every frame passed through) are the same
    for every audio: with `shared_chunks` they are kept there, encoded once for all the languages of a
    source. `crf`, `preset`: x264's quality and speed for the rendered video. `measure`: False leaves the
    output's sync figures out (the written file is not tracked again; about as long as the render).
    `run_parts`: how the chunks to render run as parts of about PART_S seconds, each decoding only its
    own frames: a map (function, parts) -> results, such as one that sends them to the workers of a
    cluster (the parts pickle; the video and `workdir` must be at the same paths there). None: here, in
    one decode pass. `sole`: one face on screen with one voice speaks whatever its own mouth did
    (speakers.assign; `dub lipsync`, where the user names the video to re-sync). `kept`: spans (start s,
    end s, speaker) where `audio` is that speaker's own voice from the source (dubbing.kept_speech):
    their face is left as it is there.
    """
    video, out_video, workdir = Path(video), Path(out_video), Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    overrides = _overrides(language)
    info = vio.probe(video)
    n = len(vio.frame_times(video)[0])
    total = 3 * n
    tick = (lambda k: progress(k, total)) if progress else (lambda k: None)
    clock = time.perf_counter()
    seconds: dict[str, float] = {}

    def lap(phase: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        seconds[phase] = round(seconds.get(phase, 0.0) + now - clock, 2)
        clock = now

    if faces is None:
        faces = F.analyse(video, workdir / "track", lambda k, _: tick(k))
        lap("track")
    tracks, templates, banks = faces.tracks, faces.templates, faces.banks
    times = tracks.times
    n = len(times)
    dt = float(np.median(np.diff(times))) if n > 1 else 1 / float(info.rate)
    report = SyncReport(frames=n, tracks=len(tracks.ids), strength=strength,
                        own_motion=None if retime is None else retime.matched)
    skipped: list[tuple[float, float, str]] = []
    if times.size and phones and max(p[2] for p in phones) > times[-1] + dt:
        skipped.append((float(times[-1] + dt), float(max(p[2] for p in phones)), "audio longer than video"))

    # who speaks
    seen = M.openings(tracks)
    try:
        src_env = M.envelope(video, times)
    except Exception as e:  # a video without an audio stream
        log.info("no loudness from the audio of %s (%s: %s): speakers found from faces alone", video,
                 type(e).__name__, e)
        src_env = None
    turns = [(t.start, t.end, t.speaker) for t in source_turns]
    assigned, _ = SP.assign({k: v[0] for k, v in seen.items()}, {k: v[1] for k, v in seen.items()},
                            times, turns, src_env, sole=sole)
    for tid, spk in sorted(assigned.items(), key=lambda ts: -len(seen[ts[0]][0])):
        report.speakers.setdefault(spk, tid)
        report.faces.setdefault(spk, []).append(tid)
    for spk in sorted({p[3] for p in phones}):
        if spk not in report.speakers:
            ph = [p for p in phones if p[3] == spk]
            skipped.append((min(p[1] for p in ph), max(p[2] for p in ph), f"no face found for speaker {spk}"))

    plans: list[A.TrackPlan] = []
    voice = M.samples(audio)  # decoded once for the pauses and the jaw (the metrics read it again)
    voice_pauses = A.pauses(voice) if assigned else None
    jaw_act = J.activation(M.envelope(voice, times), times, voice_pauses) if assigned and jaw_from_voice > 0 else None
    target_open = np.full(n, np.nan)
    src_voice = M.samples(source_speech[1]) if source_speech is not None and assigned else None
    src_pauses = None if src_voice is None else A.pauses(src_voice)
    src_act = None if src_pauses is None or jaw_act is None else \
        J.activation(M.envelope(src_voice, times), times, src_pauses)
    del src_voice
    for tid, spk in assigned.items():
        f, lm = tracks.landmarks(tid)
        ph = [(s, a, b) for s, a, b, who in phones if who == spk]
        own_turns = [(u.start, u.end) for u in source_turns if u.speaker == spk]
        own_ph = None if src_pauses is None else \
            A.outside_pauses([p[:3] for p in source_speech[0] if p[3] == spk], src_pauses, overrides=overrides)
        plan, reasons = A.plan_track(tid, f, lm, templates[tid], times, ph, banks[tid], strength, overrides,
                                     voice_pauses=voice_pauses,
                                     jaw_activation=None if jaw_act is None else jaw_act[f], jaw_weight=jaw_from_voice,
                                     own_motion=None if retime is None else
                                     (retime.source_time(times[f]), retime.weight(times[f])),
                                     person_drives=person_drives, person_source=None if own_ph is None else
                                     (own_ph, None if src_act is None else src_act[f]),
                                     busy=None if retime is not None else   # a re-sync keeps every frame
                                     [(a, b) for _, a, b in ph] + own_turns,
                                     own_speech=(own_turns if own_ph is None else [(a, b) for _, a, b in own_ph],
                                                 own_turns),
                                     kept=[(a, b) for a, b, who in kept if who == spk])
        plans.append(plan)
        target_open[f] = plan.q_dst[:, 0]
        skipped += A.spans(times[f], reasons, dt)
        # speaker's phones where their face is not on screen
        present = np.zeros(n, bool)
        present[f] = True
        active = PM.within(times, ph)
        skipped += A.spans(times, ["no face in frame" if a and not p else "" for a, p in zip(active, present)], dt)
        del f, lm
    del voice  # through the render, a long video's voice is held by nobody: the metrics read it again

    lap("plan")
    # render pass, in cached chunks
    by_frame: dict[int, list[tuple[A.TrackPlan, int, dict[int, float]]]] = {}
    for plan in plans:
        weights = _bank_weights(plan, banks[plan.tid])
        for j, fi in enumerate(plan.frames):
            if plan.weight[j] > 0:
                by_frame.setdefault(int(fi), []).append((plan, j, weights[j]))
    st = video.stat()
    salt = f"{video.resolve()}|{st.st_size}|{st.st_mtime_ns}|{info.width}x{info.height}|crf{crf}|{preset}"
    keys, values = _frame_draws(n, by_frame, banks)
    chunks = CH.plan(times, tracks.pts, keys, values, salt)
    own = workdir / "chunks"
    folders = {c.key: shared_chunks if shared_chunks is not None and not any(keys[c.first:c.stop]) else own
               for c in chunks}
    report.synced_frames = len(by_frame)
    report.rendered_frames, render_s = _render_chunks(video, info, tracks.times, tracks.pts, chunks, by_frame, banks,
                                                      folders, lambda i: tick(n + i + 1), crf, preset, run_parts)
    report.render_fps = round(report.rendered_frames / render_s, 1) if render_s > 0 else None
    vio.concat([folders[c.key] / f"{c.key}.mp4" for c in chunks], out_video)
    CH.prune(own, [c for c in chunks if folders[c.key] == own])  # the shared folder serves other languages too
    if not plans:
        skipped.append((0.0, float(times[-1] + dt) if n else 0.0, "no speaking face found; video passed through"))
    lap("render")

    # metrics on the written file
    if measure and plans and n > 2:
        main = max(plans, key=lambda p: len(p.frames))
        spk = assigned[main.tid]
        box = seen[main.tid][2]
        report.person = main.person
        voice = M.samples(audio)
        drawn = np.zeros(n, bool)
        drawn[main.frames[main.weight > 0]] = True
        parts = [M.evaluate(out_video, voice, workdir / "metrics" / str(k), phones, spk, target_open, video, tracks,
                            box, overrides, span=span) for k, span in enumerate(M.measure_spans(times, drawn))]
        for k, v in M.pooled(parts).items():
            setattr(report, k, v)
        report.measured_frames = sum(p.frames for p in parts)
        lap("measure")
    tick(total)
    report.skipped = sorted(skipped)
    report.seconds = seconds
    for scratch in ("track", "metrics"):
        shutil.rmtree(workdir / scratch, ignore_errors=True)
    return report


def talking_faces(audio: Path | np.ndarray, faces: F.SourceFaces, turns: Sequence[tuple[float, float]]
                  ) -> dict[int, tuple[int, float]]:
    """Which face visibly talks in each of `turns` ((start s, end s) of the voice): {turn index: (track
    id, r)}; see speakers.talkers. Track ids are people: tracks of one person across cuts share one.
    `audio`: the source's audio (a file, or samples at metrics.AUDIO_RATE already decoded)."""
    tracks = faces.tracks
    if not tracks.ids or not turns:
        return {}
    seen = M.openings(tracks)
    env = M.envelope(audio, tracks.times)
    return SP.talkers({k: v[0] for k, v in seen.items()}, {k: v[1] for k, v in seen.items()}, tracks.times, turns, env)


def _frame_draws(n: int, by_frame: dict, banks: dict[int, Bank]) -> tuple[list[bytes], "_FrameValues"]:
    """What each frame draws, for the chunk cache: (digest of which faces, meshes and bank entries
    (b"" = passed through), the points in px and blend weights it draws with, made when read)."""
    bank_keys = {tid: CH.digest_arrays(*[x for e in b.items for x in (e.crop, e.pts)]) for tid, b in banks.items()}
    tris: dict[int, bytes] = {}
    keys = []
    for i in range(n):
        k = []
        for plan, _, wts in by_frame.get(i, []):
            if plan.tid not in tris:
                tris[plan.tid] = CH.digest_arrays(plan.tris)
            k += [tris[plan.tid], bank_keys[plan.tid], repr(sorted(wts)).encode()]
        keys.append(b"".join(k))
    return keys, _FrameValues(by_frame)


class _FrameValues:
    """frame_values[a:b] for chunks.plan, read from the plans: a copy of every frame's points held for the
    whole video grew with its length (three copies, ~9 kB per frame, with the chunks' own)."""

    def __init__(self, by_frame: dict):
        self.by_frame = by_frame

    def __getitem__(self, frames: slice) -> list[np.ndarray]:
        out = []
        for i in range(frames.start, frames.stop):
            v = [x for plan, j, wts in self.by_frame.get(i, [])
                 for x in (plan.src[j].ravel(), plan.dst[j].ravel(), plan.ring[j].ravel(), [wts[w] for w in sorted(wts)])]
            out.append(np.concatenate(v) if v else np.zeros(0))
        return out


PART_S = 60.0  # seconds of video in one part of a render run by `run_parts`


def _render_chunks(video: Path, info: vio.VideoInfo, times: np.ndarray, pts: np.ndarray, chunks: list[CH.Chunk],
                   by_frame: dict, banks: dict[int, Bank], folders: dict[str, Path], tick: Callable[[int], None],
                   crf: int = CRF, preset: str = PRESET, run_parts: Callable[[Callable, list], list] | None = None
                   ) -> tuple[int, float]:
    """Render and encode the chunks not already in their folder (`folders[chunk.key]`): in one decode
    pass that stops after the last chunk to make, or, with `run_parts`, as parts of about PART_S seconds
    of video (see sync_video). `times`, `pts`: every frame's time (s) and pts, as the video's frames are.

    Returns (frames rendered, seconds spent rendering them, decode and encode not counted)."""
    for folder in set(folders.values()):
        folder.mkdir(parents=True, exist_ok=True)
    todo = [c for c in chunks if not CH.reusable(folders[c.key], c)]
    if not todo:
        return 0, 0.0
    if run_parts is None:
        return _render(_Part(video, info, todo, _PlanDraws(by_frame), banks, folders, crf, preset), tick)
    parts, group = [], [todo[0]]
    for c in todo[1:]:
        if c.first != group[-1].stop or times[c.first] - times[group[0].first] >= PART_S:
            parts.append(group)
            group = []
        group.append(c)
    parts.append(group)
    done = run_parts(_render, [_part(video, info, pts, g, by_frame, banks, folders, crf, preset) for g in parts])
    tick(todo[-1].stop - 1)
    return sum(r for r, _ in done), sum(s for _, s in done)


Draw = tuple[int, np.ndarray, np.ndarray, np.ndarray, np.ndarray, dict[int, float]]  # one face on one frame:
# (track id, src, dst, ring px, triangles, bank weights), as render.render_face takes them


@dataclass
class _Part:
    """Chunks to render, with what they draw (frame index -> faces), self-contained: it pickles."""

    video: Path
    info: vio.VideoInfo
    chunks: list[CH.Chunk]  # in order
    draws: "dict[int, list[Draw]] | _PlanDraws"  # frame index -> the faces it draws (read with .get)
    banks: dict[int, Bank]
    folders: dict[str, Path]
    crf: int
    preset: str
    pts: np.ndarray | None = None  # every frame's pts: a part reaches its first chunk by a seek, not by
    # decoding from the video's start


class _PlanDraws:
    """frame index -> the faces it draws, read from the plans when asked (dict.get's way)."""

    def __init__(self, by_frame: dict):
        self.by_frame = by_frame

    def get(self, i: int, default: list[Draw] | None = None) -> list[Draw] | None:
        if i not in self.by_frame:
            return default
        return [(plan.tid, plan.src[j], plan.dst[j], plan.ring[j], plan.tris, wts) for plan, j, wts in self.by_frame[i]]


def _part(video: Path, info: vio.VideoInfo, pts: np.ndarray, chunks: list[CH.Chunk], by_frame: dict,
          banks: dict[int, Bank], folders: dict[str, Path], crf: int, preset: str) -> _Part:
    """A part that carries copies of its own frames' points, its faces' banks and its chunks' values,
    not the plans of the whole video."""
    read = _PlanDraws(by_frame)
    draws = {i: read.get(i) for c in chunks for i in range(c.first, c.stop) if i in by_frame}
    tids = {d[0] for ds in draws.values() for d in ds}
    return _Part(video, info, [c.fixed() for c in chunks], draws, {t: banks[t] for t in tids},
                 {c.key: folders[c.key] for c in chunks}, crf, preset, pts=pts)


def _render(part: _Part, tick: Callable[[int], None] | None = None) -> tuple[int, float]:
    """Render and encode a part's chunks in one decode pass to its last chunk: (frames rendered, seconds
    spent rendering them)."""
    tick = tick or (lambda i: None)
    todo = {c.first: c for c in part.chunks}
    first, end = part.chunks[0].first, part.chunks[-1].stop
    wanted = np.zeros(end, bool)
    for c in part.chunks:
        wanted[c.first:c.stop] = True
    info = part.info
    chunk, writer, rendered, render_s = None, None, 0, 0.0
    try:
        seek = part.pts is not None and first > 0
        for fr in vio.frames(part.video, wanted, span=(first, end) if seek else None, pts=part.pts):
            if fr.index >= end:
                break
            tick(fr.index)
            if writer is None:
                chunk = todo.get(fr.index)
                if chunk is None:
                    continue
                folder = part.folders[chunk.key]
                CH.forget(folder, chunk)
                writer = vio.VideoWriter(folder / f"{chunk.key}.mp4", info.width, info.height, info.time_base,
                                         info.rate, crf=part.crf, preset=part.preset, b_frames=False)
            img = fr.rgb
            jobs = part.draws.get(fr.index, [])
            if jobs:
                img = img.copy()
                t0 = time.perf_counter()
                for tid, src, dst, ring, tris, wts in jobs:
                    items = part.banks[tid].items
                    R.render_face(img, src, dst, ring, tris, [(items[k], v) for k, v in wts.items()])
                render_s += time.perf_counter() - t0
                rendered += 1
            writer.write(img, fr.pts)
            if fr.index == chunk.stop - 1:
                writer.close()
                writer = None
                CH.remember(folder, chunk)
    finally:
        if writer is not None:
            writer.close(ok=False)
    return rendered, render_s


@_releasing_landmarker
def animate(image: Path, audio: Path, phones: Phones, out_video: Path, workdir: Path, fps: float = 25.0,
            progress: Progress = None, language: str | None = None, jaw_from_voice: float = J.WEIGHT,
            crf: int = CRF, preset: str = PRESET) -> SyncReport:
    """Make the face in a still `image` speak `phones` (IPA, start s, end s, speaker) for the length of
    `audio`, with blinks at its pauses and head motion driven by its prosody (lipsync.still); writes a
    video-only H.264 file at `fps`, then measures it as any re-synced video (metrics.evaluate).
    jaw_from_voice: as in sync_video."""
    from fractions import Fraction

    import cv2

    from . import still as ST

    image, out_video, workdir = Path(image), Path(out_video), Path(workdir)
    bgr = cv2.imread(str(image), cv2.IMREAD_COLOR)
    if bgr is None:
        raise DubError(f"cannot read image {image}")
    rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
    rgb = rgb[: rgb.shape[0] - rgb.shape[0] % 2, : rgb.shape[1] - rgb.shape[1] % 2]
    faces = T.Landmarker.get().detect_crop(rgb, (0, 0, rgb.shape[1], rgb.shape[0]), size=max(rgb.shape[:2]))
    if not faces:
        raise DubError(f"no face found in {image}")
    face = max(faces, key=lambda f: np.ptp(f.lm[:, 0]))
    lm478 = face.lm.astype(np.float64)
    lm = lm478[L.SUBSET]
    voice = M.samples(audio)
    dur = len(voice) / M.AUDIO_RATE
    if phones:
        dur = max(dur, max(p[2] for p in phones))
    n = max(1, int(np.ceil(dur * fps)))
    times = np.arange(n) / fps
    template = G.canonical_template(lm)
    bank = Bank()
    teeth = ST.teeth_colour(rgb, lm)
    bank.entries[(0, 0)] = ST.synth_interior(rgb, lm, template, ST.SHUT_OPENING, shut=True)
    for k, opening in enumerate(ST.OPENINGS):
        bank.entries[(k + 1, 0)] = ST.synth_interior(rgb, lm, template, opening, teeth)
    entries = bank.items
    ph = [(s, a, b) for s, a, b, _ in phones]
    loud = M.envelope(voice, times)
    plan, reasons = A.plan_track(0, np.arange(n), np.broadcast_to(lm, (n,) + lm.shape).copy(), template, times,
                                 ph, bank, 1.0, _overrides(language), still=True,
                                 jaw_activation=J.activation(loud), jaw_weight=jaw_from_voice)
    pose = ST.head_motion(times, loud, ST.pitch(voice, M.AUDIO_RATE, times))
    blinks = ST.blink_curve(times, ST.blink_times(times, loud))
    head = ST.HeadRig(lm478, face.z, rgb.shape)
    tb = Fraction(1, 1000)
    render_s = 0.0
    with vio.VideoWriter(out_video, rgb.shape[1], rgb.shape[0], tb, Fraction(fps).limit_denominator(1001), crf=crf,
                         preset=preset) as w:
        for i in range(n):
            t0 = time.perf_counter()
            img = rgb.copy()
            R.render_face(img, plan.src[i], plan.dst[i], plan.ring[i], plan.tris,
                          ST.interior_weights(entries, float(plan.q_dst[i, 0])))
            ST.blink(img, lm478, blinks[i])
            img = head.apply(img, pose[i])
            render_s += time.perf_counter() - t0
            w.write(img, int(round(times[i] * 1000)))
            if progress:
                progress(i + 1, n)
    rep = M.evaluate(out_video, voice, workdir / "metrics", phones, None, plan.q_dst[:, 0])
    shutil.rmtree(workdir / "metrics", ignore_errors=True)
    return rep.model_copy(update=dict(frames=n, synced_frames=n, rendered_frames=n, tracks=1, speakers={"still": 0},
                                      strength=1.0, render_fps=round(n / render_s, 1) if render_s else None,
                                      measured_frames=n, skipped=[]))
