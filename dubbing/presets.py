"""Quality presets (`--quality fast|standard|best`): one YAML overlay per preset in configs/presets/,
merged over configs/default.yaml and under the user's own --config and options (the user's settings
win; dubbing.config.load(preset=...)). `standard` changes nothing. What each preset changes, and what
that was measured to cost and give, is in the overlay files' comments and bench/presets.py."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from .config import _merge, load, preset_overlay
from .files import write_atomic


def settings_file(config: Path | None, name: str, job_dir: Path) -> Path | None:
    """A settings file holding preset `name`'s overlay with the user's `config` merged over it, written
    to JOB_DIR/run-settings.yaml (the flows read their settings from a file); `config` itself for
    `standard` (nothing to add)."""
    over = preset_overlay(name)
    if not over:
        return config
    load(config)  # the user's file is checked first, with its own name in any message
    user = (yaml.safe_load(Path(config).read_text()) or {}) if config else {}
    path = job_dir / "run-settings.yaml"
    write_atomic(path, yaml.safe_dump(_merge(over, user), allow_unicode=True, sort_keys=False).encode())
    return path


def record(job_json: Path, name: str) -> None:
    """Write the preset a run used into its job.json (`"quality": name`)."""
    summary = json.loads(job_json.read_text())
    summary["quality"] = name
    write_atomic(job_json, json.dumps(summary, indent=1, ensure_ascii=False).encode())
