"""The faces of a source video, found once: face tracks, each track's canonical template and mouth bank.

Tracking is the slow part of lip-sync and does not depend on the new voice, so every language (and
every re-run after an edit) reuses one analysis saved in a folder: landmarks as a .npy (memory-mapped
on load, so memory stays flat in video length), the rest as one .npz.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from dubbing import video as vio
from dubbing.errors import disk_full_error
from dubbing.files import atomic_dir

from . import geometry as G
from . import track as T
from .mouth_model import Bank, BankEntry

BANK_STRIDE = 2  # offer every 2nd frame to the mouth bank
FORMAT = 2  # bump when the saved layout changes (2: landmarks in subset layout)


@dataclass
class SourceFaces:
    tracks: T.Tracks
    templates: dict[int, np.ndarray]  # track id -> canonical template (subset layout)
    banks: dict[int, Bank]  # track id -> mouth bank

    def save(self, folder: str | os.PathLike) -> None:
        """Write into `folder` (created, or replaced whole: a half-written analysis is never left)."""
        folder = Path(folder)
        try:
            with atomic_dir(folder) as tmp:
                tr = self.tracks
                np.save(tmp / "landmarks.npy", np.asarray(tr.lm))
                arrays = {"times": tr.times, "pts": tr.pts, "blend": tr.blend, "track": tr.track,
                          "filled": tr.filled}
                meta = {"format": FORMAT, "width": tr.width, "height": tr.height, "extra": tr.extra, "banks": {}}
                for tid, tpl in self.templates.items():
                    arrays[f"template_{tid}"] = tpl
                for tid, bank in self.banks.items():
                    meta["banks"][str(tid)] = {"width0": bank.width0, "entries": []}
                    for i, (key, e) in enumerate(sorted(bank.entries.items())):
                        arrays[f"bank_{tid}_{i}_crop"], arrays[f"bank_{tid}_{i}_pts"] = e.crop, e.pts
                        arrays[f"bank_{tid}_{i}_q"] = e.q
                        meta["banks"][str(tid)]["entries"].append({"key": list(key), "teeth": e.teeth,
                                                                   "sharp": e.sharp})
                np.savez(tmp / "faces.npz", **arrays)
                (tmp / "faces.json").write_text(json.dumps(meta, default=float))
        except Exception as e:  # numpy reports a full disk without errno
            err = disk_full_error(e, folder)
            if err is e:
                raise
            raise err from e

    @staticmethod
    def load(folder: str | os.PathLike) -> "SourceFaces":
        """Read what `save` wrote; ValueError if it is missing or from another format."""
        folder = Path(folder)
        try:
            meta = json.loads((folder / "faces.json").read_text())
            z = np.load(folder / "faces.npz")
            lm = np.load(folder / "landmarks.npy", mmap_mode="r")
        except (OSError, ValueError) as e:
            raise ValueError(f"no face analysis in {folder}: {e}") from e
        if meta.get("format") != FORMAT:
            raise ValueError(f"face analysis in {folder} has another format")
        tracks = T.Tracks(z["times"], z["pts"], meta["width"], meta["height"], lm, z["blend"], z["track"],
                          z["filled"], meta["extra"])
        templates = {int(k[len("template_"):]): z[k] for k in z.files if k.startswith("template_")}
        banks = {}
        for tid, b in meta["banks"].items():
            bank = Bank(width0=b["width0"])
            for i, e in enumerate(b["entries"]):
                p = f"bank_{tid}_{i}_"
                bank.entries[tuple(e["key"])] = BankEntry(z[p + "crop"], z[p + "pts"], z[p + "q"], e["teeth"], e["sharp"])
            banks[int(tid)] = bank
        return SourceFaces(tracks, templates, banks)


def analyse(video: str | os.PathLike, workdir: str | os.PathLike,
            progress: Callable[[int, int], None] | None = None, span: tuple[int, int] | None = None) -> SourceFaces:
    """Track every face of `video` (one decode pass) and build each track's template and mouth bank;
    with `span` (first, stop), of those frames only, indexed from 0 (lipsync.face_parts joins such parts).

    The landmarks live in `workdir/landmarks.npy` (disk-backed while tracking)."""
    n = len(vio.frame_times(video)[0]) if span is None else span[1] - span[0]  # for progress
    templates: dict[int, np.ndarray] = {}
    banks: dict[int, Bank] = {}

    def on_frame(fr: vio.Frame, faces) -> None:
        for tid, lm in faces:
            if tid not in templates:
                templates[tid], banks[tid] = G.canonical_template(lm), Bank()
            if fr.index % BANK_STRIDE == 0:
                banks[tid].offer(fr.rgb, lm, templates[tid])
        if progress:
            progress(fr.index + 1, n)

    try:
        tracks = T.track_file(video, workdir, on_frame, span=span)
    finally:
        T.Landmarker.release()  # see Landmarker.release: never leave one to the interpreter's exit
    for later, person in tracks.extra.get("relinked", []):  # one person seen again after a cut: one bank
        if later in banks and person in banks:
            for key, e in banks.pop(later).entries.items():
                banks[person].entries.setdefault(key, e)
            templates.pop(later, None)
    return SourceFaces(tracks, templates, banks)
