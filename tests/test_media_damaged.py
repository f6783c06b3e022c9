"""Inputs as films and damaged downloads come: 5.1 surround, and a file corrupt in the middle."""

import numpy as np
import pytest

from conftest import ffmpeg
from dubbing import media
from dubbing.mix import loudness


@pytest.fixture(scope="module")
def surround(tmp_path_factory):
    """4 s of video with a 5.1 AAC track: a 300 Hz tone in the centre only, 700 Hz in the back left only."""
    p = tmp_path_factory.mktemp("surround") / "surround.mp4"
    ffmpeg("-f", "lavfi", "-i", "testsrc=size=160x120:rate=25:duration=4", "-f", "lavfi", "-i", "sine=f=300:d=4",
           "-f", "lavfi", "-i", "sine=f=700:d=4", "-filter_complex",
           "[1:a][2:a]amerge=inputs=2,pan=5.1|FL=0*c0|FR=0*c0|FC=c0|LFE=0*c0|BL=c1|BR=0*c1[a]",
           "-map", "0:v", "-map", "[a]", "-c:v", "libx264", "-pix_fmt", "yuv420p", "-c:a", "aac", str(p))
    return p


def test_surround_is_downmixed_to_stereo_keeping_centre_and_back(surround):
    assert media.probe(surround).audio_channels == 6
    a = media.load_audio(surround, 48000, mono=False)
    assert a.shape[1] == 2 and abs(len(a) / 48000 - 4.0) < 0.1
    spec = np.abs(np.fft.rfft(a[48000:96000], axis=0))  # 1 s: 1 Hz bins
    # the centre dialogue lands in both channels; the back-left sound on the left only
    assert spec[300, 0] > 0.3 * spec.max() and spec[300, 1] > 0.3 * spec.max()
    assert spec[700, 0] > 10 * spec[700, 1]
    assert np.isfinite(loudness(a, 48000))  # what refused 5.1 before (pyloudnorm: five channels or less)
    assert media.load_audio(surround, 16000).ndim == 1


@pytest.fixture(scope="module")
def corrupt(tmp_path_factory):
    """8 s of video with a tone, 30 kB of its middle overwritten with random bytes; and the intact one."""
    d = tmp_path_factory.mktemp("corrupt")
    clean, bad = d / "clean.mp4", d / "corrupt.mp4"
    ffmpeg("-f", "lavfi", "-i", "testsrc=size=320x240:rate=25:duration=8", "-f", "lavfi", "-i", "sine=f=300:d=8",
           "-c:v", "libx264", "-pix_fmt", "yuv420p", "-g", "25", "-c:a", "aac", "-shortest", str(clean))
    data = bytearray(clean.read_bytes())
    mid = len(data) // 2
    data[mid:mid + 30000] = np.random.default_rng(0).bytes(30000)
    bad.write_bytes(bytes(data))
    return clean, bad


def test_a_corrupt_middle_is_found_and_the_rest_dubbed_in_place(corrupt, tmp_path):
    clean, bad = corrupt
    assert media.unreadable_spans(clean) == []
    spans = media.unreadable_spans(bad)
    assert len(spans) == 1
    start, end = spans[0]
    assert 1.0 < start < end < 7.5  # in the middle, not the whole file
    fixed = media.readable_copy(bad, tmp_path / "fixed.mp4")
    assert media.unreadable_spans(fixed) == []
    info = media.probe(fixed)
    assert info.has_video and abs(info.duration - 8.0) < 0.2
    audio = media.load_audio(fixed, 16000)
    assert abs(len(audio) / 16000 - 8.0) < 0.1  # the lost audio is silence, so later sound keeps its time
    t = np.arange(len(audio)) / 16000
    after = audio[(t > end + 0.3) & (t < 7.5)]
    assert np.sqrt(np.mean(after ** 2)) > 0.05  # the tone after the damage is there, where it was
    from dubbing import video as video_io

    assert sum(1 for _ in video_io.frames(fixed)) > 100  # every frame that decodes, decoded


def test_prepare_reports_the_unreadable_span(corrupt, tmp_path):
    """The pipeline dubs from the readable copy and says which span it could not read."""
    from dubbing import config, pipeline
    from dubbing.errors import NoSpeech
    from dubbing.workspace import Job

    _, bad = corrupt
    said = []
    job = Job(tmp_path / "job")
    with pytest.raises(NoSpeech):  # a tone holds no speech: prepare gets as far as the transcription
        pipeline.prepare(bad, job, config.load(), "en", progress=lambda step, done, total: said.append(step))
    assert any(s.startswith("unreadable ") and " s" in s for s in said)
    assert (job.root / "source/readable.mp4").exists()
