"""`python -m components discover PATH… [--images F] [--write]`: rendered manifests against the catalogue.

What is found and compared lives in components/model/discovery.py; this module reads the
arguments, prints the report, and appends the missing images with `--write`.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TextIO

from components.errors import InputError
from components.model.catalogue import load_catalogue
from components.model.discovery import append_entries, compare, find_images, render_report

EXIT_OK = 0
EXIT_MISSING = 1
EXIT_BAD_INPUT = 2


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("paths", nargs="+", help="rendered manifests: files or directories")
    parser.add_argument("--images", default="images.yaml", help="image catalogue (default: images.yaml)")
    parser.add_argument("--write", action="store_true", help="append the missing images to the catalogue")


def run(args: argparse.Namespace, out: TextIO = sys.stdout) -> int:
    """Exit 0 when every image is listed or selected (or was written), 1 when some are missing or
    pinned to a bare digest, 2 on bad input."""
    try:
        images_path = Path(args.images)
        entries = load_catalogue(images_path) if images_path.exists() else []
        findings = compare(find_images(args.paths), entries)
        print(render_report(findings), file=out)
        missing = [f.ref for f in findings if f.status == "missing" and f.ref is not None]
        if args.write and missing:
            text = images_path.read_text(encoding="utf-8") if images_path.exists() else ""
            images_path.write_text(append_entries(text, missing, source=str(images_path)), encoding="utf-8")
            print(f"added {len(missing)} images to {images_path}", file=out)
            missing = []
    except InputError as error:
        print(f"error: the input needs fixing:\n{error}", file=sys.stderr)
        return EXIT_BAD_INPUT
    unfixable = [f for f in findings if f.status in ("pinned", "invalid")]
    return EXIT_MISSING if missing or unfixable else EXIT_OK
