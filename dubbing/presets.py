"""Quality presets (`--quality fast|standard|best`): one YAML overlay per preset in configs/presets/,
merged over configs/default.yaml and under the user's own --config and options (the user's settings
win). `standard` changes nothing. What each preset changes, and what that was measured to cost and
give, is in the overlay files' comments and bench/presets.py."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from .errors import DubError
from .files import write_atomic

FOLDER = Path(__file__).resolve().parent.parent / "configs" / "presets"
NAMES = ("fast", "standard", "best")  # slowest last; each has FOLDER/<name>.yaml
DEFAULT = "standard"


def check(name: str) -> str:
    """`name` if it is a preset, else DubError (exit 2) naming the choices."""
    if name not in NAMES:
        raise DubError(f"--quality {name!r}: expected one of {', '.join(NAMES)}")  # exit 2
    return name


def overlay(name: str) -> dict:
    """The settings preset `name` changes, as nested sections (empty for `standard`)."""
    data = yaml.safe_load((FOLDER / f"{check(name)}.yaml").read_text()) or {}
    if not isinstance(data, dict):
        raise DubError(f"{FOLDER / name}.yaml: expected a mapping of settings")
    return data


def settings_file(config: Path | None, name: str, job_dir: Path) -> Path | None:
    """A settings file holding preset `name`'s overlay with the user's `config` merged over it, written
    to JOB_DIR/run-settings.yaml; `config` itself for `standard` (nothing to add)."""
    over = overlay(name)
    if not over:
        return config
    from .config import _merge, load

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
