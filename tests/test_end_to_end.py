"""The whole dub on real media (../shared/media), through the CLI, checked as issue 2 states."""

import json
import shutil
import subprocess
import sys

import numpy as np
import pytest

from conftest import ROOT, needs_media

pytestmark = [pytest.mark.slow, needs_media]


def run_dub(*args):
    r = subprocess.run([sys.executable, "-m", "dub", "translate", *map(str, args)], capture_output=True,
                       text=True, cwd=ROOT, timeout=1800)
    assert r.returncode == 0, r.stderr[-2000:]
    return r


@pytest.fixture(scope="module")
def face1(tmp_path_factory, media_dir):
    out = tmp_path_factory.mktemp("e2e")
    run_dub(media_dir / "video/vr_face1.mp4", "--to", "es,fr,ja", "--out", out)
    job = out / "vr_face1"
    return job, json.loads((job / "job.json").read_text())


def test_one_video_per_language_with_the_source_geometry(face1, media_dir):
    from dubbing import media

    job, summary = face1
    src = media.probe(media_dir / "video/vr_face1.mp4")
    for code in ("es", "fr", "ja"):
        out = job / f"vr_face1.{code}.mp4"
        info = media.probe(out)
        assert (info.width, info.height) == (src.width, src.height)
        assert info.frame_count == src.frame_count
        assert abs(info.fps - src.fps) < 0.05
        assert abs(info.duration - src.duration) <= 0.1
        assert info.has_audio
        assert (job / f"vr_face1.{code}.srt").exists() and (job / f"vr_face1.{code}.vtt").exists()
        assert not (job / code / "clips").exists()  # the spoken clips' files, gone once mixed and checked


def test_dubbed_speech_is_heard_as_the_target_language(face1):
    _, summary = face1
    limits = {"es": 0.20, "fr": 0.20, "ja": 0.30}
    for code, limit in limits.items():
        q = summary["languages"][code]["quality"]
        assert q["detected_language"] == code, q
        assert q["cer"] <= limit, q
        assert ("cer_reading" in q) == (code == "ja") and q.get("cer_reading", 0.0) <= limit, q


@pytest.mark.parametrize("code", ["es", "fr", "ja"])
def test_timing_inside_slots(face1, code):
    job, summary = face1
    timing = json.loads((job / code / "timing.json").read_text())
    assert all(0.8 - 1e-6 <= l["stretch"] <= 1.25 + 1e-6 for l in timing["lines"])
    errs = [max(abs(l["start"] - l["slot_start"]), abs(l["end"] - l["slot_end"])) for l in timing["lines"]]
    assert np.mean(np.array(errs) <= 0.3) >= 0.9, errs


def test_job_folder_keeps_every_record(face1):
    job, _ = face1
    for rel in ("source/transcript.json", "source/diarization.json", "source/diarization.rttm", "es/translation.json",
                "es/timing.json", "job.json"):
        assert (job / rel).exists(), rel


def test_the_dubbed_mouth_opens_as_wide_as_the_persons_and_their_own_model_is_checked(face1):
    """Issue 16: the dub's mouth swings as wide as the person's own in the source (it swung 0.69 of it
    before stop 29), and the person's mouth model is checked on their own held-out frames, from the
    source's phones aligned once per source."""
    job, _ = face1
    diar = json.loads((job / "source/diarization.json").read_text())
    phones = json.loads((job / "source/phones.json").read_text())
    assert len(phones) > 30 and all(s and a < b for s, a, b, _ in phones)
    assert {p[3] for p in phones} <= {t["speaker"] for t in diar["turns"]}
    assert [p[1] for p in phones] == sorted(p[1] for p in phones)
    for code in ("es", "ja"):
        sync = json.loads((job / code / "sync.json").read_text())
        assert 0.85 <= sync["amp_ratio"] <= 1.15, (code, sync["amp_ratio"])
        assert sync["person"]["frames"] > 0 and sync["person"]["used"] is False  # checked, not driving a dub


def test_second_run_reuses_everything(face1, media_dir):
    job, summary = face1
    kept = {p: p.stat().st_mtime_ns for p in [job / "es/translation.json", job / "es/quality.json",
                                              *(job / "es/speech").glob("*.wav")]}
    run_dub(media_dir / "video/vr_face1.mp4", "--to", "es", "--out", job.parent)
    assert {p: p.stat().st_mtime_ns for p in kept} == kept, "no line spoken again, no back-transcription"
    again = json.loads((job / "job.json").read_text())
    assert again["seconds"] < summary["seconds"] / 2


