"""`python -m dub` is the `dub` command."""

from dub.cli import main

main()
