"""Imported first by every stage: without the project's package, one line saying how to get it; with it, Ctrl-C
and SIGTERM are one line from here on, even while the stage's own imports (torch: seconds) load."""

import sys

try:
    import fmnist  # noqa: F401
except ModuleNotFoundError:
    print(f"error: the fmnist package is not installed for {sys.executable}; activate the project's "
          "virtualenv (`. .venv/bin/activate`, after `make install`) and run again", file=sys.stderr)
    sys.exit(2)

from fmnist import interrupts  # noqa: E402

interrupts.install()