def test_an_edited_line_redoes_only_that_line_and_the_frames_it_covers(face1, media_dir):
    """Issue 4: a reviewer edits one es line; the re-run re-speaks only it and re-renders only the
    2-s chunks its mouth moves in; the face tracks are not redone."""
    job, _ = face1
    tr_path = job / "es/translation.json"
    tr = json.loads(tr_path.read_text())
    last = tr["lines"][-1]
    last["text"] = "Quisiera mejorar en eso." if last["text"] != "Quisiera mejorar en eso." else "Lo haré mejor."
    tr_path.write_text(json.dumps(tr, ensure_ascii=False, indent=1))
    kept = {p: p.stat().st_mtime_ns for p in [*(job / "es/speech").glob(f"{tr['lines'][0]['id']}*.wav"),
                                              job / "source/faces/faces.npz"]}
    out = job / "vr_face1.es.mp4"
    before = out.stat().st_mtime_ns
    run_dub(media_dir / "video/vr_face1.mp4", "--to", "es", "--out", job.parent)
    assert {p: p.stat().st_mtime_ns for p in kept} == kept
    assert out.stat().st_mtime_ns != before
    assert json.loads((job / "es/timing.json").read_text())["lines"][-1]["line_id"] == last["id"]
    sync = json.loads((job / "es/sync.json").read_text())
    times = np.load(job / "source/faces/faces.npz")["times"]
    start = json.loads((job / "es/timing.json").read_text())["lines"][-1]["start"]
    untouched = int(np.searchsorted(times, times[0] + 2.0 * int((start - 0.5 - times[0]) // 2.0)))
    assert 0 < sync["rendered_frames"] <= sync["frames"] - untouched < sync["frames"]


def test_two_speakers_get_two_distinct_voices(tmp_path, media_dir):
    from resemblyzer import VoiceEncoder

    from dubbing import media, rttm

    run_dub(media_dir / "audio/pa_sample.wav", "--to", "es", "--out", tmp_path)
    job = tmp_path / "pa_sample"
    assert (job / "pa_sample.es.wav").exists()
    hyp = rttm.read_rttm(job / "source/diarization.rttm")
    ref = rttm.read_rttm(media_dir / "refs/pa_sample.rttm")
    assert len({t.speaker for t in hyp}) == 2
    assert rttm.der(ref, hyp, collar=0.25) <= 0.20
    # where the two talk at once (the reference: 1.9 s in six stretches, the longest 0.4-0.65 s), the
    # lines are flagged for review (dubbing.overlap; bench/overlap.py has the frame figures)
    both = [(max(a.start, b.start), min(a.end, b.end)) for a in ref for b in ref
            if a.speaker < b.speaker and min(a.end, b.end) - max(a.start, b.start) >= 0.4]
    lines = json.loads((job / "source/lines.json").read_text())["lines"]
    flagged = [(ln["start"], ln["end"]) for ln in lines if any(f.startswith("overlap:") for f in ln["flags"])]
    assert len(both) == 3 and all(any(min(b, d) > max(a, c) for c, d in flagged) for a, b in both), (both, flagged)
    assert len(flagged) < len(lines) / 2
    # voices: embed each speaker's dubbed lines, compare across and within speakers
    timing = json.loads((job / "es/timing.json").read_text())
    voices, sr = media.read_wav(job / "es/voices.wav")
    enc = VoiceEncoder("cpu", verbose=False)
    import soxr

    per = {}
    for l in timing["lines"]:
        seg = voices[int(l["start"] * sr):int(l["end"] * sr)]
        if len(seg) > sr:
            per.setdefault(l["speaker"], []).append(enc.embed_utterance(soxr.resample(seg, sr, 16000)))
    assert len(per) == 2
    a, b = (np.array(v) for v in per.values())
    within = min(float(np.mean(a @ a.T)), float(np.mean(b @ b.T)))
    across = float(np.mean(a @ b.T))
    assert across < within
    # each line's loudness and pitch, relative to its speaker's usual, follow the source's (dubbing.prosody)
    carried = json.loads((job / "es/prosody.json").read_text())["summary"]
    assert carried["lines"] == len(timing["lines"])
    assert carried["level_r_after"] > max(carried["level_r_before"] or 0, 0.8)
    # the pitch moves on the lines spoken slowly enough (prosody.plan: fast lines keep their own)
    assert carried["pitch_r_after"] > (carried["pitch_r_before"] or 0) + 0.3


def test_the_library_api_dubs_without_prefect_or_the_cli(tmp_path, media_dir, monkeypatch):
    """`import dubbing; dubbing.dub(...)`: the stages in this process, no flow run, no server; the same
    outputs and summary as `dub translate` gives. The translation model is let go once, after the speech."""
    import dubbing
    from dubbing import llm
    from prefect.context import FlowRunContext

    released = []
    release = llm.release
    monkeypatch.setattr(llm, "release", lambda: (released.append(1), release()))
    seen = []
    summary = dubbing.dub(media_dir / "audio/fw_jfk.flac", ["es"], out=tmp_path,
                          progress=lambda step, done, total: seen.append((step, FlowRunContext.get(), done / total)))
    job = tmp_path / "fw_jfk"
    assert summary["status"] == "ok" and json.loads((job / "job.json").read_text())["languages"]["es"]
    assert (job / "fw_jfk.es.flac").exists() and (job / "fw_jfk.es.srt").exists()
    assert {s for s, _, _ in seen} >= {"transcribe", "translate es", "dub es"}
    assert all(ctx is None for _, ctx, _ in seen)  # no Prefect flow around any stage
    dub_es = [f for s, _, f in seen if s == "dub es"]  # by the stages' shares of the work, to the end
    assert dub_es == sorted(dub_es) and dub_es[-1] == pytest.approx(1.0) and len(set(dub_es)) >= 4
    assert summary["languages"]["es"]["quality"]["cer"] <= 0.25
    assert released == [1] and llm._load.cache_info().currsize == 0


def test_language_branches_on_dask_workers_give_the_same_dub(face1, media_dir, tmp_path):
    """`--dask local:2`: the branches run in two worker processes (their own models, the source's face
    analysis made once before them; the lips' render in parts, as tasks of those workers) and give what
    the threads of one process gave. The LLM's words are taken from the threads' run: a restored prompt
    state is not bit-identical to one read afresh (dubbing/llm.py), so a shortening asked in another
    process can differ by a word, and that is not what this compares."""
    job, _ = face1
    other = tmp_path / "vr_face1"
    for code in ("fr", "ja"):  # the translations and the fit's shorter texts, with the keys that date them
        for p in [*(job / code).glob("*translation.json*"), *(job / code / "speech").glob("*.fit.json")]:
            (other / p.relative_to(job)).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(p, other / p.relative_to(job))
    # fr and ja: the es line another test of this module edits would differ
    run_dub(media_dir / "video/vr_face1.mp4", "--to", "fr,ja", "--dask", "local:2", "--out", tmp_path)
    summary = json.loads((other / "job.json").read_text())
    assert summary["status"] == "ok" and sorted(summary["languages"]) == ["fr", "ja"]
    for code in ("fr", "ja"):
        assert (other / code / "dub.wav").read_bytes() == (job / code / "dub.wav").read_bytes()
        ours, theirs = (json.loads((j / code / "sync.json").read_text()) for j in (other, job))
        assert ours["synced_frames"] == theirs["synced_frames"] > 0
        # the lips rendered in parts sent to the workers (flows.runners.dask_map) are the threads' lips
        assert (other / code / "lips.mp4").read_bytes() == (job / code / "lips.mp4").read_bytes()
        assert (other / f"vr_face1.{code}.mp4").stat().st_size > 0


def test_a_stretch_already_in_the_target_language_keeps_the_speakers_own_voice(tmp_path):
    """fw_jfk with 9 s of ls_demo2's Portuguese cut into it, dubbed into Portuguese: the English is
    dubbed, the Portuguese lines are the man's own voice, cut from the source (dubbing.kept_speech), not
    said again by another voice."""
    from dubbing import media
    from tests import langid_material as M

    audio, truth = M.switching()
    _, (pt_start, pt_end, _), _ = truth
    src = media.write_wav(tmp_path / "switch.wav", audio, M.RATE)
    run_dub(src, "--to", "pt", "--out", tmp_path)
    job = tmp_path / "switch"
    timing = json.loads((job / "pt/timing.json").read_text())
    own = timing["own_voice"]
    summary = json.loads((job / "job.json").read_text())["languages"]["pt"]
    assert summary["own_voice"] == [k["line_id"] for k in own]  # the run's table says how many
    assert own and all(pt_start - 0.5 <= k["start"] < k["end"] <= pt_end + 0.5 for k in own), own
    assert sum(k["end"] - k["start"] for k in own) > 0.6 * (pt_end - pt_start)
    dubbed = timing["lines"]
    assert dubbed and all(f["end"] <= pt_start + 0.3 or f["start"] >= pt_end - 0.3 for f in dubbed), dubbed
    voices = media.load_audio(job / "pt/voices.wav", M.RATE)
    for k in own:
        a, b = int(k["start"] * M.RATE), int(k["end"] * M.RATE)
        assert np.corrcoef(voices[a:b], audio[a:b])[0, 1] > 0.95, k
