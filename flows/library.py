"""Keep a content library dubbed: find the media under a folder (or listed in a manifest), dub the
ones whose dubs are missing or stale, one video at a time per video (a lock), one failure never
stopping the others.

Per video, out/<subfolder>/<stem>/library.json records what the last good dub was made from: per
language, the source's content digest and the settings digest. A language is stale when either
changed or its output file is gone. A failed run records its one-line error there and leaves the
last good outputs in place (the pipeline replaces an output only by a finished one, atomically).

The scan, the decisions and the locking are plain functions (`library_run`, `visit`); the Prefect
flow `library` only chooses how the videos run: in turn in this process by default, or on a Dask
cluster (prefect-dask) when given a scheduler address, or "local[:N]" for a LocalCluster.

Two locks keep one video from being dubbed twice at once: a file lock in its job folder (threads and
processes of one host, and a dead holder's lock is free at once), and, when a video is dubbed as a
Prefect task, a Prefect global concurrency limit of one named after the video's place in the library
(`server_lock`): every worker and host that reports to the same Prefect server shares it, whatever
disk it sees the library on. A holder renews a record of itself (a Prefect variable) while it dubs; a
slot whose holder stopped renewing for `STALE` seconds (killed mid-dub) is taken back (`server_lock`).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import socket
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import yaml
from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE
from pydantic import Field

import languages
from dubbing import config
from dubbing.errors import DubError, NoSpeech
from dubbing.media import AUDIO_EXTS, VIDEO_EXTS
from dubbing.files import write_atomic
from dubbing.schema import Record, RecordError
from dubbing.workspace import check_writable, digest, file_digest

from .runners import task_runner

MEDIA_EXTS = VIDEO_EXTS | AUDIO_EXTS
STATE = "library.json"  # per video, in its job folder
LOCK = "library.lock"  # per video, in its job folder, held while the video is looked at or dubbed
SUMMARY = "library-summary.json"  # per library run, in the output root
log = logging.getLogger(__name__)
LEASE = 300.0  # seconds a dubbing worker's concurrency slot outlives it if it dies (renewed while alive)
PATIENCE = 120.0  # seconds to wait for a free slot from a slow Prefect API (a held one is busy at once)
STALE = 300.0  # seconds without a renewal of its record after which a holder counts as gone
GRACE = 60.0  # seconds a just-taken slot may go without its holder's record

# dub(input_path, languages, out, config_path, lipsync) -> dub_video's summary; the job folder is
# out/<input stem>. Injectable so the library logic is tested without the models.
DubFn = Callable[[str, list[str], str, str | None, bool | None], dict]


def dub_with_flow(input_path: str, targets: list[str], out: str, config_path: str | None,
                  lipsync: bool | None) -> dict:
    """The real dub: the dub-video flow (a subflow when called inside a flow or task), after the same
    input check as `dub translate` (so a file that is not media fails in one line, without a run)."""
    from dubbing import media
    from flows.dub_video import dub_video

    if not media.probe(input_path).has_audio:
        raise DubError(f"no audio track in {input_path}: nothing to dub")
    return dub_video(input_path, targets, out=out, config_path=config_path, lipsync=lipsync)


# --- records --------------------------------------------------------------------------------------


class LanguageDone(Record):
    """What one language's last good dub was made from."""

    source: str  # content digest of the source file
    settings: str  # settings digest
    output: str  # the dubbed file
    at: str  # ISO 8601, UTC


class VideoState(Record):
    """A video's library record, beside its job folder's other records."""

    input: str
    size: int = 0  # bytes; with mtime_ns, decides whether `source` must be recomputed
    mtime_ns: int = 0
    source: str = ""  # content digest of the source at (size, mtime_ns)
    languages: dict[str, LanguageDone] = Field(default_factory=dict)
    no_speech: str = ""  # digest(source, settings) of a source found to hold no speech
    error: str = ""  # one line: why the last attempt failed ("" after a success)
    error_at: str = ""


