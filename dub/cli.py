"""The `dub` command. Heavy modules are imported inside commands so `dub --help` starts fast."""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import signal
import sys
import threading
import time
import traceback
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.table import Table

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="Dub videos into other languages, with lips re-synced to the new voices.")


def _stderr():
    """Standard error on a descriptor of its own: lipsync.track points descriptor 2 at /dev/null for a
    moment while native libraries load, and an error line printed meanwhile from another thread was lost
    (a disk-full run ended with exit 5 and said nothing)."""
    import sys

    try:
        return os.fdopen(os.dup(sys.stderr.fileno()), "w", buffering=1, encoding="utf-8", errors="replace")
    except (OSError, ValueError, AttributeError):  # no descriptor behind sys.stderr (an embedding host)
        return sys.stderr


console = Console(file=_stderr())


INTERRUPTED = "interrupted; finished stages are kept: run the same command again to resume"
# Set by Ctrl-C. Prefect swallows a KeyboardInterrupt that lands in its own task set-up (a Ctrl-C just
# as a translation started was ignored and the run went on to the end), and the language branches run
# in worker threads, which a signal never reaches: each progress report raises it again.
_CTRL_C = threading.Event()


def _fail(msg: str, code: int) -> None:
    logging.getLogger("dub").info("stopped: %s (exit %d)", msg, code)  # the file's record; the user sees the line below
    console.print(f"[bold red]error:[/] {msg}", highlight=False, soft_wrap=True)
    raise SystemExit(code)


def _log_crash(exc: BaseException) -> Path:
    from dubbing.models import home

    p = home() / "logs" / "last-error.txt"
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text("".join(traceback.format_exception(exc)))
    return p


def main() -> None:
    """Entry point: every failure becomes one line on stderr and a non-zero exit."""
    try:
        _main()
    except SystemExit as e:
        if e.code == 130:  # interrupted: the one line is out and every stage's clean-up has run
            _leave(130)
        raise
    finally:
        logging.shutdown()


def _leave(code: int) -> None:
    """Exit at once, without the interpreter's teardown: after a Ctrl-C, language branches still running in
    worker threads hold native objects, and their libraries report them at teardown ("nanobind: leaked 1
    instances! ... soxr.soxr_ext.CSoxr", 18 lines under the one-line error, stop 36)."""
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    os._exit(code)


def _main() -> None:
    from dubbing.malloc import return_freed_memory

    return_freed_memory()  # long dubs: freed arrays go back to the system (see dubbing/malloc.py)
    # MediaPipe's native (glog/absl) logging writes INFO/WARNING lines straight to stderr
    os.environ.setdefault("GLOG_minloglevel", "3")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    if not os.environ.get("DUB_DEBUG"):  # library warnings are for developers, not users
        import warnings

        warnings.simplefilter("ignore")
    try:
        app()
    except KeyboardInterrupt:
        _fail(INTERRUPTED, 130)
    except SystemExit as e:  # Prefect turns Ctrl-C inside a flow into a silent exit 130
        if e.code == 130:
            _fail(INTERRUPTED, 130)
        raise
    except OSError as e:
        if e.errno == errno.ENOSPC:
            _fail(f"disk full while writing {e.filename or 'output'}: free space and run again to resume", 5)
        _fail(f"{e.strerror or e}: {e.filename or ''}".strip(), 5)
    except Exception as e:
        _fail_on(e)


def _fail_on(e: Exception) -> None:
    """A user's error in one line with its exit code; a bug in one line, its traceback in a log. (The error
    types are imported here, not at start-up: pydantic alone would double the time `dub --help` takes.)"""
    from dubbing.config import ConfigError
    from dubbing.errors import DubError
    from dubbing.schema import RecordError

    if isinstance(e, DubError):
        _fail(str(e), e.exit_code)
    if isinstance(e, (ConfigError, RecordError)):
        _fail(str(e), 2)
    logging.getLogger("dub").debug("internal error", exc_info=True)  # into logs/dub.log, not onto the console
    log = _log_crash(e)
    _fail(f"internal error ({type(e).__name__}: {e}); details in {log}", 1)


@app.callback()
def _options(verbose: bool = typer.Option(False, "--verbose", "-v", help="show every log line (all of them are "
                                          "kept in the job folder's logs/dub.log)")):
    from .logs import setup

    setup(verbose, console)
    _quiet_prefect()  # before any command imports Prefect, which reads its settings once


