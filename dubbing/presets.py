"""Quality presets (`--quality fast|standard|best`): one YAML overlay per preset in configs/presets/,
merged over configs/default.yaml and under the user's own --config and options (the user's settings
win; dubbing.config.load(preset=...)). `standard` changes nothing. What each preset changes, and what
that was measured to cost and give, is in the overlay files' comments and bench/presets.py."""

from __future__ import annotations

import json
from pathlib import Path

from .config import preset_overlay
from .files import write_atomic
from .run_inputs import config_with


def settings_file(config: Path | None, name: str, job_dir: Path) -> Path | None:
    """A settings file holding preset `name`'s overlay with the user's `config` merged over it, written
    to JOB_DIR/run-settings.yaml (the flows read their settings from a file); `config` itself for
    `standard` (nothing to add)."""
    return config_with(config, preset_overlay(name), job_dir, under=True)


def record(job_json: Path, name: str) -> None:
    """Write the preset a run used into its job.json (`"quality": name`)."""
    summary = json.loads(job_json.read_text())
    summary["quality"] = name
    write_atomic(job_json, json.dumps(summary, indent=1, ensure_ascii=False).encode())
