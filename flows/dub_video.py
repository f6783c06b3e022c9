"""The flow for one input: shared stages once, then per language a translation (one LLM, languages in
turn) and a branch (speech, fit, mix, lips, mux, checks) that starts as soon as its translation is done,
so one language is dubbed while the next is translated. The speech/background split, which only the
branches need, runs beside the first translation.

Caching lives in the job folder (dubbing.workspace), keyed by a hash of each stage's inputs and
settings, not in Prefect's result store: the job folder is what users see and edit, it survives
`kill -9` (records are written atomically), and it works the same when the library is used without
Prefect. Prefect tasks here are therefore NO_CACHE and only give states, retries and parallelism.
"""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

from prefect import flow, task
from prefect.cache_policies import NO_CACHE
from prefect.task_runners import ThreadPoolTaskRunner

import languages
from dubbing import config, pipeline, warmup
from dubbing.errors import NoSpeech
from dubbing.schema import write_atomic
from dubbing.workspace import Job, check_writable

_progress: pipeline.Progress = pipeline._quiet  # set by the CLI; tasks run in this process's threads


def set_progress(fn: pipeline.Progress) -> None:
    global _progress
    _progress = fn


# Sources run() prepared before the flow, by job folder: the flow's prepare task takes its own.
_EARLY: dict[Path, pipeline.Source | Exception] = {}


@task(name="prepare source", cache_policy=NO_CACHE)
def prepare(input_path: str, job: Job, cfg: config.Config, from_lang: str | None, speakers: int | None):
    """The prepared source; when run() prepared it before the flow, that result (or its error)."""
    early = _EARLY.pop(job.root, None)
    if isinstance(early, Exception):
        raise early
    if early is not None:
        return early
    return pipeline.prepare(input_path, job, cfg, from_lang, speakers, _progress)


@task(name="separate speech and background", cache_policy=NO_CACHE)
def separate(src: pipeline.Source, cfg: config.Config) -> None:
    pipeline.separate_source(src, cfg, _progress)


@task(name="translate", cache_policy=NO_CACHE, task_run_name="translate {code}")
def translate(src: pipeline.Source, code: str, cfg: config.Config):
    return pipeline.translate_lines(src, languages.get(code), cfg, _progress)


@task(name="dub language", cache_policy=NO_CACHE, task_run_name="dub {code}")
def dub_language(src: pipeline.Source, tr, code: str, cfg: config.Config, out_dir: Path, lipsync: bool | None):
    result = pipeline.dub_language(src, tr, cfg, out_dir, _progress, lipsync=lipsync)
    try:  # the review page's plots of this language, drawn now rather than all at the end of the run
        from dubbing import review

        review.draw_plots(out_dir, code)
    except Exception:  # the page is built at the end, and says there what failed
        pass
    return result


def run(input_path: str, targets: list[str], out: str = "out", from_lang: str | None = None,
        speakers: int | None = None, config_path: str | None = None, lipsync: bool | None = None,
        overrides: dict | None = None) -> dict:
    """dub_video, with the ~10 s Prefect takes to start its local server put to use: the server starts in a
    thread while the models load (dubbing.warmup) and this thread prepares the source (here, a Ctrl-C
    stops it at once); the flow's prepare task then takes that result."""
    cfg = config.load(config_path, overrides)
    warm = warmup.start(cfg, targets, from_lang)
    try:
        server = threading.Thread(target=_start_local_server, name="prefect server", daemon=True)
        server.start()
        job = _job(input_path, out)
        job.clean_partial()  # what a killed run left half-written
        try:
            early: pipeline.Source | Exception = pipeline.prepare(input_path, job, cfg, from_lang, speakers, _progress)
        except Exception as e:  # the flow's prepare task raises it, so the flow handles it as its own
            early = e
        server.join()  # a client that finds the server still starting would not wait for it
        _EARLY[job.root] = early
        try:
            summary = dub_video(input_path, targets, out, from_lang, speakers, config_path, lipsync, overrides)
        finally:
            _EARLY.pop(job.root, None)
    finally:  # a process that exits while a model loads in native code aborts: stop after the current load
        warm.stop()
    return summary