def _languages(to: str):
    import languages

    try:
        return languages.parse_list(to)
    except languages.UnknownLanguage as e:
        from dubbing.errors import DubError

        raise DubError(str(e)) from None


def _quiet_prefect() -> None:
    """Prefect's console logs would bury the progress bars and print tracebacks for errors we already
    report in one line; task states still go to its API (and UI), and the job folder keeps records."""
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "CRITICAL")
    os.environ.setdefault("PREFECT_SERVER_LOGGING_LEVEL", "CRITICAL")


class _RichProgress:
    """Maps pipeline progress callbacks (step, done, total) onto rich progress bars. Passed into the
    flows as a parameter (Prefect records it as a placeholder: __slots__ keeps it from being walked).

    `steps`: the run's steps and their shares of its work (dubbing.workload.run_steps); given, a first
    bar, "all", shows the whole run: the shares of the steps done so far, and the time left at the
    speed of its last 30 s (rich's estimate)."""

    __slots__ = ("p", "tasks", "steps", "done", "lock")

    def __init__(self, progress, steps: dict[str, float] | None = None):
        self.p = progress
        self.tasks: dict[str, int] = {}
        self.steps = steps or {}
        self.done: dict[str, float] = {}  # step -> fraction done, of those in `steps`
        self.lock = threading.Lock()  # stages report from several threads at once
        if self.steps:
            self.tasks["all"] = self.p.add_task("all", total=sum(self.steps.values()))

    def __call__(self, step: str, done: float, total: float) -> None:
        if _CTRL_C.is_set():
            raise KeyboardInterrupt
        with self.lock:
            if step not in self.tasks:
                self.tasks[step] = self.p.add_task(step, total=total or 1)
            self.p.update(self.tasks[step], completed=done, total=total or 1)
            if step in self.steps:
                self.done[step] = min(max(done / (total or 1), 0.0), 1.0)
                self.p.update(self.tasks["all"], completed=sum(self.steps[s] * f for s, f in self.done.items()))

    def finish(self) -> None:
        """The run is over: the whole-run bar full (steps with nothing to do said nothing)."""
        if self.steps:
            self.p.update(self.tasks["all"], completed=sum(self.steps.values()))


def _progress_bar():
    from .bars import progress_bar

    return progress_bar(console)


def _check_quality(name: str) -> str:
    """--quality's value, or a ConfigError: one line and exit 2 (typer's own choice check draws a box)."""
    from dubbing.config import preset_overlay

    preset_overlay(name)
    return name


_QUALITY = typer.Option("standard", "--quality", metavar="fast|standard|best", callback=_check_quality,
                        help="speed against quality: configs/presets/<name>.yaml over the defaults, under "
                        "--config (standard: the defaults)")


