# Two entry points (README): `make sample` and `make test`. Both bootstrap first (idempotent, cached).
SHELL := /bin/bash
SHARED ?= ../shared
SAMPLE ?= $(if $(wildcard $(SHARED)/media/video/vr_face1.mp4),$(SHARED)/media/video/vr_face1.mp4,out/sample/astronaut.mp4)
PY := .venv/bin/python
export OMP_WAIT_POLICY ?= PASSIVE

.PHONY: setup sample test test-fast bench doctor
setup:
	bash scripts/bootstrap.sh

out/sample/astronaut.mp4:
	$(PY) scripts/make_sample.py $@

sample: setup
	$(MAKE) --no-print-directory $(SAMPLE)
	.venv/bin/dub translate $(SAMPLE) --to es,fr,ja --out out

test: setup
	$(PY) -m pytest -q --timeout=1800

test-fast: setup
	$(PY) -m pytest -q -m "not slow"

bench: setup
	$(PY) bench/run.py
	$(PY) bench/lipsync.py

doctor: setup
	.venv/bin/dub doctor
