"""Who speaks, from voice and face: the voice's speaker clusters checked against the faces seen talking.

Diarization from the voice alone joins people who sound alike and splits one person whose voice
changes. A video says more: in a turn where one face visibly talks (lipsync.speakers.talkers), that
face's person is speaking. So:
  - a voice cluster heard from two different people's talking faces is split, when the parts also
    sound apart (their mean d-vectors below SPLIT_BELOW: one person's two halves score 0.83-0.88); its
    turns where no face talks go to the part whose voice is nearest;
  - two voice clusters heard only from one person's talking face (one person across cuts) are joined,
    when they never talk at once and sound as alike as one person does (JOIN_ABOVE): a voice-over or
    an interpreter heard over a face that happens to move stays apart.
The face only proposes; the voice must agree, so a person the tracker failed to re-link across a cut
(two track ids, one voice) is not split in two. Every decision is kept, to say which evidence decided.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from .schema import Diarization, SpeakerTurn

# Resemblyzer cosines (../shared/MODELS.md, and issue 15's measurements): one person's two halves
# 0.83-0.88, two different people 0.68-0.74 (the interview's two people the voice had joined: 0.46).
SPLIT_BELOW = 0.80  # cosine of two parts' mean d-vectors under which they are two people
JOIN_ABOVE = 0.75  # cosine over which two clusters seen on one face are one person
MIN_EVIDENCE = 1.0  # seconds of turns where a person's face talks, for that face to count
MIN_PART = 0.5  # seconds: a turn is cut at a shot cut only into parts this long

Embed = Callable[[list[tuple[float, float]]], np.ndarray]  # spans (s) -> unit d-vectors (n, d)


@dataclass(frozen=True)
class Decision:
    """One change the faces made to the voice's clusters (or one they proposed and the voice refused)."""

    kind: str  # "split" | "join" | "kept apart" | "kept together"
    speakers: tuple[str, ...]  # voice clusters before
    faces: tuple[int, ...]  # face track (person) ids that proposed it
    cosine: float  # how alike the voices sound
    seconds: float  # seconds of turns where those faces talk


def _unit(v: np.ndarray) -> np.ndarray:
    n = float(np.linalg.norm(v))
    return v / n if n > 0 else v


def _mean(emb: np.ndarray, weights: Sequence[float]) -> np.ndarray:
    return _unit((emb * np.asarray(weights, float)[:, None]).sum(0))


def at_cuts(turns: Sequence[SpeakerTurn], cuts: Sequence[float], min_part: float = MIN_PART) -> list[SpeakerTurn]:
    """`turns` cut in two at each shot cut (s) that leaves both parts at least `min_part` s long: a voice
    heard across a cut may be two people, and each shot's face can then say so."""
    out = []
    for t in turns:
        edges = [t.start]
        for c in sorted(cuts):
            if edges[-1] + min_part <= c <= t.end - min_part:
                edges.append(c)
        edges.append(t.end)
        out += [SpeakerTurn(start=a, end=b, speaker=t.speaker) for a, b in zip(edges, edges[1:])]
    return out