@app.command()
def translate(
    input: Path = typer.Argument(..., help="video (mp4, mov, webm, mkv) or audio (wav, mp3, m4a, flac)"),
    to: str = typer.Option(..., "--to", help="target languages, comma-separated, e.g. es,fr,ja"),
    out: Path = typer.Option(Path("out"), "--out", help="output folder; the job goes in OUT/<input name>/"),
    from_: Optional[str] = typer.Option(None, "--from", help="source language (default: detected)"),
    speakers: Optional[int] = typer.Option(None, "--speakers", min=1, help="number of speakers, as a hint"),
    config: Optional[Path] = typer.Option(None, "--config", help="YAML settings merged over configs/default.yaml"),
    no_lipsync: bool = typer.Option(False, "--no-lipsync", help="keep the source video frames as they are"),
    burn_subtitles: bool = typer.Option(False, "--burn-subtitles", help="draw the subtitles into each dub's picture"),
    stems: bool = typer.Option(False, "--stems", help="also write <lang>/stems/: dialogue per speaker, dialogue, "
                               "background, mix (WAV 48 kHz)"),
    multitrack: bool = typer.Option(False, "--multitrack", help="also write <name>.multi.mkv: the original and "
                                    "every dub as language-tagged audio tracks, subtitles as tracks"),
    transcript: Optional[Path] = typer.Option(None, "--transcript", help="subtitles (.srt/.vtt) in the source "
                                              "language instead of speech recognition; 'ANNA:', '[Anna]' and "
                                              "'- ' turns name the speakers"),
    translation: list[str] = typer.Option([], "--translation", help="LANG=FILE: your own translation of a "
                                          "language (JSON {line_id: text} or SRT); repeat per language"),
    glossary: Optional[Path] = typer.Option(None, "--glossary", help="terms and their translations: CSV "
                                            "(term,es,fr; empty cell or a keep column = keep) or YAML"),
    voice: list[str] = typer.Option([], "--voice", help="pin a voice: SPEAKER_00=NAME (a library voice, a .npy/.pt "
                                    "style file or a stock voice); repeat per speaker"),
    quality: str = _QUALITY,
    dask: Optional[str] = typer.Option(None, "--dask", help="run the language branches, and each one's speech and lip "
                                       "render in parts of the video's time, on Dask worker processes: a scheduler "
                                       "address, or local[:N] for a LocalCluster (progress then shows as Prefect "
                                       "task states)"),
):
    """Dub INPUT into each language: one video (or audio) per language, with subtitles."""
    from dubbing import config as config_mod
    from dubbing import media
    from dubbing.errors import DubError, NoSpeech
    from dubbing.workspace import check_writable

    langs = _languages(to)
    if from_:
        import languages as L

        try:
            L.get(from_)
        except L.UnknownLanguage as e:
            raise DubError(str(e)) from None
        if any(l.code == from_.lower() for l in langs):
            raise DubError(f"source language {from_} is also a target: nothing to translate")
    overrides = {"output": {k: True for k, on in (("burn_subtitles", burn_subtitles), ("stems", stems),
                                                  ("multitrack", multitrack)) if on}}
    cfg = config_mod.load(config, overrides, quality)  # fail fast on a bad config
    info = media.probe(input)
    if not info.has_audio:
        raise DubError(f"no audio track in {input}: nothing to dub")
    check_writable(out)
    if dask:
        from flows.runners import local_workers

        local_workers(dask)  # a bad local:N fails now, not after the source is prepared
    if cfg.output.burn_subtitles and info.has_video:  # fail fast on a missing font, before hours of work
        from dubbing.burn import check_fonts

        check_fonts(cfg.output.subtitle_font, [l.code for l in langs])
    from dubbing import presets, run_inputs

    from .voices_cli import pin_config

    own = run_inputs.parse_translations(translation, [l.code for l in langs])
    run_inputs.check(transcript, from_.lower() if from_ else None, info.duration, glossary)
    config = presets.settings_file(config, quality, check_writable(out / input.stem))
    config = run_inputs.config_with(config, run_inputs.settings(transcript, own, glossary),
                                    check_writable(out / input.stem))
    config = pin_config(config, voice, out / input.stem)
    run_inputs.check_server(config_mod.load(config, overrides))
    from .logs import log_to

    log_to(out / input.stem)
    from flows.dub_video import run

    t0 = time.perf_counter()
    signal.signal(signal.SIGINT, _on_ctrl_c)
    from dubbing.pipeline import lips_on
    from dubbing.workload import run_steps

    lips = lips_on(info, cfg, False if no_lipsync else None)
    with _progress_bar() as bar:
        bars = _RichProgress(bar, run_steps([l.code for l in langs], lips))
        try:
            summary = run(str(input), [l.code for l in langs], str(out), from_, speakers,
                          str(config) if config else None, False if no_lipsync else None,
                          progress=bars, overrides=overrides, dask=dask)
            bars.finish()
        except NoSpeech as e:
            console.print(f"[yellow]{e}[/]: an untouched copy is in {out / input.stem}")
            raise SystemExit(e.exit_code)
        except BaseException:
            if _CTRL_C.is_set():  # whatever the interrupt became on its way out of Prefect
                raise KeyboardInterrupt from None
            raise
    presets.record(Path(summary["job"]) / "job.json", quality)
    _summary_table(summary, time.perf_counter() - t0)


def _on_ctrl_c(signum, frame) -> None:
    _CTRL_C.set()
    raise KeyboardInterrupt


