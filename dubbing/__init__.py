"""dub's library: the stages of a dub as plain functions, the backends behind them, the records they pass.

    import dubbing
    summary = dubbing.dub("talk.mp4", ["es", "fr"])         # everything, in this process, no Prefect

or stage by stage (whisperX-style), each reading and writing records in a job folder:

    import languages
    cfg = dubbing.load_config()                              # configs/default.yaml (+ your YAML)
    job = dubbing.Job("out/talk")
    src = dubbing.prepare("talk.mp4", job, cfg)              # probe, transcript, speakers, lines
    dubbing.separate_source(src, cfg)                        # speech / background
    dubbing.align_source(src, cfg)                           # its phones, which the mouths learn from (optional)
    tr = dubbing.translate_lines(src, languages.get("es"), cfg)
    result = dubbing.dub_language(src, tr, cfg, job.root)    # voices, fit, mix, subtitles, lips, mux, checks

Names are imported on first use, so `import dubbing` (and `dub --help`) stay fast. The modules are flat,
one concern each (dubbing.transcribe, dubbing.diarize, dubbing.translate, ...); ARCHITECTURE.md maps them.
"""

import os

__version__ = "0.1.0"

# OpenMP threads (llama.cpp's, torch's) meet at a barrier after every operation. Spinning there
# without end (OpenMP's default) collapses when another stage holds one of the 2 cores: llama.cpp
# fell to 0.5 token/s beside one busy thread. Sleeping at once (OMP_WAIT_POLICY=PASSIVE, used until
# stop 3) wakes too slowly on a quiet machine: 11 token/s. A short spin before sleeping gave
# 15-16.5 token/s quiet and 8.7-9.4 beside a busy thread, as PASSIVE did (Qwen2.5 1.5B, 2 threads).
# Read when an OpenMP runtime starts, so set at the first import of the package.
os.environ.setdefault("GOMP_SPINCOUNT", "300")

_PUBLIC = {  # name -> module it lives in
    "dub": "pipeline", "prepare": "pipeline", "separate_source": "pipeline", "align_source": "pipeline",
    "translate_lines": "pipeline",
    "dub_language": "pipeline", "finish": "pipeline", "Source": "pipeline", "Result": "pipeline",
    "Job": "workspace", "load_config": "config",
}
__all__ = sorted(_PUBLIC)


def __getattr__(name: str):
    if name not in _PUBLIC:
        raise AttributeError(f"module 'dubbing' has no attribute {name!r}")
    import importlib

    module = importlib.import_module(f"dubbing.{_PUBLIC[name]}")
    return getattr(module, "load" if name == "load_config" else name)
