"""The user's own inputs to `dub translate`: subtitles to start from (--transcript), translations per
language (--translation LANG=FILE) and a glossary (--glossary). Each is checked before the run starts
(one DubError line), then given to the run as settings (asr.transcript, translation.files,
translation.glossary) written beside the job, merged over the user's --config."""

from __future__ import annotations

from pathlib import Path

import yaml

from . import glossary, subtitle_source
from .errors import DubError
from .files import write_atomic


def parse_translations(specs: list[str], targets: list[str]) -> dict[str, str]:
    """{language: absolute file path} of "LANG=FILE" options; each language must be a target."""
    out: dict[str, str] = {}
    for spec in specs:
        code, sep, file = spec.partition("=")
        code = code.strip().lower()
        if not sep or not code or not file.strip():
            raise DubError(f"--translation {spec!r}: expected LANG=FILE, e.g. es=talk.es.srt")
        if code not in targets:
            raise DubError(f"--translation {spec!r}: {code} is not one of the targets (--to {','.join(targets)})")
        path = Path(file.strip()).expanduser()
        if not path.is_file():
            raise DubError(f"--translation {spec!r}: {path}: file not found")
        if code in out:
            raise DubError(f"--translation: two files for {code}")
        out[code] = str(path.resolve())
    return out


def check(transcript: Path | None, from_lang: str | None, duration: float, glossary_file: Path | None) -> None:
    """DubError (one line) for subtitles or a glossary that cannot be used; `duration` is the media's, in
    seconds."""
    if transcript is not None:
        subtitle_source.transcript(transcript, from_lang, duration)
    if glossary_file is not None:
        glossary.load(glossary_file)


def settings(transcript: Path | None, translations: dict[str, str], glossary_file: Path | None) -> dict:
    """The settings these inputs stand for (paths made absolute: the run may read them from elsewhere)."""
    out: dict = {}
    if transcript is not None:
        out["asr"] = {"transcript": str(transcript.expanduser().resolve())}
    tr: dict = {}
    if translations:
        tr["files"] = translations
    if glossary_file is not None:
        tr["glossary"] = str(glossary_file.expanduser().resolve())
    if tr:
        out["translation"] = tr
    return out


def config_with(config: Path | None, extra: dict, job_dir: Path, under: bool = False) -> Path | None:
    """`config` with `extra` merged over it (or, with `under`, beneath it: the user's file wins), written to
    JOB_DIR/run-settings.yaml; `config` itself if there is nothing extra."""
    if not extra:
        return config
    from .config import _merge, load

    load(config)  # the user's file is checked first, with its own name in any message
    base = (yaml.safe_load(config.read_text()) or {}) if config else {}
    merged = _merge(extra, base) if under else _merge(base, extra)
    path = job_dir / "run-settings.yaml"
    write_atomic(path, yaml.safe_dump(merged, allow_unicode=True, sort_keys=False).encode())
    return path



def check_server(cfg) -> None:
    """With translation.backend "openai", DubError now if the server is down or does not serve the model,
    rather than after minutes of speech recognition."""
    if cfg.translation.backend == "openai" and not cfg.translation.files:
        from .translate import BACKENDS

        BACKENDS["openai"].check("", None, cfg.translation)