def _summary_table(summary: dict, seconds: float) -> None:
    """The run's table; CER is of what ASR heard against the script (in Japanese, of their readings)."""
    t = Table(title=f"dubbed {summary['input']} ({summary['source']['duration']:.1f} s, "
                    f"{summary['source']['language']}, {len(summary['source']['speakers'])} speaker(s)) in {seconds:.0f} s")
    for col in ("lang", "output", "lines", "timing ok", "stretch", "CER", "heard as"):
        t.add_column(col)
    for code, r in summary["languages"].items():
        q = r["quality"]
        own = len(r.get("own_voice", []))  # lines left in the speaker's own voice (dubbing.kept_speech)
        t.add_row(code, r["output"], f"{q['lines']}" + (f" +{own} own voice" if own else ""), f"{q['within_0.3s']:.0%}",
                  f"{q['stretch_min']:.2f}-{q['stretch_max']:.2f}", f"{q.get('cer_reading', q['cer']):.1%}", q["detected_language"])
    Console().print(t)


_OUT_DIR = typer.Option(Path("out"), "--out", help="output folder")
_CONFIG_FILE = typer.Option(None, "--config", help="YAML settings merged over configs/default.yaml")


def _lips_command(step: str, out: Path, config: Optional[Path], quality: str, run):
    """Load the settings (preset `quality` under `config`), check the output folder, and run
    `run(cfg, progress)` under a progress bar."""
    from dubbing import config as config_mod
    from dubbing.workspace import check_writable

    cfg = config_mod.load(config, preset=quality)
    check_writable(out)
    from .logs import log_to

    log_to(out)
    with _progress_bar() as bar:
        prog = _RichProgress(bar)
        return run(cfg, lambda done, total: prog(step, done, total))


@app.command()
def lipsync(
    video: Path = typer.Argument(..., help="the video whose mouths are re-synced"),
    audio: Path = typer.Option(..., "--audio", help="replacement audio track (wav, mp3, m4a, flac, or a video)"),
    out: Path = _OUT_DIR,
    config: Optional[Path] = _CONFIG_FILE,
    quality: str = _QUALITY,
):
    """Re-sync VIDEO's mouths to a replacement audio track (its text is found by ASR)."""
    from flows import lipsync as flows

    path, report, note = _lips_command("lips", out, config, quality, lambda cfg, p: flows.run(
        flows.lipsync_video, video, audio, out, cfg, progress=p, log_dir=out))
    if note:
        console.print(f"[yellow]note:[/] {note}")
    _report_line(path, report)


@app.command()
def animate(
    image: Path = typer.Argument(..., help="a still portrait (png, jpg)"),
    audio: Path = typer.Option(..., "--audio", help="the speech it should speak"),
    out: Path = _OUT_DIR,
    config: Optional[Path] = _CONFIG_FILE,
    quality: str = _QUALITY,
):
    """Make a still portrait speak AUDIO, with blinks and slight head motion."""
    from flows import lipsync as flows

    path, report = _lips_command("animate", out, config, quality, lambda cfg, p: flows.run(
        flows.animate_image, image, audio, out, cfg, progress=p, log_dir=out))
    _report_line(path, report)


def _report_line(path: Path, report) -> None:
    data = report.model_dump()
    shown = {k: v for k, v in data.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}
    Console().print(f"wrote {path}")
    if shown:
        Console().print("  " + "  ".join(f"{k}={v:.3g}" for k, v in list(shown.items())[:8]))
    for span in data.get("skipped", []) or []:
        Console().print(f"  skipped {span}")


@app.command()
def align(
    audio: Path = typer.Argument(..., help="speech audio"),
    text: str = typer.Argument(..., help="what is said (or @FILE to read it from a file)"),
    lang: str = typer.Option(..., "--lang", help="language code of the speech"),
    json_out: bool = typer.Option(False, "--json", help="print JSON instead of a table"),
):
    """Print the phonemes of AUDIO with their times (forced alignment of TEXT)."""
    import json

    import languages as L

    from dubbing import align as align_mod
    from dubbing import media
    from dubbing.errors import DubError

    try:
        language = L.get(lang)
    except L.UnknownLanguage as e:
        raise DubError(str(e)) from None
    if text.startswith("@"):
        try:
            text = Path(text[1:]).read_text()
        except OSError as e:
            raise DubError(f"cannot read {text[1:]}: {e.strerror}") from None
    if not text.strip():
        raise DubError("no text to align")
    wav = media.load_audio(audio, 16000)
    phones = align_mod.align(wav, 16000, text, language)
    if json_out:
        print(json.dumps([p.model_dump() for p in phones], ensure_ascii=False, indent=1))
        return
    t = Table(title=f"{audio} ({language.name})")
    for col in ("phone", "start (s)", "end (s)"):
        t.add_column(col)
    for p in phones:
        t.add_row(p.symbol, f"{p.start:.3f}", f"{p.end:.3f}")
    Console().print(t)


