import numpy as np
import pytest

from conftest import needs_media
from dubbing import media
from dubbing.errors import DubError


@needs_media
def test_probe_reads_frame_times_not_nominal_rate(media_dir):
    info = media.probe(media_dir / "video/vr_face1.mp4")
    assert (info.width, info.height) == (700, 700)
    assert info.has_audio and info.has_video
    assert info.variable_frame_rate, "vr_face1.mp4 is variable frame rate"
    assert 5.9 < info.duration < 6.3
    # 135 frames over 6.1 s: the nominal 30 fps of the header is not the real rate
    assert info.frame_count == 135
    assert abs(info.fps - (info.frame_count - 1) / (info.duration - 1 / 30)) < 1.0


def test_probe_errors_are_one_line(made, tmp_path):
    for path, words in [(tmp_path / "nope.mp4", "not found"), (made["junk"], "not a readable media file"),
                        (tmp_path, "folder")]:
        with pytest.raises(DubError, match=words) as e:
            media.probe(path)
        assert "\n" not in str(e.value)


def test_truncated_file_is_refused(made, tmp_path, media_dir):
    cut = tmp_path / "cut.mp4"
    data = (media_dir / "video/vr_face1.mp4").read_bytes()
    cut.write_bytes(data[: len(data) // 3])
    with pytest.raises(DubError):
        media.probe(cut)
        media.load_audio(cut)


def test_video_without_audio_is_reported(made):
    info = media.probe(made["noaudio"])
    assert info.has_video and not info.has_audio


def test_load_audio_resamples_and_mux_writes_atomically(made, tmp_path):
    audio = media.load_audio(made["tone"], 8000)
    assert abs(len(audio) - 8000) < 50
    spec = np.abs(np.fft.rfft(audio))
    assert abs(np.argmax(spec) * 8000 / len(audio) - 440) < 5
    wav = media.write_wav(tmp_path / "a.wav", audio, 8000)
    out = media.mux(tmp_path / "o.mp4", wav, video=made["noaudio"])
    info = media.probe(out)
    assert info.has_audio and info.has_video
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")], "no temporary files left behind"


def test_mux_keeps_a_video_that_starts_late_in_its_place(made, tmp_path):
    """A re-rendered video whose first frame is at 0.12 s (vr_face1's is at 0.033 s) stays there against
    the new audio, which starts at 0: ffmpeg would otherwise move it to 0, a lip-sync error of that much."""
    from conftest import ffmpeg

    from dubbing import video as vio

    late = tmp_path / "late.mp4"
    ffmpeg("-i", str(made["noaudio"]), "-c", "copy", "-output_ts_offset", "0.12", str(late))
    first = vio.frame_times(late)[0][0]
    assert abs(first - 0.12) < 0.01
    out = media.mux(tmp_path / "o.mp4", made["tone"], video=late)
    assert abs(vio.frame_times(out)[0][0] - first) < 1e-3
    assert abs(media.probe(out).duration - media.probe(late).duration) < 0.1
    # a source whose audio starts late with its video (the dub's timeline begins at its first sample):
    # the copied video keeps its place against that audio, so its first frame plays at 0
    both = tmp_path / "both.mp4"
    ffmpeg("-i", str(made["silence"]), "-c", "copy", "-output_ts_offset", "0.12", str(both))
    assert media.probe(both).audio_start > 0.04  # 0.12 s, less the AAC priming the copy made audible
    out = media.mux(tmp_path / "b.mp4", made["tone"], video=both, audio_origin=media.probe(both).audio_start)
    assert abs(vio.frame_times(out)[0][0] - (vio.frame_times(both)[0][0] - media.probe(both).audio_start)) < 1e-3


def test_a_phone_videos_rotation_is_read_and_the_dub_carries_it(made, tmp_path):
    """A phone records upright video as sideways frames plus a display matrix. The lips are rendered on the
    frames as stored, so the dub must carry the same matrix to play upright (it played sideways: PyAV 14
    dropped the Stream.side_data it was read from, and the mux wrote none)."""
    from conftest import ffmpeg

    phone = tmp_path / "phone.mp4"
    ffmpeg("-display_rotation", "90", "-i", str(made["noaudio"]), "-c", "copy", str(phone))
    assert media.probe(phone).rotation == 90 and media.probe(made["noaudio"]).rotation == 0
    rendered = made["noaudio"]  # frames as stored, no matrix: what the renderer writes
    assert media.probe(media.mux(tmp_path / "dub.mp4", made["tone"], video=rendered, rotation=90)).rotation == 90
    assert media.probe(media.mux(tmp_path / "plain.mp4", made["tone"], video=rendered)).rotation == 0
    # burned-in subtitles re-encode: the frames are turned upright first and carry no matrix
    upright = media.mux(tmp_path / "burned.mp4", made["tone"], video=phone, video_filter="null", rotation=90)
    info = media.probe(upright)
    assert info.rotation == 0 and (info.width, info.height) == (120, 160)


def test_a_span_of_frames_is_reached_by_seeking_and_is_exactly_those_frames(tmp_path):
    """A 75-frame clip with a keyframe every 10 frames and B-frames: spans starting mid-group give
    the same pictures, indices and pts as the whole decode, and a span past the end gives what is there."""
    from conftest import ffmpeg
    from dubbing import video as vio

    clip = tmp_path / "gop.mp4"
    ffmpeg("-f", "lavfi", "-i", "testsrc2=size=160x120:rate=25:duration=3", "-c:v", "libx264", "-g", "10",
           "-bf", "2", "-pix_fmt", "yuv420p", str(clip))
    whole = list(vio.frames(clip))
    assert len(whole) == 75
    for first, stop in [(0, 5), (13, 27), (40, 41), (70, 90)]:
        got = list(vio.frames(clip, span=(first, stop)))
        want = whole[first:stop]
        assert [f.index for f in got] == [f.index for f in want] and [f.pts for f in got] == [f.pts for f in want]
        assert all(np.array_equal(a.rgb, b.rgb) for a, b in zip(got, want))


def test_a_seek_into_a_piece_with_other_colour_tags_gives_the_colours_of_the_whole_decode(tmp_path):
    """A video joined from pieces encoded apart, each with its parameter sets in its keyframes, the middle
    one tagged BT.709 and the others untagged: decoded from the start, libavcodec keeps tagging the third
    piece's frames BT.709; decoded after a seek into it, untagged (BT.601). Every frame takes the first
    frame's colour matrix, so the two agree (bench/long.py's input is made so: a Dask worker's lip-render
    part, which seeks, gave frames up to 8 levels off the threads' render)."""
    from conftest import ffmpeg
    from dubbing import video as vio

    tagged = ["-colorspace", "bt709", "-color_primaries", "bt709", "-color_trc", "bt709", "-color_range", "tv"]
    for name, tags in (("a", []), ("b", tagged), ("c", [])):
        ffmpeg("-f", "lavfi", "-i", "testsrc2=size=160x120:rate=25:duration=2", "-c:v", "libx264", "-g", "25",
               "-pix_fmt", "yuv420p", *tags, "-bsf:v", "dump_extra", str(tmp_path / f"{name}.mp4"))
    (tmp_path / "list.txt").write_text("file 'a.mp4'\nfile 'b.mp4'\nfile 'c.mp4'\n")
    joined = tmp_path / "joined.mp4"
    ffmpeg("-f", "concat", "-safe", "0", "-i", str(tmp_path / "list.txt"), "-c", "copy", str(joined))
    whole = list(vio.frames(joined))
    assert len(whole) == 150
    for first in (60, 110):
        got = list(vio.frames(joined, span=(first, first + 10)))
        assert [f.index for f in got] == list(range(first, first + 10))
        assert max(int(np.abs(a.rgb.astype(int) - b.rgb).max()) for a, b in zip(got, whole[first:first + 10])) == 0
