"""The flow for one input: shared stages once, then per language a translation (one LLM, languages in
turn) and a branch (speech, fit, mix, lips, mux, checks) that starts as soon as its translation is done,
so one language is dubbed while the next is translated. The speech/background split, and the alignment
of the source's phones the mouths learn from, which only the branches need, run beside the first
translation.

Caching lives in the job folder (dubbing.workspace), keyed by a hash of each stage's inputs and
settings, not in Prefect's result store: the job folder is what users see and edit, it survives
`kill -9` (records are written atomically), and it works the same when the library is used without
Prefect. Prefect tasks here are therefore NO_CACHE and only give states, retries and parallelism.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

from prefect import flow, task
from prefect.cache_policies import NO_CACHE
from prefect.task_runners import ThreadPoolTaskRunner

import languages
from dubbing import config, llm, pipeline
from dubbing.errors import NoSpeech
from dubbing.workspace import Job, check_writable

from . import runners, warmup
from .server import prefect_api

log = logging.getLogger(__name__)


@task(name="prepare source", cache_policy=NO_CACHE)
def prepare(input_path: str, job: Job, cfg: config.Config, from_lang: str | None, speakers: int | None,
            progress: pipeline.Progress, lipsync: bool | None, run_parts=None):
    return pipeline.prepare(input_path, job, cfg, from_lang, speakers, progress, lipsync, run_parts)


@task(name="separate speech and background, align the speech", cache_policy=NO_CACHE)
def separate(src: pipeline.Source, cfg: config.Config, progress: pipeline.Progress, lipsync: bool | None,
             run_parts=None) -> None:
    pipeline.separate_source(src, cfg, progress, run_parts)
    pipeline.align_source(src, cfg, progress, lipsync)


@task(name="translate", cache_policy=NO_CACHE, task_run_name="translate {code}")
def translate(src: pipeline.Source, code: str, cfg: config.Config, progress: pipeline.Progress, run_parts=None):
    return pipeline.translate_lines(src, languages.get(code), cfg, progress, run_parts)


@task(name="dub language", cache_policy=NO_CACHE, task_run_name="dub {code}")
def dub_language(src: pipeline.Source, tr, code: str, cfg: config.Config, out_dir: Path, lipsync: bool | None,
                 progress: pipeline.Progress, llm_users, run_parts=None):
    return pipeline.dub_language(src, tr, cfg, out_dir, progress, lipsync=lipsync, llm_users=llm_users,
                                 run_parts=run_parts)


def run(input_path: str, targets: list[str], out: str = "out", from_lang: str | None = None,
        speakers: int | None = None, config_path: str | None = None, lipsync: bool | None = None,
        progress: pipeline.Progress = pipeline.quiet, overrides: dict | None = None, dask: str | None = None) -> dict:
    """dub_video, with the seconds Prefect's local server takes to start put to use: the server starts
    (flows.server), the models load in a thread (flows.warmup) and the source is prepared here, into the
    job folder; the flow's prepare task then finds those records fresh and only reads them. `overrides`:
    settings merged over the config file's (command-line options). `dask`: run the language branches
    on Dask workers (a scheduler address, or local[:N] for a LocalCluster; see dub_video)."""
    cfg = config.load(config_path, overrides)
    job = _job(input_path, out)
    with prefect_api(job.path("logs/prefect-server.log")) as api:
        warm = warmup.start(cfg, targets, from_lang)
        try:
            job.clean_partial()  # what a killed run left half-written
            try:  # (on a cluster, the flow prepares it there: the faces are tracked in parts on its workers)
                seconds = {} if dask else pipeline.prepare(input_path, job, cfg, from_lang, speakers, progress,
                                                           lipsync).timings
            except Exception as e:  # the flow's prepare task meets it again, and the flow handles it there
                log.debug("preparation before the flow stopped (%s: %s); the flow reports it",
                          type(e).__name__, e)
                seconds = {}
            with api.connected(), runners.cluster(dask) as address:
                flow_fn = dub_video.with_options(task_runner=runners.task_runner(address)) if dask else dub_video
                progress = pipeline.LocalProgress(progress) if dask else progress  # workers show none
                return flow_fn(input_path, targets, out, from_lang, speakers, config_path, lipsync, progress,
                               prepared_seconds=seconds, overrides=overrides, dask=address)
        finally:  # a process that exits while a model loads in native code aborts: stop after the current load
            warm.stop()


def _job(input_path: str, out: str) -> Job:
    """The job folder of `input_path` under `out`, checked writable."""
    return Job(check_writable(Path(out) / Path(input_path).stem))


@flow(name="dub-video", task_runner=ThreadPoolTaskRunner(max_workers=3), validate_parameters=False, log_prints=False)
def dub_video(input_path: str, targets: list[str], out: str = "out", from_lang: str | None = None,
              speakers: int | None = None, config_path: str | None = None, lipsync: bool | None = None,
              progress: pipeline.Progress = pipeline.quiet, prepared_seconds: dict[str, float] | None = None,
              overrides: dict | None = None, dask: str | None = None) -> dict:
    """Dub `input_path` into each of `targets`; returns the run summary (also written to job.json).
    `progress(step, done, total)` is called from the task threads as work advances; `prepared_seconds`:
    the seconds each stage took when run() prepared the source before the flow (the summary shows them);
    `overrides`: settings merged over the config file's (command-line options). `dask`: the scheduler
    address of this flow's task runner when that is Dask's (run() sets both): the separation and each
    language's branch then run in worker processes, which load their own models, report progress as
    Prefect task states only (give a pipeline.LocalProgress: it is sent to them as part of this flow's
    parameters), and read the source's face analysis that prepare made once, before them; prepare and
    the translations run here and send their tracking, transcription and translation there in parts of
    the video's time."""
    t0 = time.perf_counter()
    cfg = config.load(config_path, overrides)
    langs = [languages.get(c) for c in targets]
    job = _job(input_path, out)
    out_dir = job.root
    job.clean_partial()
    parts = runners.cluster_map(dask) if dask else None  # the source's stages in parts on the workers
    try:
        src = prepare(input_path, job, cfg, from_lang, speakers, progress, lipsync, parts)
    except NoSpeech as e:
        pipeline.record_no_speech(input_path, out_dir, e)
        raise
    src.timings.update(prepared_seconds or {})
    # only the dubs need the background: it is separated beside the first translation
    background = separate.submit(src, cfg, progress, lipsync, runners.dask_map if dask else None)
    # each language's dub starts as soon as its translation is done, while the LLM translates the next,
    # so synthesis and checks overlap the LLM instead of waiting for every translation.
    # The translation model (1.3 GB) is let go once the translations and every language's shortening of
    # lines are done; a language's lip sync waits for that while another language still shortens lines
    # (both grow with the video's length), and a Dask worker lets its own copy go.
    users = llm.Users(1 if dask else len(langs) + 1)
    futures = {}
    with users.asking(then_done=True):
        for lang in langs:
            tr = translate(src, lang.code, cfg, progress, parts)
            futures[lang.code] = dub_language.submit(src, tr, lang.code, cfg, out_dir, lipsync, progress,
                                                     llm.OwnCopy() if dask else users,
                                                     runners.dask_map if dask else None, wait_for=[background])
    background.result()  # a failed separation raises its own error here, not the dubs' "upstream failed"
    results = {code: f.result() for code, f in futures.items()}
    return finish(input_path, src, results, time.perf_counter() - t0, cfg)


@task(name="summary and review page", cache_policy=NO_CACHE)
def finish(input_path: str, src: pipeline.Source, results: dict, seconds: float, cfg: config.Config) -> dict:
    return pipeline.finish(input_path, src, results, seconds, cfg)