@app.command()
def review(
    job_dir: Path = typer.Argument(..., help="a job folder dub translate wrote (OUT/<input name>)"),
    approve: Optional[str] = typer.Option(None, "--approve", help="mark languages reviewed, e.g. es,fr (then exit)"),
    port: int = typer.Option(8765, "--port", help="port on 127.0.0.1 (0 = any free one)"),
    no_browser: bool = typer.Option(False, "--no-browser", help="do not open a browser"),
):
    """Build JOB_DIR's review page and serve it on localhost until Ctrl-C; --approve marks languages reviewed."""
    from .review_server import review_command

    review_command(job_dir, approve.split(",") if approve else None, port, not no_browser)


from .voices_cli import voices_app  # noqa: E402  (dub voices list / name)

app.add_typer(voices_app, name="voices")

library_app = typer.Typer(no_args_is_help=True, help="Keep a content library dubbed: now, or on a cron schedule.")
app.add_typer(library_app, name="library")

_ROOT = typer.Option(None, "--root", help="library folder, scanned recursively for video and audio files")
_MANIFEST = typer.Option(None, "--manifest", help="file listing the media instead: one path a line, or a YAML list")
_TO = typer.Option(..., "--to", help="target languages, comma-separated, e.g. es,fr")
_OUT = typer.Option(Path("out"), "--out", help="output folder; each video goes in OUT/<subfolder>/<name>/")
_CONFIG = typer.Option(None, "--config", help="YAML settings merged over configs/default.yaml")
_NO_LIPSYNC = typer.Option(False, "--no-lipsync", help="keep the source video frames as they are")
_DASK = typer.Option(None, "--dask", help="run videos on Dask: a scheduler address, or local[:N] for a LocalCluster")


@library_app.command("deploy")
def library_deploy(root: Optional[Path] = _ROOT, manifest: Optional[Path] = _MANIFEST, to: str = _TO,
                   cron: str = typer.Option(..., "--cron", help='five-field cron line, local time, e.g. "0 2 * * *"'),
                   pool: str = typer.Option("dub", "--pool", help="Prefect work pool (type process, created if missing)"),
                   name: str = typer.Option("library", "--name", help="deployment name: dub-library/NAME"),
                   out: Path = _OUT, config: Optional[Path] = _CONFIG, no_lipsync: bool = _NO_LIPSYNC,
                   dask: Optional[str] = _DASK):
    """Create a Prefect deployment that dubs the library on a schedule (needs `prefect server start`)."""
    from flows.deploy import deploy_command

    deploy_command(root, manifest, [l.code for l in _languages(to)], cron, pool, name, out, config,
                   False if no_lipsync else None, dask)


@library_app.command("run")
def library_run(root: Optional[Path] = _ROOT, manifest: Optional[Path] = _MANIFEST, to: str = _TO,
                out: Path = _OUT, config: Optional[Path] = _CONFIG, no_lipsync: bool = _NO_LIPSYNC,
                dask: Optional[str] = _DASK):
    """Dub, once and now, every video in the library whose dub is missing or stale."""
    from flows.deploy import run_command

    summary = run_command(root, manifest, [l.code for l in _languages(to)], out, config,
                          False if no_lipsync else None, dask)
    raise SystemExit(1 if summary["counts"]["failed"] else 0)


@app.command()
def doctor(config: Optional[Path] = _CONFIG_FILE):
    """List every model and backend, available or not, and why (servers as --config sets them)."""
    from .doctor import checks

    t = Table(title="dub doctor")
    for col in ("stage", "backend", "status", "detail"):
        t.add_column(col)
    bad = 0
    for c in checks(config):
        t.add_row(c.stage, c.name, "[green]ok[/]" if c.ok else ("[yellow]optional[/]" if c.optional else "[red]missing[/]"),
                  c.detail)
        bad += not c.ok and not c.optional
    Console().print(t)
    raise SystemExit(1 if bad else 0)


if __name__ == "__main__":
    main()