def fuse(dia: Diarization, talking: dict[int, tuple[int, float]], embed: Embed
         ) -> tuple[Diarization, list[Decision]]:
    """`dia` with its speakers split and joined by the faces that talk in its turns (`talking`: turn
    index -> (face id, r), from lipsync.api.talking_faces) where the voice agrees; and the decisions.
    `embed`: d-vectors of spans of the same audio. Speakers are renamed by first appearance; a
    speaker's turns that touch are one turn again (see at_cuts)."""
    turns = list(dia.turns)
    if not turns or not talking:
        return dia, []
    emb = embed([(t.start, t.end) for t in turns])
    dur = [t.end - t.start for t in turns]
    label = [t.speaker for t in turns]
    face = {i: f for i, (f, _) in talking.items()}
    decisions: list[Decision] = []

    # split: one voice cluster, several talking faces that sound apart
    for spk in sorted(set(label)):
        mine = [i for i in range(len(turns)) if label[i] == spk]
        by_face: dict[int, list[int]] = {}
        for i in mine:
            if i in face:
                by_face.setdefault(face[i], []).append(i)
        people = [f for f, idx in by_face.items() if sum(dur[i] for i in idx) >= MIN_EVIDENCE]
        if len(people) < 2:
            continue
        centre = {f: _mean(emb[by_face[f]], [dur[i] for i in by_face[f]]) for f in people}
        groups: list[list[int]] = []  # faces that sound alike stay one speaker
        for f in sorted(people, key=lambda f: -sum(dur[i] for i in by_face[f])):
            near = next((g for g in groups if max(float(centre[f] @ centre[h]) for h in g) >= SPLIT_BELOW), None)
            if near is None:
                groups.append([f])
            else:
                near.append(f)
        cos = min(float(centre[a] @ centre[b]) for a in people for b in people if a != b)
        seconds = round(sum(dur[i] for f in people for i in by_face[f]), 2)
        if len(groups) < 2:
            decisions.append(Decision("kept together", (spk,), tuple(people), round(cos, 3), seconds))
            continue
        names = [spk] + [f"{spk}+face{g[0]}" for g in groups[1:]]
        gc = [_mean(np.stack([centre[f] for f in g]), [1.0] * len(g)) for g in groups]
        for i in mine:
            g = next((k for k, grp in enumerate(groups) if face.get(i) in grp), None)
            if g is None:  # no face talks here: the part whose voice is nearest
                g = int(np.argmax([float(emb[i] @ c) for c in gc]))
            label[i] = names[g]
        decisions.append(Decision("split", (spk,), tuple(people), round(cos, 3), seconds))

    # join: clusters whose only talking face is one and the same person
    def faces_of(s: str) -> set[int]:
        return {f for f in {face[i] for i in range(len(turns)) if label[i] == s and i in face}
                if sum(dur[i] for i in range(len(turns)) if label[i] == s and face.get(i) == f) >= MIN_EVIDENCE}

    changed = True
    while changed:
        changed = False
        names = sorted(set(label), key=label.index)
        for a in names:
            for b in names:
                if a >= b or faces_of(a) != faces_of(b) or len(faces_of(a)) != 1:
                    continue
                ia = [i for i in range(len(turns)) if label[i] == a]
                ib = [i for i in range(len(turns)) if label[i] == b]
                cos = float(_mean(emb[ia], [dur[i] for i in ia]) @ _mean(emb[ib], [dur[i] for i in ib]))
                at_once = any(turns[i].start < turns[j].end and turns[j].start < turns[i].end for i in ia for j in ib)
                seconds = round(sum(dur[i] for i in ia + ib if i in face), 2)
                if cos < JOIN_ABOVE or at_once:
                    decisions.append(Decision("kept apart", (a, b), tuple(faces_of(a)), round(cos, 3), seconds))
                    continue
                label = [a if s == b else s for s in label]
                decisions.append(Decision("join", (a, b), tuple(faces_of(a)), round(cos, 3), seconds))
                changed = True
                break
            if changed:
                break
    if not any(d.kind in ("split", "join") for d in decisions):
        return dia, decisions
    return _relabelled(dia, turns, label, emb, dur), decisions


def _relabelled(dia: Diarization, turns: list[SpeakerTurn], label: list[str], emb: np.ndarray,
                dur: list[float]) -> Diarization:
    """`dia` with each turn's new label, renamed SPEAKER_00.. by first appearance, and its embeddings
    the duration-weighted mean of its turns' d-vectors."""
    order = sorted(range(len(turns)), key=lambda i: (turns[i].start, turns[i].end))
    names: dict[str, str] = {}
    for i in order:
        names.setdefault(label[i], f"SPEAKER_{len(names):02d}")
    out: list[SpeakerTurn] = []
    for i in order:
        t = SpeakerTurn(start=turns[i].start, end=turns[i].end, speaker=names[label[i]])
        if out and out[-1].speaker == t.speaker and abs(out[-1].end - t.start) < 1e-6:  # parts of one cut turn
            t = SpeakerTurn(start=out.pop().start, end=t.end, speaker=t.speaker)
        out.append(t)
    emb_of = {}
    for old, new in names.items():
        idx = [i for i in range(len(turns)) if label[i] == old]
        emb_of[new] = [round(float(x), 6) for x in _mean(emb[idx], [dur[i] for i in idx])]
    return Diarization(turns=out, speakers=list(names.values()), embeddings=emb_of,
                       method=f"{dia.method}+faces")
