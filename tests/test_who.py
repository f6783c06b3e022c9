"""Who speaks, from voice and face (dubbing.who, lipsync.speakers.talkers): faces seen talking split a
voice cluster heard from two people and join two clusters heard from one, only where the voice agrees;
and (on real footage) the whole run finds the four people of a conversation cut from the shared clips."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from dubbing import who
from dubbing.schema import Diarization, SpeakerTurn
from lipsync import speakers as SP

ROOT = Path(__file__).resolve().parents[1]
MEDIA = ROOT.parent / "shared" / "media"


def T(start: float, end: float, speaker: str) -> SpeakerTurn:
    return SpeakerTurn(start=start, end=end, speaker=speaker)


def voices(turn_voice: list[int], dim: int = 8, spread: float = 0.05, seed: int = 0):
    """An embed function giving each turn (by its start time's order) a d-vector near its true voice."""
    rng = np.random.default_rng(seed)
    base = np.eye(dim)[: max(turn_voice) + 1]

    def embed(spans):
        assert len(spans) == len(turn_voice)
        v = base[turn_voice] + spread * rng.standard_normal((len(spans), dim))
        return v / np.linalg.norm(v, axis=1, keepdims=True)
    return embed


def test_two_people_in_one_voice_cluster_are_split_by_their_faces():
    # the voice clustered persons 0 and 1 together as S0; face 7 talks in turns 0 and 2, face 9 in 3
    dia = Diarization(turns=[T(0, 2, "S0"), T(2, 4, "S1"), T(4, 6, "S0"), T(6, 8, "S0"), T(8, 9, "S0")],
                      speakers=["S0", "S1"])
    talking = {0: (7, 0.6), 2: (7, 0.5), 3: (9, 0.7), 1: (8, 0.4)}
    fused, decided = who.fuse(dia, talking, voices([0, 2, 0, 1, 1]))
    assert [d.kind for d in decided] == ["split"] and set(decided[0].faces) == {7, 9}
    got = [(t.start, t.end, t.speaker) for t in fused.turns]  # turn 4 (8-9 s): no face, goes by its voice
    assert got == [(0, 2, "SPEAKER_00"), (2, 4, "SPEAKER_01"), (4, 6, "SPEAKER_00"), (6, 9, "SPEAKER_02")]
    assert fused.speakers == ["SPEAKER_00", "SPEAKER_01", "SPEAKER_02"] and fused.method.endswith("+faces")
    assert set(fused.embeddings) == set(fused.speakers)


def test_faces_that_sound_alike_do_not_split_a_voice():
    """One person the tracker did not re-link across a cut (two face ids, one voice) stays one speaker."""
    dia = Diarization(turns=[T(0, 2, "S0"), T(3, 5, "S0")], speakers=["S0"])
    fused, decided = who.fuse(dia, {0: (1, 0.6), 1: (4, 0.6)}, voices([0, 0]))
    assert fused == dia and [d.kind for d in decided] == ["kept together"] and decided[0].cosine > who.SPLIT_BELOW


def test_one_face_heard_in_two_voice_clusters_joins_them_if_they_sound_alike():
    dia = Diarization(turns=[T(0, 2, "S0"), T(2, 4, "S1"), T(4, 6, "S2")], speakers=["S0", "S1", "S2"])
    close = voices([0, 1, 0], spread=0.0)

    def embed(spans):  # S2's voice a little off S0's (cosine ~0.9), S1 another person
        v = close(spans)
        v[2] = v[2] + 0.5 * np.eye(8)[3]
        return v / np.linalg.norm(v, axis=1, keepdims=True)
    fused, decided = who.fuse(dia, {0: (5, 0.5), 2: (5, 0.5), 1: (6, 0.5)}, embed)
    assert [d.kind for d in decided] == ["join"] and decided[0].speakers == ("S0", "S2")
    assert [t.speaker for t in fused.turns] == ["SPEAKER_00", "SPEAKER_01", "SPEAKER_00"]


def test_one_face_in_two_clusters_that_sound_apart_or_talk_at_once_stays_two():
    dia = Diarization(turns=[T(0, 2, "S0"), T(2, 4, "S1")], speakers=["S0", "S1"])
    fused, decided = who.fuse(dia, {0: (5, 0.5), 1: (5, 0.5)}, voices([0, 1]))
    assert fused == dia and [d.kind for d in decided] == ["kept apart"]
    dia = Diarization(turns=[T(0, 2, "S0"), T(1.5, 4, "S1")], speakers=["S0", "S1"])
    fused, decided = who.fuse(dia, {0: (5, 0.5), 1: (5, 0.5)}, voices([0, 0]))
    assert fused == dia and [d.kind for d in decided] == ["kept apart"]


def test_too_little_face_evidence_changes_nothing():
    dia = Diarization(turns=[T(0, 0.5, "S0"), T(1, 1.6, "S0")], speakers=["S0"])
    fused, decided = who.fuse(dia, {0: (1, 0.6), 1: (2, 0.6)}, voices([0, 1]))
    assert fused == dia and decided == []


def _face(n: int, talk: np.ndarray | None, rng) -> np.ndarray:
    """A mouth opening over n frames: following `talk` (plus noise), or at rest (tiny noise)."""
    if talk is None:
        return 0.05 + 0.0005 * rng.standard_normal(n)
    return 0.05 + 0.3 * talk + 0.02 * rng.standard_normal(n)


def test_the_face_whose_mouth_follows_the_voice_is_the_talker():
    rng = np.random.default_rng(1)
    times = np.arange(250) / 25.0
    env = np.abs(np.sin(times * 9.0)) * (times < 5)  # speech 0-5 s, syllables
    env += np.abs(np.sin(times * 7.0)) * (times >= 5)
    frames = np.arange(250)
    a = _face(250, np.where(times < 5, env, 0.0), rng)  # talks in 0-5 s, listens after
    b = _face(250, np.where(times >= 5, env, 0.0), rng)  # listens, then talks
    got = SP.talkers({0: frames, 1: frames}, {0: a, 1: b}, times, [(0.0, 5.0), (5.0, 10.0), (4.9, 5.1)], env)
    assert got[0][0] == 0 and got[1][0] == 1 and got[0][1] >= SP.TALK_R
    assert 2 not in got  # too short to say
    still = {0: frames}, {0: 0.05 + 0 * times}  # a still picture over the voice says nothing
    assert SP.talkers(*still, times, [(0.0, 5.0)], env) == {}


def test_a_face_found_in_a_few_frames_does_not_take_the_one_talker_s_place():
    rng = np.random.default_rng(4)
    times = np.arange(250) / 25.0
    env = np.abs(np.sin(times * 9.0))
    frames = np.arange(250)
    talker = 0.05 + 0.03 * env + 0.02 * rng.standard_normal(250)
    turns = [(0.0, 10.0, "SPEAKER_00")]  # one voice throughout, music under it: the mouth follows it barely
    noise = env + rng.standard_normal(250)
    alone, corr = SP.assign({0: frames}, {0: talker}, times, turns, noise)
    assert alone == {0: "SPEAKER_00"} and corr[(0, "SPEAKER_00")] < SP.MIN_CORR  # one face, one voice
    flash = np.array([200])  # a false face, one frame, on screen with him
    got, _ = SP.assign({0: frames, 1: flash}, {0: talker, 1: np.array([0.05])}, times, turns, noise)
    assert got == {0: "SPEAKER_00"}
    short = np.arange(100, 100 + SP.MIN_FRAMES)  # a real second face on screen for half a second still competes
    got, _ = SP.assign({0: frames, 1: short}, {0: talker, 1: _face(len(short), None, rng)}, times, turns, noise)
    assert 0 not in got  # two faces on screen then: his weak r alone no longer makes him the speaker


def test_one_face_whose_mouth_does_not_follow_the_one_voice_speaks_if_on_screen_throughout_or_asked():
    """A lone face whose mouth moves, but not with the voice (LatentSync demo3's first half, a man talking to
    the camera, scored r -0.002 against his own voice and was passed through): on screen for all the voice
    says, it is the speaker; seen in one shot of several, it may be someone who does not speak under a
    narrator, and a dub leaves it as it is, unless the user asked for it (`dub lipsync`: sole)."""
    rng = np.random.default_rng(5)
    times = np.arange(250) / 25.0
    speech = np.floor(times) % 2 == 0  # the voice speaks one second in two
    env = np.abs(np.sin(times * 9.0)) * speech
    frames = np.arange(250)
    mouth = 0.1 + 0.04 * np.abs(np.sin(times * 7.0)) * ~speech + 0.002 * rng.standard_normal(250)  # moves in its pauses
    turns = [(0.0, 10.0, "SPEAKER_00")]
    whole, corr = SP.assign({0: frames}, {0: mouth}, times, turns, env)
    assert corr[(0, "SPEAKER_00")] <= 0 and whole == {0: "SPEAKER_00"}
    shot = frames[:150]  # on screen for 6 of the voice's 10 s
    assert SP.on_screen(shot, times, turns, "SPEAKER_00") == pytest.approx(0.6)
    assert SP.assign({0: shot}, {0: mouth[:150]}, times, turns, env)[0] == {}
    assert SP.assign({0: shot}, {0: mouth[:150]}, times, turns, env, sole=True)[0] == {0: "SPEAKER_00"}
    other = 0.12 + 0.03 * np.abs(np.sin(times * 5.0)) * ~speech + 0.002 * rng.standard_normal(250)
    two = SP.assign({0: frames, 1: frames}, {0: mouth, 1: other}, times, turns, env, sole=True)[0]
    assert two == {}  # two faces on screen: the voice's face is found from its motion, not taken


def test_two_faces_moving_alike_give_no_talker():
    rng = np.random.default_rng(2)
    times = np.arange(125) / 25.0
    env = np.abs(np.sin(times * 9.0))
    frames = np.arange(125)
    got = SP.talkers({0: frames, 1: frames}, {0: _face(125, env, rng), 1: _face(125, env, rng)}, times,
                     [(0.0, 5.0)], env)
    assert got == {}


@pytest.mark.skipif(not MEDIA.exists(), reason="../shared/media not present")
def test_a_conversation_of_four_people_cut_together_finds_four_speakers(tmp_path):
    """bench/conversation.py's interview: four people, hard cuts, a wide shot and a reaction shot. The
    voice alone joins the GRID speaker and ls_demo2's speaker into one (3 speakers); their talking
    faces split them."""
    sys.path.insert(0, str(ROOT / "bench"))
    import conversation

    path, truth = conversation.build("interview", tmp_path / "inputs")
    subprocess.run([sys.executable, "-m", "dub", "translate", str(path), "--to", "es", "--out", str(tmp_path)],
                   check=True, cwd=ROOT, capture_output=True)
    s = conversation.score(tmp_path / path.stem, truth, "es")
    assert s["found"] == s["people"] == 4
    assert s["confusion"] < 0.10
    dia = json.loads((tmp_path / path.stem / "source/diarization.json").read_text())
    assert any(d["kind"] == "split" for d in dia["decisions"])
    assert s["synced"] >= 0.8 * s["speaking"]


def test_a_turn_is_cut_at_shot_cuts_into_parts_long_enough():
    got = who.at_cuts([T(0, 4, "S0"), T(5, 6, "S1")], [0.2, 1.0, 1.3, 3.8, 5.5])
    assert [(t.start, t.end, t.speaker) for t in got] == [(0, 1.0, "S0"), (1.0, 4, "S0"), (5, 5.5, "S1"), (5.5, 6, "S1")]


def test_a_voice_heard_across_a_cut_from_two_faces_becomes_two_speakers_and_parts_rejoin():
    dia = Diarization(turns=[T(0, 4, "S0"), T(4, 6, "S0")], speakers=["S0"])
    parts = who.at_cuts(dia.turns, [2.0])  # the voice ran on over a cut to another person
    fused, decided = who.fuse(dia.model_copy(update={"turns": parts}), {0: (1, 0.5), 1: (2, 0.5), 2: (2, 0.4)},
                              voices([0, 1, 1]))
    assert [d.kind for d in decided] == ["split"]
    assert [(t.start, t.end, t.speaker) for t in fused.turns] == [(0, 2.0, "SPEAKER_00"), (2.0, 6, "SPEAKER_01")]


def test_prepare_tracks_the_faces_beside_the_transcription_and_stops_them_if_it_fails(made, tmp_path, monkeypatch):
    """The face tracking (one core) runs while the sound is transcribed, not after it; a failed
    transcription stops the tracking at its next frame and leaves no faces, half-made or whole."""
    import threading

    from dubbing import config, pipeline, stretches
    from dubbing.workspace import Job

    tracking = threading.Event()

    def progress(step: str, done: float, total: float) -> None:
        if step == "faces" and done:
            tracking.set()

    def transcribe(*a, **kw):
        seen = tracking.wait(60)  # on a machine this slow something else is wrong
        raise RuntimeError(f"transcription failed (faces seen tracking meanwhile: {seen})")

    monkeypatch.setattr(stretches, "transcribe_source", transcribe)
    cfg = config.load(None)
    cfg.lipsync.enabled = True
    job = Job(tmp_path / "job")
    with pytest.raises(RuntimeError, match=r"meanwhile: True"):
        pipeline.prepare(made["silence"], job, cfg, "en", progress=progress)
    assert not job.path("source/faces").exists() and not job.path("source/.faces-work").exists()
    assert not [t for t in threading.enumerate() if t.name.startswith("faces")]
