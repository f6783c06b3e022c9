"""The sync report written beside every lip-synced output."""

from __future__ import annotations

from pydantic import Field

from dubbing.schema import Record


class PersonCheck(Record):
    """The person's mouth model (lipsync.person) checked on the source's own frames it was not fitted
    on: predicted from phones and voice loudness alone, against what the frames show."""

    r: float  # Pearson r of the predicted against the real mouth opening (inner-lip gap over mouth width)
    amp: float  # amplitude ratio: std of the predicted opening over std of the real one
    frames: int  # frames held out (the end of the source's footage)
    fit_frames: int  # frames fitted on
    visemes: int  # viseme classes with evidence in the fitted footage (the rest keep generic targets)
    lead: float  # s: how far the person's mouth moves ahead of the phone times
    r_generic: float | None = None  # the generic viseme targets' r on the same held-out frames
    amp_generic: float | None = None  # and their amplitude ratio
    used: bool = False  # the person's model drove the new mouth (it beat the generic targets here)


class SyncReport(Record):
    """Sync and look metrics of one output (None = could not be measured). Times in seconds."""

    frames: int = 0
    synced_frames: int = 0  # frames with a re-rendered mouth
    rendered_frames: int = 0  # of all frames, those drawn by this run (the rest reused from its chunk cache)
    tracks: int = 0
    speakers: dict[str, int] = Field(default_factory=dict)  # speaker label -> face track id (their main one)
    faces: dict[str, list[int]] = Field(default_factory=dict)  # speaker label -> every face track drawn for them
    strength: float = 0.8
    own_motion: float | None = None  # share of the new audio's words found in the source, whose own lips were reused (None = not used)
    # sync: output mouth opening against the new voice and the target aperture curve
    av_offset_frames: int | None = None  # best lag of mouth opening vs voice loudness (+ = mouth late)
    av_confidence: float | None = None  # peak minus median correlation over lags
    target_r: float | None = None  # Pearson r of output opening vs target aperture curve
    closure_rate: float | None = None  # bilabial phones whose lips close on screen (0..1)
    # how wide the mouth swings against the source's own (issue 16: 0.85-1.15): std of the output's opening
    # (inner-lip gap over mouth width) over the std of the source's, on the frames both show the face
    amp_ratio: float | None = None
    # look, as ratios to the source (1 = as steady as the source)
    jitter_ratio: float | None = None
    flicker_ratio: float | None = None
    psnr_outside: float | None = None  # dB, outside the mouth region, against the source
    ssim_outside: float | None = None
    measured_frames: int = 0  # frames the sync and look figures were measured on (metrics.measure_spans)
    render_fps: float | None = None  # frames/s of the renderer alone
    seconds: dict[str, float] = Field(default_factory=dict)  # wall s per phase: track, plan, render (decode, draw, encode), measure
    person: PersonCheck | None = None  # the person's mouth model checked on held-out source frames (None = not used)
    skipped: list[tuple[float, float, str]] = Field(default_factory=list)  # (start s, end s, reason)
