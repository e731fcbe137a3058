"""Put the example on sys.path, as Pulumi does when it runs the program from this folder."""

import sys
from pathlib import Path

EXAMPLE = Path(__file__).resolve().parent.parent
if str(EXAMPLE) not in sys.path:
    sys.path.insert(0, str(EXAMPLE))
