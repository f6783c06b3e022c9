"""The one error type users see: a one-line message and an exit code, never a traceback."""


class DubError(Exception):
    """A problem with the user's input or environment, explained in one line."""

    exit_code = 2


class NoSpeech(DubError):
    """The input holds no speech to dub (not a failure of the tool)."""

    exit_code = 3


class MissingModel(DubError):
    """A configured backend's model is not on this machine."""

    exit_code = 4

    def __init__(self, what: str, name: str, how: str):
        super().__init__(f"{what}: model {name!r} is not available offline. {how}")
        self.name = name
