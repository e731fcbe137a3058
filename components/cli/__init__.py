"""`python -m components`: command-line entry points. Nothing but components/__main__.py imports these."""