def _start_local_server() -> None:
    """Start the local server Prefect would start on the flow's first call (none if a server is configured);
    a failure is left for that call to report."""
    from prefect.settings import PREFECT_API_URL, PREFECT_SERVER_EPHEMERAL_ENABLED

    if PREFECT_API_URL.value() or not PREFECT_SERVER_EPHEMERAL_ENABLED.value():
        return
    from prefect.server.api.server import SubprocessASGIServer

    try:
        SubprocessASGIServer().start()
    except Exception:
        pass


def _job(input_path: str, out: str) -> Job:
    """The job folder of `input_path` under `out`, checked writable."""
    return Job(check_writable(Path(out) / Path(input_path).stem))


@flow(name="dub-video", task_runner=ThreadPoolTaskRunner(max_workers=3), validate_parameters=False, log_prints=False)
def dub_video(input_path: str, targets: list[str], out: str = "out", from_lang: str | None = None,
              speakers: int | None = None, config_path: str | None = None, lipsync: bool | None = None,
              overrides: dict | None = None) -> dict:
    """Dub `input_path` into each of `targets`; returns the run summary (also written to job.json).
    `overrides`: settings merged over the config file's (command-line options)."""
    t0 = time.perf_counter()
    cfg = config.load(config_path, overrides)
    langs = [languages.get(c) for c in targets]
    job = _job(input_path, out)
    out_dir = job.root
    job.clean_partial()
    try:
        src = prepare(input_path, job, cfg, from_lang, speakers)
    except NoSpeech as e:
        copy = pipeline.copy_untouched(input_path, out_dir)
        summary = {"input": input_path, "status": "no speech", "message": str(e), "outputs": {"copy": str(copy)}}
        write_atomic(out_dir / "job.json", json.dumps(summary, indent=1).encode())
        raise
    # only the dubs need the background: it is separated beside the first translation
    background = separate.submit(src, cfg)
    # each language's dub starts as soon as its translation is done, while the LLM translates the next,
    # so synthesis and checks overlap the LLM instead of waiting for every translation
    futures = {}
    for lang in langs:
        tr = translate(src, lang.code, cfg)
        futures[lang.code] = dub_language.submit(src, tr, lang.code, cfg, out_dir, lipsync, wait_for=[background])
    background.result()  # a failed separation raises its own error here, not the dubs' "upstream failed"
    results = {code: f.result() for code, f in futures.items()}
    summary = summarize(input_path, src, results, time.perf_counter() - t0, previous=_previous(out_dir))
    if cfg.output.multitrack and results:
        from dubbing import multitrack

        summary["multitrack"] = str(multitrack.for_job(src, list(summary["languages"]), cfg, out_dir))
    write_atomic(out_dir / "job.json", json.dumps(summary, indent=1, ensure_ascii=False).encode())
    try:  # the dubs are done; a page that cannot be built must not turn the run into a failure
        summary["review"] = str(review_page(out_dir))
    except Exception as e:
        summary["review"] = f"not built: {type(e).__name__}: {e}"
    write_atomic(out_dir / "job.json", json.dumps(summary, indent=1, ensure_ascii=False).encode())
    return summary


@task(name="review page", cache_policy=NO_CACHE)
def review_page(out_dir: Path) -> Path:
    from dubbing import review

    return review.build(out_dir)


def _previous(out_dir: Path) -> dict:
    try:
        return json.loads((out_dir / "job.json").read_text())
    except (OSError, ValueError):
        return {}


def summarize(input_path: str, src: pipeline.Source, results: dict, seconds: float, previous: dict | None = None) -> dict:
    """The run's summary; languages dubbed by earlier runs of the same job (same source) are kept."""
    kept = {}
    if previous and previous.get("source", {}).get("key") == src.key:
        kept = {k: v for k, v in previous.get("languages", {}).items() if k not in results}
    return {
        "input": str(Path(input_path).resolve()),
        "status": "ok",
        "job": str(src.job.root),
        "source": {"language": src.transcript.language, "duration": src.info.duration,
                   "speakers": src.diarization.speakers, "lines": len(src.lines), "key": src.key},
        "seconds": round(seconds, 2),
        "stage_seconds": {k: round(v, 2) for k, v in src.timings.items()},
        "languages": kept | {
            code: {"output": str(r.output), "subtitles": [str(p) for p in r.subtitles], "quality": r.quality,
                   "stage_seconds": {k: round(v, 2) for k, v in r.timings.items()}}
            for code, r in results.items()
        },
    }
