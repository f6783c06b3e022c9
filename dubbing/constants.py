"""Numbers more than one stage must agree on. Language facts live in languages/*.yaml, settings in
configs/default.yaml; this is only what is fixed by the models and formats themselves."""

SPEECH_RATE = 16000  # Hz: what Whisper, Silero VAD, Resemblyzer and the aligner read
MIX_RATE = 48000  # Hz: the separated background, the voices' track and the final mix
