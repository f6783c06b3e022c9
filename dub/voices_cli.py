"""`dub voices ...` (the voice library) and `dub translate --voice SPEAKER=NAME` (pinned voices).

Pins reach the pipeline as settings (tts.voices): the user's --config (if any) with the pins merged
over it is written beside the job as `voices-pinned.yaml`, and that file is the run's --config.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Optional

import typer
import yaml
from rich.console import Console
from rich.table import Table

from dubbing.errors import DubError

voices_app = typer.Typer(no_args_is_help=True, help="The voice library: cloned voices kept for the next video.")


def parse_pins(pins: list[str]) -> dict[str, str]:
    """["SPEAKER_00=anna", ...] -> {"SPEAKER_00": "anna"}; each voice checked now (one line if unknown)."""
    from dubbing import own_voice

    out = {}
    for item in pins:
        speaker, eq, ref = item.partition("=")
        if not eq or not speaker.strip() or not ref.strip():
            raise DubError(f"--voice {item!r}: expected SPEAKER=VOICE, e.g. SPEAKER_00=anna or SPEAKER_01=my.npy")
        own_voice.voice_name(ref.strip())  # checked now: one line, before any work
        out[speaker.strip()] = ref.strip()
    return out


def pin_config(config: Optional[Path], pins: list[str], job_dir: Path) -> Optional[Path]:
    """The config file to run with: `config` unchanged if there are no pins, else a copy with tts.voices set."""
    if not pins:
        return config
    voices = parse_pins(pins)
    data = (yaml.safe_load(config.read_text()) or {}) if config else {}
    if not isinstance(data, dict):
        raise DubError(f"{config}: expected a mapping of settings")
    tts = data.setdefault("tts", {})
    tts["voices"] = {**(tts.get("voices") or {}), **voices}
    job_dir.mkdir(parents=True, exist_ok=True)
    path = job_dir / "voices-pinned.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=True, allow_unicode=True))
    return path


@voices_app.command("list")
def list_voices():
    """The kept voices: id, name, where they were cloned from, and how alike they sounded."""
    from dubbing import voicelib

    lib = voicelib.load()
    t = Table(title=f"voice library ({voicelib.root()})")
    for col in ("id", "name", "from", "language", "similarity", "CER", "pitch", "formants", "search s", "created"):
        t.add_column(col)
    for v in sorted(lib.voices, key=lambda v: v.created):
        t.add_row(v.id, v.name, v.source, v.language, f"{v.start_similarity:.2f} -> {v.similarity:.2f}",
                  f"{v.cer:.2f}", f"{v.pitch:+.1f}", f"x{v.formant:.2f}", f"{v.seconds:.0f}",
                  time.strftime("%Y-%m-%d %H:%M", time.localtime(v.created)))
    Console().print(t)
    if not lib.voices:
        Console().print("no voices kept yet: dub with tts.clone: true to clone speakers' voices")


@voices_app.command("name")
def name_voice(voice: str = typer.Argument(..., help="a kept voice's id (or current name)"),
               name: str = typer.Argument(..., help="its new name, for --voice SPEAKER_00=NAME")):
    """Name a kept voice, to pin it to a speaker with --voice."""
    from dubbing import voicelib

    v = voicelib.rename(voice, name)
    Console().print(f"{v.id} is now {v.name!r}")
