"""The one error type users see: a one-line message and an exit code, never a traceback."""


def excerpt(text: str, n: int = 100) -> str:
    """`text` on one line, cut to `n` characters, for a one-line message ("empty" if there is none)."""
    one = " ".join(text.split())
    return one[:n] + ("..." if len(one) > n else "") if one else "empty"


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


def disk_full_error(exc: BaseException, path) -> BaseException:
    """`exc` as an OSError(ENOSPC) naming `path` if the disk holding `path` is (nearly) full now, else `exc`.

    For writers that report a full disk without errno (numpy's tofile, libsndfile); call it before
    removing the partial file, while the space is still taken."""
    import errno
    import os
    from pathlib import Path

    if isinstance(exc, OSError) and exc.errno == errno.ENOSPC:
        return exc
    p = Path(path)
    while not p.exists() and p != p.parent:
        p = p.parent
    try:
        st = os.statvfs(p)
    except OSError:
        return exc
    if st.f_bavail * st.f_frsize < (1 << 20):
        return OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))
    return exc


def read_user_text(path, what: str, error: type[DubError] = DubError) -> str:
    """The UTF-8 text of a file the user gave (a BOM dropped); `error` naming the file and `what` it is
    if it is missing or not UTF-8."""
    from pathlib import Path

    p = Path(path)
    try:
        return p.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise error(f"{p}: {what} file not found") from None
    except IsADirectoryError:
        raise error(f"{p}: is a folder, not a {what} file") from None
    except UnicodeDecodeError:
        raise error(f"{p}: the {what} file is not UTF-8 text") from None
