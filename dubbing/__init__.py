"""dub's audio and text side: a flat package of small modules, one concern each.

Nothing is imported here, so `dub --help` and `import dubbing.schema` stay fast; import the module
you need (dubbing.transcribe, dubbing.diarize, ...). The stages compose in dubbing.pipeline.
"""

__version__ = "0.1.0"
