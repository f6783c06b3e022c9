"""Numbers and marks more than one stage must agree on. Language facts live in languages/*.yaml,
settings in configs/default.yaml; this is only what is fixed by the models, formats and scripts themselves."""

SPEECH_RATE = 16000  # Hz: what Whisper, Silero VAD, Resemblyzer and the aligner read
MIX_RATE = 48000  # Hz: the separated background, the voices' track and the final mix
SENTENCE_END = (".", "?", "!", "。", "？", "！")  # marks that end a sentence (lines, and speakers at turn changes)
CLOSERS = "\"'”»)"  # what may follow a sentence's end mark