# --- finding the media ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Video:
    """A source and where its dub goes: dub_video(out=out_parent) makes out_parent/<stem>/."""

    path: Path
    out_parent: Path
    key: str = ""  # the job folder relative to the library's output root: the same on every host

    @property
    def job_dir(self) -> Path:
        return self.out_parent / self.path.stem


@dataclass
class Outcome:
    """What happened to one video in one run. status: dubbed, up to date, to do, busy, no speech, failed."""

    input: str
    status: str
    job: str = ""
    languages: list[str] = field(default_factory=list)
    error: str = ""
    worker: str = ""  # host:pid of the process that dubbed it


def one_line(e: BaseException) -> str:
    """A user-facing one-line reason for an exception (DubError's own words, else type and first line)."""
    text = str(e).strip().splitlines()[0] if str(e).strip() else ""
    line = text if isinstance(e, DubError) else f"{type(e).__name__}: {text}".rstrip(": ")
    return line[:300]


def _is_media(p: Path) -> bool:
    return p.suffix.lower() in MEDIA_EXTS


def check_root(root: str | os.PathLike) -> Path:
    """The library folder, resolved; DubError if it is missing, not a folder or not readable."""
    p = Path(root).expanduser().resolve()
    if not p.exists():
        raise DubError(f"library root not found: {p}")
    if not p.is_dir():
        raise DubError(f"library root is not a folder: {p}")
    try:
        with os.scandir(p):
            pass
    except OSError as e:
        raise DubError(f"library root not readable: {p} ({e.strerror})") from None
    return p


def scan(root: Path, skip: Path | None = None) -> tuple[list[Path], list[Outcome]]:
    """Media files under `root` (by extension, hidden names and the folder `skip` left out), sorted;
    plus a failed Outcome per subfolder that could not be read. DubError if root itself cannot be."""
    root = check_root(root)
    found: list[Path] = []
    problems: list[Outcome] = []
    skip = skip.resolve() if skip else None

    def unreadable(e: OSError) -> None:
        problems.append(Outcome(str(e.filename), "failed", error=f"folder not readable ({e.strerror})"))

    for folder, dirs, files in os.walk(root, onerror=unreadable):
        here = Path(folder)
        dirs[:] = sorted(d for d in dirs if not d.startswith(".") and (here / d).resolve() != skip)
        found += [here / f for f in files if not f.startswith(".") and _is_media(here / f)]
    return sorted(found), problems


def read_manifest(manifest: Path, base: Path | None = None) -> tuple[list[Path], list[Outcome]]:
    """Paths listed in a manifest: YAML (.yaml/.yml: a list, or a mapping with `videos:`) or plain text,
    one path a line, '#' comments. Relative paths are taken from `base` (default: the manifest's folder).
    Listed files that are missing or not media come back as failed Outcomes."""
    try:
        text = manifest.read_text()
    except OSError as e:
        raise DubError(f"manifest not readable: {manifest} ({e.strerror})") from None
    if manifest.suffix.lower() in {".yaml", ".yml"}:
        try:
            data = yaml.safe_load(text) or []
        except yaml.YAMLError as e:
            raise DubError(f"{manifest}: not valid YAML ({str(e).splitlines()[0]})") from None
        if isinstance(data, dict):
            data = data.get("videos", [])
        if not isinstance(data, list) or not all(isinstance(x, str) for x in data):
            raise DubError(f"{manifest}: expected a list of paths (or `videos:` with one)")
        entries = [x.strip() for x in data if x.strip()]
    else:
        entries = [s.strip() for s in text.splitlines() if s.strip() and not s.strip().startswith("#")]
    base = (base or manifest.parent).resolve()
    found, problems = [], []
    for entry in dict.fromkeys(entries):
        p = (base / Path(entry).expanduser()).resolve()
        if not p.is_file():
            problems.append(Outcome(str(p), "failed", error=f"listed in {manifest.name} but not found"))
        elif not _is_media(p):
            problems.append(Outcome(str(p), "failed", error=f"not a media file (extension {p.suffix or 'none'})"))
        else:
            found.append(p)
    return found, problems


