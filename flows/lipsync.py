"""The flows of `dub lipsync` (a video re-synced to a replacement audio track) and `dub animate` (a still
portrait made to speak): the text and phones of the new audio, its voice alone, the video's speakers,
then the mouths rendered (lipsync.api) and the result muxed. The stages live in dubbing.resync."""

from __future__ import annotations

from pathlib import Path

from prefect import flow, task
from prefect.cache_policies import NO_CACHE
from prefect.task_runners import ThreadPoolTaskRunner

from dubbing import media, resync
from dubbing.config import Config
from dubbing.constants import SPEECH_RATE
from dubbing.errors import DubError
from dubbing.schema import SpeakerTurn

from .server import prefect_api


@task(name="text and phones of the audio", cache_policy=NO_CACHE)
def read_audio(audio, cfg: Config):
    return resync.phones_of(audio, cfg)


@task(name="voice of the audio", cache_policy=NO_CACHE)
def voice(audio, cfg: Config):
    return resync.voice_of(audio, cfg)


@task(name="speakers of the video", cache_policy=NO_CACHE)
def speakers(video: Path, info, cfg: Config):
    """The video's speaker turns from its own audio, and that audio (16 kHz; None without audio)."""
    from dubbing import diarize

    if not info.has_audio:
        return [SpeakerTurn(start=0.0, end=info.duration, speaker="SPEAKER_00")], None
    own = media.load_audio(video, SPEECH_RATE)
    turns = diarize.diarize(own, cfg.diarization).turns
    return turns or [SpeakerTurn(start=0.0, end=info.duration, speaker="SPEAKER_00")], own


@task(name="the video's own speech", cache_policy=NO_CACHE)
def own_speech(own, cfg: Config):
    """Transcript, phones and voice of the video's own audio, read once for its own lips and its mouth model
    (None: both off, no audio or no speech)."""
    wanted = cfg.lipsync.own_motion or cfg.lipsync.person_model
    return resync.own_speech(own, cfg) if own is not None and wanted else None


@task(name="render mouths", cache_policy=NO_CACHE)
def render(render_fn, report_path: Path):
    """`render_fn()` (a lipsync.api call) run as this task; its sync report saved to `report_path`."""
    report = render_fn()
    report.save(report_path)
    return report


@task(name="mux", cache_policy=NO_CACHE)
def mux(out: Path, wav: Path, frames: Path, cfg: Config, audio_origin: float = 0.0, rotation: int = 0) -> Path:
    return media.mux(out, audio=wav, video=frames, audio_bitrate=cfg.output.audio_bitrate, audio_origin=audio_origin,
                     rotation=rotation)


@flow(name="dub-lipsync", task_runner=ThreadPoolTaskRunner(max_workers=2), validate_parameters=False)
def lipsync_video(video: Path, audio: Path, out_dir: Path, cfg: Config, progress=None):
    """Re-sync `video` to the replacement `audio`; writes OUT/<video>.lipsync.<ext>.
    Returns (path, sync report, note or None)."""
    from lipsync import api

    info = media.probe(video)
    if not info.has_video:
        raise DubError(f"no video stream in {video}")
    media.probe(audio)
    work = Path(out_dir) / f"{Path(video).stem}.lipsync.work"
    new, note = resync.replacement_audio(audio, info.duration)
    found = speakers.submit(video, info, cfg)
    tr, phones = read_audio(new, cfg)
    new_voice = voice(new, cfg)
    turns, own = found.result()
    mine = own_speech(own, cfg)
    retime = resync.same_words(tr, new_voice, mine[0], mine[2]) if mine and cfg.lipsync.own_motion else None
    person = resync.source_speech(mine[1], mine[2], turns) if mine and cfg.lipsync.person_model else None
    wav = media.write_wav(work / "audio.wav", new, SPEECH_RATE)
    voice_wav = media.write_wav(work / "voice.wav", new_voice, SPEECH_RATE)
    frames = work / "lips.mp4"
    report = render(lambda: api.sync_video(
        Path(video), voice_wav, resync.label(phones, turns), turns, frames, work, strength=cfg.lipsync.strength,
        progress=progress, language=tr.language, jaw_from_voice=cfg.lipsync.jaw_from_voice, retime=retime,
        source_speech=person, crf=cfg.output.crf, preset=cfg.output.preset, measure=cfg.lipsync.measure, sole=True),
        work / "sync.json")
    out = mux(Path(out_dir) / f"{Path(video).stem}.lipsync{media.output_extension(info)}", wav, frames, cfg,
              info.audio_start, info.rotation)
    return out, report, note


@flow(name="dub-animate", validate_parameters=False)
def animate_image(image: Path, audio: Path, out_dir: Path, cfg: Config, progress=None):
    """Make the still portrait `image` speak `audio`; writes OUT/<image>.animate.mp4. Returns (path, report)."""
    from lipsync import api

    image = Path(image)
    if not image.exists():
        raise DubError(f"image not found: {image}")
    info = media.probe(audio)
    if not info.has_audio:
        raise DubError(f"no audio track in {audio}")
    work = Path(out_dir) / f"{image.stem}.animate.work"
    new = media.load_audio(audio, SPEECH_RATE)
    tr, phones = read_audio(new, cfg)
    wav = media.write_wav(work / "audio.wav", new, SPEECH_RATE)
    voice_wav = media.write_wav(work / "voice.wav", voice(new, cfg), SPEECH_RATE)
    frames = work / "frames.mp4"
    report = render(lambda: api.animate(
        image, voice_wav, [(x.symbol, x.start, x.end, "SPEAKER_00") for x in phones], frames, work,
        progress=progress, language=tr.language, jaw_from_voice=cfg.lipsync.jaw_from_voice, crf=cfg.output.crf,
        preset=cfg.output.preset), work / "sync.json")
    return mux(Path(out_dir) / f"{image.stem}.animate.mp4", wav, frames, cfg), report


def run(flow_fn, *args, log_dir: Path, **kwargs):
    """Run one of the flows above against this run's Prefect API (flows.server)."""
    with prefect_api(Path(log_dir) / "logs" / "prefect-server.log") as api, api.connected():
        return flow_fn(*args, **kwargs)
