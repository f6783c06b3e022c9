"""The face analysis of a long video in parts of its time, each analysed on its own (lipsync.faces.analyse
of the part's frames; on a cluster, a worker each), then joined into one analysis of the whole.

Each part starts with no tracks, one frame before its own frames, so its shot-cut detector sees the
change across its edge. Where no cut is there, a face on screen across the edge is joined to itself by
the overlap of its boxes (the tracker's own rule between frames: lipsync.track MIN_IOU within
MAX_GAP); a person seen again in a later part (after a cut, or off screen) is re-linked by appearance
under the rule the tracker uses across cuts (lipsync.track.same_person)."""

from __future__ import annotations

import logging
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy.optimize import linear_sum_assignment

from dubbing import video as vio

from . import geometry as G
from . import track as T
from .faces import SourceFaces, analyse

PART_SECONDS = 120.0  # s of video in one part

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class FacePart:
    """One part to analyse; it pickles (a task of a cluster)."""

    video: Path
    span: tuple[int, int]  # (first, stop) frame indices of the whole video, the frame before its own included
    folder: Path  # where its analysis is saved (lipsync.faces.SourceFaces), in its own track ids


def spans(n_frames: int, fps: float, seconds: float = PART_SECONDS) -> list[tuple[int, int]]:
    """(first, stop) frame indices of parts of about `seconds` s covering `n_frames` frames; one part
    when the video is shorter than one and a half."""
    size = max(1, int(round(seconds * fps)))
    if n_frames <= 1.5 * size:
        return [(0, n_frames)]
    edges = np.linspace(0, n_frames, int(round(n_frames / size)) + 1).round().astype(int)
    return [(int(a), int(b)) for a, b in zip(edges[:-1], edges[1:])]


def analyse_part(part: FacePart) -> Path:
    """Analyse the part's frames into part.folder; returns the folder."""
    work = part.folder.with_name(part.folder.name + ".work")
    try:
        analyse(part.video, work, span=part.span).save(part.folder)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return part.folder


def analyse_in_parts(video: str | os.PathLike, workdir: str | os.PathLike,
                     run_parts: Callable[[Callable, list], list], seconds: float = PART_SECONDS) -> SourceFaces:
    """The analysis of `video` made in parts of about `seconds` s, run by `run_parts(fn, items)` (a map,
    such as over the workers of a cluster), and joined; its landmarks in `workdir` (disk-backed)."""
    workdir = Path(workdir)
    times = vio.frame_times(video)[0]
    fps = (len(times) - 1) / max(times[-1] - times[0], 1e-3) if len(times) > 1 else 25.0
    own = spans(len(times), fps, seconds)
    parts = [FacePart(Path(video), (max(a - 1, 0), b), workdir / f"part-{k}") for k, (a, b) in enumerate(own)]
    done = [SourceFaces.load(f) for f in run_parts(analyse_part, parts)]
    short = [(p.span, len(d.tracks.times)) for p, d in zip(parts, done) if len(d.tracks.times) != p.span[1] - p.span[0]]
    if short:  # a part that decoded other frames than its span's would put the rest of the frames out of place
        (a, b), got = short[0]
        log.warning("face analysis: part of frames %d-%d decoded %d frames, not %d; analysing the video in one pass",
                    a, b, got, b - a)
        return analyse(video, workdir / "whole")
    return join(done, [a for a, _ in own], workdir, fps)