def place(paths: Iterable[Path], base: Path, out: Path) -> tuple[list[Video], list[Outcome]]:
    """Give each source its own job folder, mirroring its subfolder: base/a/b.mp4 -> out/a/b/.

    Two sources whose folders would be the same, or one inside the other (talk.mp4 and talk.mov, or
    talk.mp4 and talk/x.mp4), go to out/<subfolder>/<file name>/<stem>/ instead. Any clash left after
    that is refused (a failed Outcome) rather than mixing two videos' records."""
    paths = list(dict.fromkeys(paths))

    def rel_dir(p: Path) -> Path:
        try:
            return p.parent.relative_to(base)
        except ValueError:  # listed in a manifest, outside base: mirror its absolute folder
            return Path(*p.parent.parts[1:])

    def clashing(videos: list[Video]) -> set[Path]:
        jobs = Counter(v.job_dir for v in videos)
        bad = {j for j, n in jobs.items() if n > 1}
        bad |= {j for j in jobs if any(a in jobs for a in j.parents)}
        bad |= {a for j in jobs for a in j.parents if a in jobs}
        return bad

    videos = [Video(p, out / rel_dir(p)) for p in paths]
    bad = clashing(videos)
    videos = [Video(v.path, v.out_parent / v.path.name) if v.job_dir in bad else v for v in videos]
    bad = clashing(videos)
    refused = [Outcome(str(v.path), "failed", job=str(v.job_dir), error="output folder clashes with another video's")
               for v in videos if v.job_dir in bad]
    return [Video(v.path, v.out_parent, v.job_dir.relative_to(out).as_posix()) for v in videos
            if v.job_dir not in bad], refused


# --- the lock -------------------------------------------------------------------------------------


class Busy(DubError):
    """Another process (or thread) is working on this video."""


class VideoLock:
    """Exclusive lock on one video: a lock file held with flock(LOCK_EX) and naming its holder.

    The kernel drops a flock when its holder dies, so a lock left behind by a killed run (its pid
    dead) is taken over without anyone deleting it; two open() calls conflict even in one process,
    so threads exclude each other too. Never waits: a held lock raises Busy at once."""

    def __init__(self, path: Path):
        self.path = path
        self.fd: int | None = None

    def acquire(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        while True:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = os.pread(fd, 200, 0).decode(errors="replace").strip() or "another process"
                os.close(fd)
                raise Busy(f"being dubbed by {holder}") from None
            try:  # its previous holder may have removed the file between our open and our lock
                same = os.stat(self.path).st_ino == os.fstat(fd).st_ino
            except FileNotFoundError:
                same = False
            if same:
                break
            os.close(fd)
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"pid {os.getpid()} on {socket.gethostname()} since {_now()}".encode(), 0)
        self.fd = fd

    def release(self) -> None:
        if self.fd is not None:
            self.path.unlink(missing_ok=True)  # while still holding it, so no one locks a removed file
            os.close(self.fd)
            self.fd = None

    def __enter__(self) -> VideoLock:
        self.acquire()
        return self

    def __exit__(self, *exc) -> None:
        self.release()


@contextlib.contextmanager
def server_lock(key: str, patience: float = PATIENCE):
    """Hold the Prefect global concurrency limit (limit 1) of the video at `key` (its job folder relative
    to the output root) on the current Prefect API, for every worker and host that reports to it.

    Busy at once if a live holder has it. A holder says so in a Prefect variable of the same name, which it
    renews while it dubs: a held slot whose holder stopped renewing (a run killed mid-dub; a server that
    kept its leases in memory and restarted, as every temporary API does) is taken back, not left to
    block the video forever. A free slot is asked for with `patience` seconds: a loaded API can take
    seconds to answer, and a client-side timeout would both call a free video busy and leave the slot
    granted to nobody. The slot is also leased for LEASE seconds, renewed while held."""
    from prefect.concurrency.sync import concurrency

    name = f"dub-video-{digest(key)}"
    _take_back_if_abandoned(name)
    busy = Busy(f"being dubbed by another worker (Prefect concurrency limit {name} is held)")
    with contextlib.ExitStack() as held:
        try:
            held.enter_context(concurrency(name, occupy=1, timeout_seconds=patience, strict=True,
                                           lease_duration=LEASE))
        except TimeoutError:
            raise busy from None
        held.enter_context(_holding(name))
        yield


