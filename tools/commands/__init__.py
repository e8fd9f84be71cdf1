"""One module per ``trosmart`` sub-command.

Each module defines ``NAME`` (the command word), ``HELP`` (one line),
``add_arguments(parser)`` and ``run(args) -> int``. cli.py discovers them, so a
new command needs no edit elsewhere.
"""
