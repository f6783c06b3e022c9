"""dub's audio and text side: a flat package of small modules, one concern each.

Nothing is imported here, so `dub --help` and `import dubbing.schema` stay fast; import the module
you need (dubbing.transcribe, dubbing.diarize, ...). The stages compose in dubbing.pipeline.
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