def _take_back_if_abandoned(name: str) -> None:
    """Create the limit if needed; Busy if it is held by a live holder; free it if its holder is gone."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.actions import GlobalConcurrencyLimitUpdate
    from prefect.exceptions import ObjectAlreadyExists

    with get_client(sync_client=True) as client:
        try:
            client.upsert_global_concurrency_limit_by_name(name, limit=1)
        except ObjectAlreadyExists:  # another host created it between the read and the create
            pass
        limit = client.read_global_concurrency_limit_by_name(name)
        if limit.active_slots < limit.limit:
            return
        holder = client.read_variable_by_name(name)
        if holder is not None and _age(holder.updated) < STALE:
            raise Busy(f"being dubbed by {holder.value} (Prefect concurrency limit {name} is held)")
        if holder is None and _age(limit.updated) < GRACE:  # just taken: the holder has yet to say so
            raise Busy(f"being dubbed by another worker (Prefect concurrency limit {name} is held)")
        log.warning("%s: its holder (%s) stopped renewing; taking the slot back", name,
                    holder.value if holder is not None else "unknown")
        client.update_global_concurrency_limit(name, GlobalConcurrencyLimitUpdate(active_slots=0))


def _age(when) -> float:
    """Seconds since a Prefect timestamp (the API's clock against this host's)."""
    return (datetime.now(timezone.utc) - when).total_seconds() if when is not None else float("inf")


@contextlib.contextmanager
def _holding(name: str):
    """Say who holds `name` (a Prefect variable), renewed every STALE / 4 seconds until the block ends."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.actions import VariableCreate, VariableUpdate

    who = f"{socket.gethostname()}:{os.getpid()}"

    def say(client) -> None:  # a new value each time, so the record's `updated` always moves
        value = f"{who} (renewed {_now()})"
        if client.read_variable_by_name(name) is None:
            client.create_variable(VariableCreate(name=name, value=value))
        else:
            client.update_variable(VariableUpdate(name=name, value=value))

    stop = threading.Event()

    def renew() -> None:
        while not stop.wait(STALE / 4):
            try:
                with get_client(sync_client=True) as client:
                    say(client)
            except Exception as e:  # noqa: BLE001 - a missed renewal is retried; the slot's lease still holds
                log.warning("%s: could not renew the holder record (%s)", name, e)

    with get_client(sync_client=True) as client:
        say(client)
    thread = threading.Thread(target=renew, name=f"holder {name}", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()
        with contextlib.suppress(Exception), get_client(sync_client=True) as client:
            client.delete_variable_by_name(name)


# --- deciding and dubbing one video ---------------------------------------------------------------


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def settings_digest(config_path: str | None, lipsync: bool | None) -> str:
    """Digest of everything in the settings that changes a dub (the merged config and the lip-sync switch)."""
    return digest(config.load(config_path).digest(), lipsync)


def load_state(video: Video) -> VideoState:
    """The video's record; a fresh one if there is none or it is unreadable (the dubs are then redone)."""
    p = video.job_dir / STATE
    if p.exists():
        try:
            return VideoState.load(p)
        except RecordError:
            pass
    return VideoState(input=str(video.path))


def refresh_source(state: VideoState, path: Path) -> bool:
    """Bring state.source up to the file's content digest, hashing only when size or mtime moved.
    True if the state changed."""
    st = path.stat()
    if state.source and (state.size, state.mtime_ns) == (st.st_size, st.st_mtime_ns):
        return False
    state.source, state.size, state.mtime_ns = file_digest(path), st.st_size, st.st_mtime_ns
    return True


def stale(state: VideoState, targets: list[str], settings: str) -> list[str]:
    """The targets whose last good dub is missing, gone from disk, or made from another source or settings."""
    def fresh(code: str) -> bool:
        done = state.languages.get(code)
        return (done is not None and done.source == state.source and done.settings == settings
                and Path(done.output).exists())

    return [c for c in targets if not fresh(c)]


def visit(video: Video, targets: list[str], settings: str, config_path: str | None = None,
          lipsync: bool | None = None, dub: DubFn | None = None,
          shared: Callable[[str], contextlib.AbstractContextManager] | None = None) -> Outcome:
    """Look at one video under its lock and, if `dub` is given, dub its stale languages.

    Without `dub` this only decides ("up to date" or "to do" with the languages). `shared(key)` is a
    second lock held around the file lock (`server_lock` across hosts). Any exception becomes a failed
    Outcome (and, when dubbing, the record's error line); earlier good dubs stay."""
    out = Outcome(str(video.path), "to do", job=str(video.job_dir))
    try:
        with (shared or (lambda k: contextlib.nullcontext()))(video.key), VideoLock(video.job_dir / LOCK):
            state = load_state(video)
            changed = refresh_source(state, video.path)
            out.languages = stale(state, targets, settings)
            no_speech = digest(state.source, settings)
            if not out.languages or state.no_speech == no_speech:
                out.status = "up to date" if not out.languages else "no speech"
            elif dub is not None:
                out.worker = f"{socket.gethostname()}:{os.getpid()}"
                _dub(video, state, out, settings, no_speech, config_path, lipsync, dub)
                changed = True
            if changed:
                state.save(video.job_dir / STATE)
    except Busy as e:
        out.status, out.error = "busy", str(e)
    except Exception as e:  # noqa: BLE001 - one video's failure must not stop the library
        out.status, out.error = "failed", one_line(e)
    return out


def _dub(video: Video, state: VideoState, out: Outcome, settings: str, no_speech: str,
         config_path: str | None, lipsync: bool | None, dub: DubFn) -> None:
    """Run the dub for out.languages and record the result in `state` and `out`."""
    try:
        summary = dub(str(video.path), out.languages, str(video.out_parent), config_path, lipsync)
        made = {c: (summary.get("languages") or {}).get(c, {}).get("output") for c in out.languages}
        missing = [c for c, p in made.items() if not p or not Path(p).exists()]
        if missing:
            raise DubError(f"the dub finished without an output for {', '.join(missing)}")
    except NoSpeech as e:
        state.no_speech, state.error, state.error_at = no_speech, "", ""
        out.status, out.error = "no speech", str(e)
        return
    except Exception as e:  # noqa: BLE001
        state.error, state.error_at = one_line(e), _now()
        out.status, out.error = "failed", state.error
        return
    for code, output in made.items():
        state.languages[code] = LanguageDone(source=state.source, settings=settings, output=output, at=_now())
    state.no_speech, state.error, state.error_at = "", "", ""
    out.status = "dubbed"


# --- the whole library ----------------------------------------------------------------------------

# each(items) -> outcomes, where an item is the keyword arguments of one visit(); how videos are run
Runner = Callable[[list[dict]], list[Outcome]]


def in_turn(dub: DubFn) -> Runner:
    """Run the videos one after another in this process."""
    return lambda items: [visit(**item, dub=dub) for item in items]


def validate_targets(targets: Iterable[str] | None) -> list[str]:
    """Language codes, checked and without repeats; DubError naming the supported ones otherwise."""
    try:
        return [lang.code for lang in languages.parse_list(",".join(targets or []))]
    except languages.UnknownLanguage as e:
        raise DubError(str(e)) from None


def find_videos(root: str | None, manifest: str | None, out: Path) -> tuple[list[Video], list[Outcome]]:
    """The library's videos with their job folders, and failed Outcomes for what cannot be taken."""
    if not root and not manifest:
        raise DubError("give a library root folder or a manifest file")
    base = check_root(root) if root else None
    if manifest:
        m = Path(manifest).expanduser()
        if not m.is_file():
            raise DubError(f"manifest not found: {m}")
        paths, problems = read_manifest(m, base)
        base = base or m.resolve().parent
    else:
        paths, problems = scan(base, skip=out)
    videos, refused = place(paths, base, out)
    return videos, problems + refused


def library_run(root: str | None, manifest: str | None, targets: Iterable[str], out: str,
                config_path: str | None = None, lipsync: bool | None = None,
                each: Runner | None = None, log: Callable[[str], None] = lambda s: None) -> dict:
    """Scan, decide, dub what is stale (through `each`, default in turn with the dub-video flow),
    write out/library-summary.json and return the summary."""
    t0 = time.perf_counter()
    codes = validate_targets(targets)
    settings = settings_digest(config_path, lipsync)
    out_root = check_writable(Path(out).expanduser()).resolve()
    videos, outcomes = find_videos(root, manifest, out_root)
    looked = [visit(v, codes, settings) for v in videos]
    todo = [(v, o) for v, o in zip(videos, looked) if o.status == "to do"]
    outcomes += [o for o in looked if o.status != "to do"]
    log(f"{len(videos)} media file(s): {len(todo)} to dub"
        + "".join(f", {n} {s}" for s, n in Counter(o.status for o in outcomes).items()))
    items = [dict(video=v, targets=o.languages, settings=settings, config_path=config_path, lipsync=lipsync)
             for v, o in todo]
    outcomes += (each or in_turn(dub_with_flow))(items)
    summary = summarize(root, manifest, codes, settings, outcomes, time.perf_counter() - t0)
    write_atomic(out_root / SUMMARY, json.dumps(summary, indent=1, ensure_ascii=False).encode())
    return summary


def summarize(root: str | None, manifest: str | None, targets: list[str], settings: str,
              outcomes: list[Outcome], seconds: float) -> dict:
    """The run summary: outcomes grouped by status, each with its input, job folder and reason."""
    by: dict[str, list[dict]] = {s: [] for s in ("dubbed", "up to date", "busy", "no speech", "failed")}
    for o in sorted(outcomes, key=lambda o: o.input):
        by.setdefault(o.status, []).append({k: v for k, v in asdict(o).items() if v and k != "status"})
    return {"root": root, "manifest": manifest, "targets": targets, "settings": settings, "finished": _now(),
            "seconds": round(seconds, 2), "counts": {k: len(v) for k, v in by.items()}, **by}


# --- Prefect ----------------------------------------------------------------------------------------


@task(name="dub library video", cache_policy=NO_CACHE, task_run_name="{video.path.name}")
def dub_video_task(video: Video, targets: list[str], settings: str, config_path: str | None,
                   lipsync: bool | None) -> Outcome:
    out = visit(video, targets, settings, config_path, lipsync, dub=dub_with_flow, shared=server_lock)
    log = get_run_logger()
    (log.warning if out.status == "failed" else log.info)(
        f"{video.path}: {out.status} ({', '.join(out.languages)})" + (f": {out.error}" if out.error else ""))
    return out


@flow(name="dub-library-videos", validate_parameters=False)
def dub_videos(items: list[dict]) -> list[Outcome]:
    """Dub the stale videos, one task each, on this flow's task runner."""
    futures = [dub_video_task.submit(**item) for item in items]
    outcomes = []
    for item, f in zip(items, futures):
        f.wait()
        state = f.state
        outcomes.append(f.result() if state.is_completed()
                        else Outcome(str(item["video"].path), "failed", job=str(item["video"].job_dir),
                                     error=f"task {state.name}: {state.message or ''}".strip()))
    return outcomes


@flow(name="dub-library", validate_parameters=False)
def library(root: str | None = None, manifest: str | None = None, targets: list[str] | None = None,
            out: str = "out", config_path: str | None = None, lipsync: bool | None = None,
            dask: str | None = None) -> dict:
    """Dub every video under `root` (or listed in `manifest`) whose dub into `targets` is missing or
    stale; summary in out/library-summary.json. `dask`: a scheduler address, or local[:N]."""
    log = get_run_logger()
    runner = task_runner(dask)

    def each(items: list[dict]) -> list[Outcome]:
        return dub_videos.with_options(task_runner=runner)(items) if items else []

    summary = library_run(root, manifest, targets or [], out, config_path, lipsync, each, log.info)
    log.info("library: " + ", ".join(f"{n} {s}" for s, n in summary["counts"].items()))
    for f in summary["failed"]:
        log.warning(f"failed: {f['input']}: {f.get('error', '')}")
    return summary
