"""Quality presets (--quality fast|standard|best): overlays over the defaults, under the user's settings."""

import json
import subprocess
import sys

import pytest
import yaml

from conftest import ROOT
from dubbing import config, presets


def flat(d: dict, prefix: str = "") -> dict:
    """{"section.key": value} of nested settings."""
    out = {}
    for k, v in d.items():
        if isinstance(v, dict) and v:
            out.update(flat(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


def test_every_preset_has_an_overlay_and_standard_is_the_default():
    assert {p.stem for p in (config.CONFIGS / "presets").glob("*.yaml")} == set(config.PRESETS)
    assert config.preset_overlay("standard") == {}
    assert config.load(preset="standard") == config.load()


@pytest.mark.parametrize("name", ["fast", "best"])
def test_overlay_changes_exactly_the_settings_it_names(name):
    named = flat(config.preset_overlay(name))
    assert named, f"{name} changes nothing"
    base, got = flat(config.load().model_dump()), flat(config.load(preset=name).model_dump())
    changed = {k for k in base if base[k] != got[k]}
    assert changed == set(named)  # every named setting differs from the default, nothing else moved
    assert all(got[k] == v for k, v in named.items())


@pytest.mark.parametrize("name", ["fast", "best"])
def test_the_users_config_wins_over_the_preset(name, tmp_path):
    named = flat(config.preset_overlay(name))
    key = sorted(named)[0]
    section, setting = key.split(".", 1)
    default = flat(config.load().model_dump())[key]
    user = tmp_path / "mine.yaml"
    user.write_text(yaml.safe_dump({section: {setting: default}, "mix": {"duck_db": -7.0}}))
    for cfg in (config.load(user, preset=name),  # dub lipsync / animate
                config.load(presets.settings_file(user, name, tmp_path))):  # dub translate's run-settings.yaml
        got = flat(cfg.model_dump())
        assert got[key] == default  # the user's value, not the preset's
        assert got["mix.duck_db"] == -7.0
        assert all(got[k] == v for k, v in named.items() if k != key)  # the rest of the preset still applies


def test_standard_writes_no_settings_file(tmp_path):
    assert presets.settings_file(None, "standard", tmp_path) is None
    assert not list(tmp_path.iterdir())


def test_unknown_preset_is_a_user_error():
    with pytest.raises(config.ConfigError, match="expected one of fast, standard, best"):
        config.load(preset="turbo")


def run_dub(*args, cwd=ROOT, timeout=600):
    return subprocess.run([sys.executable, "-m", "dub", *map(str, args)], capture_output=True, text=True, cwd=cwd,
                          timeout=timeout)


@pytest.mark.parametrize("command", [["translate", "x.mp4", "--to", "es"], ["lipsync", "x.mp4", "--audio", "y.wav"],
                                     ["animate", "x.png", "--audio", "y.wav"]])
def test_bad_quality_is_one_line_and_exit_2(command, tmp_path):
    r = run_dub(*command, "--out", tmp_path, "--quality", "turbo")
    assert r.returncode == 2
    assert "Traceback" not in r.stderr
    lines = [l for l in r.stderr.splitlines() if l.strip()]
    assert len(lines) == 1 and "--quality 'turbo'" in lines[0] and "fast, standard, best" in lines[0], r.stderr


@pytest.mark.parametrize("name", config.PRESETS)
def test_a_good_quality_is_accepted(name, tmp_path):
    """A preset name passes the option: the run goes on to the next check (here: the missing input)."""
    r = run_dub("translate", tmp_path / "missing.mp4", "--to", "es", "--out", tmp_path, "--quality", name)
    assert r.returncode == 2 and "input not found" in r.stderr and "--quality" not in r.stderr, r.stderr


# The settings dubbing.pipeline keys the source's stages on: transcription (asr, language_id), speakers
# (diarization), lines (fit.max_borrow), the background split (separation) and each translation.
SOURCE_STAGES = ("asr", "language_id", "diarization", "fit", "separation", "translation")


@pytest.mark.parametrize("name", ["fast", "best"])
def test_switching_preset_keeps_the_source_stages(name):
    """Switching presets reuses transcription, speakers, the split and translations: their keys' settings
    are the same under every preset (checked on a real job: only speech, lips and mux ran again)."""
    assert config.load(preset=name).digest(*SOURCE_STAGES) == config.load().digest(*SOURCE_STAGES)


@pytest.mark.slow
def test_fast_dub_completes_and_records_its_preset(media_dir, tmp_path):
    """`--quality fast` on a 3-s clip: a playable dub with the source's length, job.json naming the preset."""
    from dubbing import media

    clip = media_dir / "video" / "grid_bbaf2n.mpg"
    job = tmp_path / clip.stem
    # --from: GRID's 3-s command sentence ("bin blue at f two now") is at the language vote's edge (en 0.45-0.6):
    # the same code passed on CI and stopped here asking for --from, as tests/test_langid.py allows a clip
    # to. This test is about the preset.
    r = run_dub("translate", clip, "--to", "es", "--from", "en", "--out", tmp_path, "--quality", "fast")
    assert r.returncode == 0, r.stderr[-2000:]
    summary = json.loads((job / "job.json").read_text())
    assert summary["quality"] == "fast"
    out = summary["languages"]["es"]["output"]
    info, src = media.probe(out), media.probe(clip)
    assert info.has_video and info.has_audio
    assert abs(info.duration - src.duration) < 0.2
    assert flat(yaml.safe_load((job / "run-settings.yaml").read_text())) == flat(config.preset_overlay("fast"))
