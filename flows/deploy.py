"""`dub library deploy` and `dub library run`: the library flow on a cron schedule through a Prefect
server and a process work pool, or once, now, in this process.

A schedule fires only with a real `prefect server start` and a worker polling the pool; the
ephemeral server that Prefect starts on its own never schedules, so deploying needs PREFECT_API_URL.
"""

from __future__ import annotations

import os
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from dubbing.errors import DubError

PROJECT = Path(__file__).resolve().parent.parent
ENTRYPOINT = "flows/library.py:library"
FLOW_NAME = "dub-library"


def validate_cron(expr: str) -> str:
    """The expression, if it is a standard five-field cron line (minute hour day month weekday) that
    both cronsim and Prefect accept; DubError in one line otherwise."""
    from cronsim import CronSim, CronSimError
    from prefect.client.schemas.schedules import CronSchedule
    from pydantic import ValidationError

    expr = " ".join(expr.split())
    try:
        if len(expr.split()) != 5:
            raise ValueError(f"{len(expr.split())} fields")
        CronSim(expr, datetime.now())
        CronSchedule(cron=expr)
    except (CronSimError, ValidationError, ValueError) as e:
        why = e.errors()[0]["msg"] if isinstance(e, ValidationError) else str(e)
        raise DubError(f"invalid cron expression {expr!r} ({why}); expected five fields: "
                       f"minute hour day-of-month month day-of-week, e.g. \"0 2 * * *\" for 02:00 daily") from None
    return expr


def next_fire(expr: str, tz: str, after: datetime | None = None) -> datetime:
    """The first time after `after` (default now) that the cron line fires, in time zone `tz`."""
    from cronsim import CronSim

    zone = ZoneInfo(tz)
    return next(CronSim(expr, (after or datetime.now(zone)).astimezone(zone)))


def local_timezone() -> str:
    """This machine's IANA time zone name (TZ, /etc/timezone or /etc/localtime), else "UTC"."""
    candidates = [os.environ.get("TZ", "").lstrip(":")]
    try:
        candidates.append(Path("/etc/timezone").read_text().strip())
    except OSError:
        pass
    link = os.path.realpath("/etc/localtime")
    if "zoneinfo/" in link:
        candidates.append(link.split("zoneinfo/", 1)[1])
    for name in candidates:
        try:
            if name:
                ZoneInfo(name)
                return name
        except (ZoneInfoNotFoundError, ValueError):
            continue
    return "UTC"


def _check_inputs(root: Path | None, manifest: Path | None, to: list[str], out: Path) -> dict:
    """Resolve and check the library's inputs; the deployment's (or run's) flow parameters."""
    from flows.library import check_root, validate_targets
    from dubbing.workspace import check_writable

    if root is None and manifest is None:
        raise DubError("give --root DIR (the library folder) or --manifest FILE")
    if root is not None:
        root = check_root(root)
    if manifest is not None:
        manifest = manifest.expanduser().resolve()
        if not manifest.is_file() or not os.access(manifest, os.R_OK):
            raise DubError(f"manifest not found or not readable: {manifest}")
    targets = validate_targets(to)
    out = check_writable(out.expanduser()).resolve()
    return {"root": str(root) if root else None, "manifest": str(manifest) if manifest else None,
            "targets": targets, "out": str(out)}


def _api_url() -> str:
    """The configured Prefect server's API URL, checked to answer; DubError saying how to start one."""
    from prefect.client.orchestration import get_client
    from prefect.settings import PREFECT_API_URL

    url = PREFECT_API_URL.value()
    how = ("start one with `prefect server start` and point dub at it with "
           "`prefect config set PREFECT_API_URL=http://127.0.0.1:4200/api`")
    if not url:
        raise DubError(f"no Prefect server configured (PREFECT_API_URL is unset): {how}")
    with get_client(sync_client=True) as client:
        err = client.api_healthcheck()
    if err is not None:
        raise DubError(f"Prefect server at {url} does not answer ({type(err).__name__}): {how}")
    return url


def ensure_process_pool(pool: str) -> bool:
    """Create the work pool `pool` of type process if it is missing; True if it was created.
    DubError if a pool of that name exists with another type (it could not run local code)."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.actions import WorkPoolCreate
    from prefect.exceptions import ObjectNotFound

    with get_client(sync_client=True) as client:
        try:
            existing = client.read_work_pool(pool)
        except ObjectNotFound:
            client.create_work_pool(WorkPoolCreate(name=pool, type="process"))
            return True
    if existing.type != "process":
        raise DubError(f"work pool {pool!r} is of type {existing.type!r}; the library flow runs local code "
                       f"and needs a process pool: pick another --pool name")
    return False


def deploy_command(root: Path | None, manifest: Path | None, to: list[str], cron: str, pool: str, name: str,
                   out: Path, config: Path | None = None, lipsync: bool | None = None,
                   dask: str | None = None) -> None:
    """Create (or update) the deployment `dub-library/<name>` of the library flow on the process work
    pool `pool` (created if missing), scheduled by `cron` in this machine's time zone, and print how
    to run the server and a worker."""
    cron = validate_cron(cron)
    params = _check_inputs(root, manifest, to, out)
    if config is not None:
        from dubbing import config as config_mod

        config_mod.load(config)  # fail now, not at 2 a.m.
        params["config_path"] = str(config.expanduser().resolve())
    params.update({k: v for k, v in {"lipsync": lipsync, "dask": dask}.items() if v is not None})
    url = _api_url()
    created = ensure_process_pool(pool)

    from prefect import flow
    from prefect.schedules import Cron

    tz = local_timezone()
    flow.from_source(source=str(PROJECT), entrypoint=ENTRYPOINT).deploy(
        name=name, work_pool_name=pool, schedule=Cron(cron, timezone=tz), parameters=params,
        description=f"dub {params['root'] or params['manifest']} into {','.join(params['targets'])}",
        tags=["dub", "library"], print_next_steps=False)
    ui = url.removesuffix("/").removesuffix("/api")
    print(f"deployment {FLOW_NAME}/{name} on work pool {pool!r}{' (created)' if created else ''}: "
          f"dubs {params['root'] or params['manifest']} into {', '.join(params['targets'])} -> {params['out']}")
    print(f"schedule: {cron!r} ({tz}); next run {next_fire(cron, tz):%Y-%m-%d %H:%M %Z}")
    print("runs happen only while the server and a worker are up:")
    print("  prefect server start                      # the API and UI")
    print(f"  prefect worker start --pool {pool}   # runs the scheduled flows, here")
    print(f"run it now: prefect deployment run '{FLOW_NAME}/{name}'")
    print(f"see the runs: {ui}/deployments (each run's summary: {params['out']}/library-summary.json)")


def run_command(root: Path | None, manifest: Path | None, to: list[str], out: Path, config: Path | None = None,
                lipsync: bool | None = None, dask: str | None = None) -> dict:
    """Run the library flow once, now, in this process (against a local Prefect server that ends with
    this process, unless PREFECT_API_URL points at one); prints what happened and returns the summary."""
    params = _check_inputs(root, manifest, to, out)
    from flows.library import SUMMARY, library
    from flows.server import prefect_api

    with prefect_api(Path(params["out"]) / "logs" / "prefect-server.log") as api, api.connected():
        summary = library(**params, config_path=str(config) if config else None, lipsync=lipsync, dask=dask)
    print(", ".join(f"{n} {s}" for s, n in summary["counts"].items()) + f"  ({params['out']}/{SUMMARY})")
    for status in ("busy", "failed"):
        for item in summary[status]:
            print(f"{status}: {item['input']}: {item.get('error', '')}")
    return summary