def join(parts: list[SourceFaces], first: list[int], workdir: Path, fps: float) -> SourceFaces:
    """One analysis of the parts (each in its own track ids, frames from 0) whose own frames start at
    `first` (each part but the first also holds the frame before): frames at their places in the
    whole, ids made distinct, joined across the edges and re-linked by appearance (see the module);
    the landmarks in workdir/landmarks.npy."""
    workdir.mkdir(parents=True, exist_ok=True)
    lead = [0] + [1] * (len(parts) - 1)  # local frames before a part's own
    count = first[-1] + len(parts[-1].tracks.times) - lead[-1]
    p0 = parts[0].tracks
    lm = np.lib.format.open_memmap(workdir / "landmarks.npy", mode="w+", dtype=np.float32,
                                   shape=(count, *p0.lm.shape[1:]))
    blend = np.zeros((count, *p0.blend.shape[1:]), np.float32)
    track = np.full((count, p0.track.shape[1]), -1, np.int32)
    filled = np.zeros(track.shape, bool)
    times, pts = np.zeros(count), np.zeros(count, np.int64)
    base, descriptors, members = 0, {}, {}  # global id -> (shape, colour); global id -> (part, local id)
    cut_frames: list[int] = []
    gap = max(1, int(T.MAX_GAP * fps))
    person: dict[int, int] = {}
    for k, (part, a, skip) in enumerate(zip(parts, first, lead)):
        tr = part.tracks
        b = a + len(tr.times) - skip
        lm[a:b], blend[a:b], filled[a:b] = tr.lm[skip:], tr.blend[skip:], tr.filled[skip:]
        times[a:b], pts[a:b] = tr.times[skip:], tr.pts[skip:]
        mine = np.where(tr.track >= 0, tr.track + base, -1)
        if skip:  # the frame before the edge, as this part saw it: where its faces continue from
            cuts = [int(i) for i in tr.extra.get("cut_frames", [])]
            _across_edge(track[max(a - gap, 0):a], lm[max(a - gap, 0):a], mine[:min([gap + 1, *cuts])],
                         tr.lm, person)
        track[a:b] = mine[skip:]
        cut_frames += [a + int(i) - skip for i in tr.extra.get("cut_frames", [])]
        for d in tr.extra.get("identity", []):
            descriptors[d["id"] + base] = (np.asarray(d["shape"]), np.asarray(d["colour"]))
        for tid in tr.ids:
            members[tid + base] = (k, tid)
            person.setdefault(tid + base, tid + base)
        base += max(tr.ids, default=-1) + 1
    seen = set(np.unique(track).tolist()) - {-1}  # (a track only in a part's frame before its edge is gone)
    person = {t: _root(t, person) for t in person if t in seen}
    person = _by_appearance(track, person, descriptors, members)
    track = np.where(track >= 0, np.vectorize(lambda t: person.get(int(t), int(t)), otypes=[np.int32])(track), -1)
    people = sorted(set(person.values()))
    identity = []
    for p in people:
        mine = [descriptors[t] for t in person if person[t] == p and t in descriptors]
        if mine:
            identity.append({"id": p, "shape": [round(float(x), 5) for x in np.mean([m[0] for m in mine], 0)],
                             "colour": [round(float(x), 5) for x in np.mean([m[1] for m in mine], 0)]})
    out = T.Tracks(times, pts, p0.width, p0.height, lm, blend, track, filled,
                   {"cuts": [float(times[i]) for i in cut_frames], "cut_frames": cut_frames,
                    "relinked": [[t, p] for t, p in sorted(person.items()) if t != p], "identity": identity,
                    "steadied": sum(int(part.tracks.extra.get("steadied", 0)) for part in parts)})
    T.fill_gaps(out, gap, cut_frames)
    templates, banks = {}, {}
    for t in sorted(person, key=lambda t: (person[t], t)):  # each person's earliest part first
        k, local = members[t]
        p = person[t]
        if local in parts[k].templates:
            templates.setdefault(p, parts[k].templates[local])
        if local in parts[k].banks:
            bank = banks.setdefault(p, parts[k].banks[local])
            for key, e in parts[k].banks[local].entries.items():
                bank.entries.setdefault(key, e)
    return SourceFaces(out, templates, banks)


def _across_edge(before: np.ndarray, before_lm: np.ndarray, after: np.ndarray, after_lm: np.ndarray,
                 person: dict[int, int]) -> None:
    """Record in `person` (id -> the id it continues) the tracks of the frames after an edge (`after`,
    from the frame before it, up to the part's first cut) that continue tracks of the frames before it
    (`before`, the last MAX_GAP s): the last box of each before, the first box of each after, matched
    by overlap (Hungarian, at least MIN_IOU), as the tracker links frames."""
    last = _boxes(before, before_lm, range(len(before) - 1, -1, -1))
    first = _boxes(after, after_lm, range(len(after)))
    if not last or not first:
        return
    b_ids, a_ids = list(last), list(first)
    cost = np.array([[1 - G.iou(first[a], last[b]) for b in b_ids] for a in a_ids])
    for r, c in zip(*linear_sum_assignment(cost)):
        if 1 - cost[r, c] >= T.MIN_IOU:
            person[a_ids[r]] = b_ids[c]


def _root(t: int, person: dict[int, int]) -> int:
    """The first id of the chain of continued tracks `t` belongs to."""
    while person.get(t, t) != t:
        t = person[t]
    return t


def _boxes(track: np.ndarray, lm: np.ndarray, frames) -> dict[int, np.ndarray]:
    """Track id -> its box at the first of `frames` (in the order given) where it is present."""
    out: dict[int, np.ndarray] = {}
    for f in frames:
        for slot in np.flatnonzero(track[f] >= 0):
            out.setdefault(int(track[f, slot]), G.bbox(np.asarray(lm[f, slot])))
    return out


def _by_appearance(track: np.ndarray, person: dict[int, int], descriptors: dict[int, tuple[np.ndarray, np.ndarray]],
                   members: dict[int, tuple[int, int]]) -> dict[int, int]:
    """`person` with each person (in order of first appearance) re-linked to an earlier one of another
    part that looks the same and is never on screen with them (track.same_person)."""
    roots = sorted(set(person.values()))
    present = {}
    for r in roots:
        mask = np.zeros(len(track), bool)
        for t in (t for t in person if person[t] == r):
            mask |= np.any(track == t, axis=1)
        present[r] = mask
    order = sorted(roots, key=lambda r: int(np.argmax(present[r])))
    decided: list[int] = []
    out = dict(person)
    for r in order:
        parts_of_r = {members[t][0] for t in person if person[t] == r}
        earlier = [(p, _descriptor(p, out, descriptors)) for p in decided
                   if not (present[p] & present[r]).any()
                   and not parts_of_r & {members[t][0] for t in out if out[t] == p}]
        p = T.same_person(_descriptor(r, person, descriptors), earlier)
        if p is None:
            decided.append(r)
            continue
        for t in [t for t in person if person[t] == r]:
            out[t] = p
        present[p] = present[p] | present[r]
    return out


def _descriptor(root: int, person: dict[int, int],
                descriptors: dict[int, tuple[np.ndarray, np.ndarray]]) -> tuple[np.ndarray, np.ndarray] | None:
    """The mean appearance of the ids `person` maps to `root`; None if none of them has one."""
    mine = [descriptors[t] for t in person if person[t] == root and t in descriptors]
    if not mine:
        return None
    return np.mean([m[0] for m in mine], 0), np.mean([m[1] for m in mine], 0)
