"""`python -m components`: see components/cli/main.py."""

import gc
import sys

from components.cli.main import main

if __name__ == "__main__":
    code = main()
    # The run is over: keeping the collector off every live object spares the interpreter's
    # final collections at shutdown, ~40 ms after a warm (bench/README.md). Exit still runs
    # atexit handlers and flushes every stream.
    gc.freeze()
    sys.exit(code)
