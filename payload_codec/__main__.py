"""Entry point of ``python -m payload_codec`` and ``micropython -m payload_codec``."""

import sys

from .cli import main

sys.exit(main())
