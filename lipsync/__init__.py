"""The face side of dub: track faces, match faces to speakers, turn phonemes into mouth shapes,
re-render mouths from the person's own footage, smooth, and measure sync.

Entry points live in `lipsync.api` (`sync_video`, `animate`) and `lipsync.metrics`.
"""
