"""`python -m components`: see components/cli/main.py."""

import sys

from components.cli.main import main

sys.exit(main())
