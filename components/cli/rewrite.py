"""`python -m components rewrite PATH… --outputs FILE [--write | --out DIR] [--strict]`.

Rendered manifests with each catalogue image replaced by its cache reference from this stack's
`images` output (model/rewrite.py), for pods on EKS Auto Mode and Fargate, whose nodes take no
containerd configuration. This module reads the arguments and the outputs file, and writes:
stdout by default, the files themselves with `--write`, or a mirror of the input tree with `--out`.
Every file is read and rewritten in memory first, so bad input anywhere writes nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

from components.errors import InputError, Problem
from components.model.discovery import manifest_files
from components.model.image_map import ImageMap, parse_image_map
from components.model.rewrite import RewrittenManifest, rewrite_manifests
from components.safe_yaml import MIB, read_file

EXIT_OK = 0
EXIT_UNMATCHED = 1
EXIT_BAD_INPUT = 2
# `pulumi stack output --json` of this stack: user data and policies are a few KiB each, and
# `images` about 200 bytes per catalogue tag.
MAX_OUTPUTS_BYTES = 4 * MIB
_OUTPUTS_HINT = (
    "save this stack's outputs with `pulumi stack output --json > outputs.json` and pass that file"
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("paths", nargs="+", help="rendered manifests: files or directories")
    parser.add_argument(
        "--outputs", required=True, help="this stack's outputs as JSON (`pulumi stack output --json`)"
    )
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--write", action="store_true", help="rewrite the files in place")
    where.add_argument("--out", metavar="DIR", help="write the rewritten tree under DIR")
    parser.add_argument("--strict", action="store_true", help="exit 1 when an image is not in the catalogue")


def load_images(path: Path) -> ImageMap:
    """The `images` map of an outputs file; InputError naming the file and the fix."""
    source = str(path)
    try:
        data = read_file(path, max_bytes=MAX_OUTPUTS_BYTES, source=source)
    except OSError as error:
        raise InputError([Problem(source, f"cannot read: {error.strerror}", _OUTPUTS_HINT)]) from None
    if len(data) > MAX_OUTPUTS_BYTES:
        raise InputError([Problem(source, f"larger than {MAX_OUTPUTS_BYTES:,} bytes", _OUTPUTS_HINT)])
    try:
        outputs = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as error:
        reason = "nested too deeply" if isinstance(error, RecursionError) else str(error)
        raise InputError([Problem(source, f"not JSON: {reason}", _OUTPUTS_HINT)]) from None
    if not isinstance(outputs, dict) or "images" not in outputs:
        raise InputError([Problem(source, "has no `images` output", _OUTPUTS_HINT)])
    return parse_image_map(outputs["images"], source=source)


def _destinations(paths: Sequence[str], out: Path) -> dict[Path, Path]:
    """Each input file -> its place under `out`: a directory's files keep their relative paths,
    a file given by name goes to the top. Refuses two inputs with one destination, and an `out`
    inside an input directory (the next run would read the output as input)."""
    targets: dict[Path, Path] = {}
    problems: list[Problem] = []
    for given in map(Path, paths):
        if given.is_dir() and out.resolve().is_relative_to(given.resolve()):
            problems.append(
                Problem(
                    str(out), f"is inside the input directory {given}", "choose an --out folder outside it"
                )
            )
        for file in manifest_files([given]):
            target = out / (file.relative_to(given) if given.is_dir() else file.name)
            if target in targets.values() and targets.get(file) != target:
                problems.append(
                    Problem(str(target), "two input files would be written here", "rewrite them separately")
                )
            targets[file] = target
    if problems:
        raise InputError(problems)
    return targets


def write_atomically(path: Path, text: str, mode: int = 0o644) -> None:
    """`text` to `path` through a temporary file in the same directory and a rename, so a reader
    (or an interrupted run) never sees half a manifest."""
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(descriptor, "wb") as stream:
            stream.write(text.encode("utf-8"))
            stream.flush()
            os.fsync(stream.fileno())
        os.chmod(temporary, mode)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def _report(results: Sequence[RewrittenManifest], err: TextIO) -> int:
    """Unmatched images on stderr, one line per image with every place; the count of them."""
    places: dict[tuple[str, str], list[str]] = {}
    for result in results:
        for unmatched in result.unmatched:
            places.setdefault((unmatched.image, unmatched.reason), []).append(str(unmatched.place))
    for (image, reason), where in sorted(places.items()):
        print(f"left     {image}  ({', '.join(where)})\n         {reason}", file=err)
    replaced = sum(len(r.replaced) for r in results)
    changed = sum(r.changed for r in results)
    print(
        f"{replaced} images replaced in {changed} of {len(results)} files, {len(places)} left as written",
        file=err,
    )
    return len(places)


def _emit(
    args: argparse.Namespace, results: Sequence[RewrittenManifest], targets: dict[Path, Path], out: TextIO
) -> None:
    if args.write:
        for result in results:
            if result.changed:
                write_atomically(result.path, result.text, result.path.stat().st_mode & 0o7777)
    elif targets:
        for result in results:
            write_atomically(targets[result.path], result.text)
    else:
        for index, result in enumerate(results):
            starts_document = result.text.lstrip("\ufeff").startswith(("---", "%"))
            if index and not starts_document:
                out.write("---\n")
            out.write(result.text if result.text.endswith("\n") or not result.text else result.text + "\n")


def _one_line(problem: Problem) -> str:
    where = f"{problem.source}:{problem.line}" if problem.line is not None else problem.source
    return f"error: {where}: {problem.message}" + (f"; fix: {problem.hint}" if problem.hint else "")


def run(args: argparse.Namespace, out: TextIO | None = None, err: TextIO | None = None) -> int:
    """Exit 0 when done (images not in the catalogue are listed), 1 with `--strict` when some were
    left as written, 2 on bad input, one line per problem naming the file and the fix (nothing is
    written then)."""
    out, err = out or sys.stdout, err or sys.stderr
    try:
        images = load_images(Path(args.outputs))
        results = rewrite_manifests(args.paths, images)
        targets = _destinations(args.paths, Path(args.out)) if args.out else {}
    except InputError as error:
        for problem in error.problems:
            print(_one_line(problem), file=err)
        return EXIT_BAD_INPUT
    _emit(args, results, targets, out)
    left = _report(results, err)
    return EXIT_UNMATCHED if args.strict and left else EXIT_OK
