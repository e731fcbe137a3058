"""The re-warming function's code: which files, which wheels, the pip command that fetches them, the zip.

The archive holds the handler and the `components` modules it imports (found by reading their
imports, so a module the warm engine adds is packaged without a list to update), the catalogue
JSON, and the runtime dependencies as wheels built for Lambda's platform. boto3 is not packaged:
the Lambda Python runtime ships it (https://docs.aws.amazon.com/lambda/latest/dg/lambda-python.html).

Every deployer builds the same bytes, so the function never flips between two deployers' builds:
the wheels are pinned with their sha256 in `lambda-requirements.txt` beside this module and
installed with `pip install --require-hashes` (a substituted or re-chosen wheel is refused,
https://pip.pypa.io/en/stable/topics/secure-installs/); nothing pip writes about the install
itself is packaged; and the zip is written here, not by the engine: entries sorted, dated
1980-01-01 (the zip format's first day), mode 0644, stored uncompressed (deflate's output depends
on the zlib build, and zlib-ng's differs from zlib's).

Runtime and architecture: `python3.12` on `arm64`. Graviton costs about 20% less per GB-second
than x86_64 (https://aws.amazon.com/lambda/pricing/), and every dependency publishes
manylinux aarch64 wheels. python3.12 runs on Amazon Linux 2023 and is supported longer than
python3.11 (https://docs.aws.amazon.com/lambda/latest/dg/lambda-runtimes.html); the code needs
3.11 or later (`asyncio.timeout`) and the test suite runs it on 3.11. Wheels are chosen the way
AWS documents for a different build machine: `pip install --platform ... --only-binary=:all:`
(https://docs.aws.amazon.com/lambda/latest/dg/python-package.html#python-package-native-libraries).

The command, the file list and the zip are tested without the network, and pip itself against
local wheels; `code_archive` runs pip only when the program runs under the real engine (preview
and up alike: preview must show the code up deploys), while the offline plan and the mock tests
package a placeholder instead (`placeholder=True`).
"""

from __future__ import annotations

import ast
import contextlib
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Mapping
from pathlib import Path

import pulumi

from components.config.source import PROJECT_ROOT
from components.warm.lambda_handler import CATALOGUE_FILE, PackagedCatalogue, render_catalogue

LAMBDA_RUNTIME = "python3.12"
PYTHON_VERSION = "3.12"
ARCHITECTURE = "arm64"
# Amazon Linux 2023 has glibc 2.34, so manylinux2014 (glibc 2.17) wheels run; every pinned binary
# dependency publishes one for cp312, and the hashes in the requirements file are of those wheels.
WHEEL_PLATFORMS = ("manylinux2014_aarch64",)
HANDLER_MODULE = "components.warm.lambda_handler"
HANDLER = f"{HANDLER_MODULE}.handler"
PACKAGE = "components"
# The handler's runtime dependencies with every dependency of theirs, each with its wheel's hash:
# pip runs with --no-deps, so nothing unpinned gets in.
REQUIREMENTS_FILE = Path(__file__).with_name("lambda-requirements.txt")
PIP_TIMEOUT_SECONDS = 600
_DONE_MARKER = ".complete"
# What pip writes about an install rather than installs: the files' hashes (and any console
# script's, whose shebang names the local Python), the installer's name, whether it was asked for.
_INSTALL_RECORDS = frozenset({"RECORD", "INSTALLER", "REQUESTED", "direct_url.json"})
ZIP_DATE = (1980, 1, 1, 0, 0, 0)
ZIP_FILE_MODE = 0o100644  # a regular file, rw-r--r--, as Lambda wants files it only reads
ZIP_UNIX = 3  # the "made by" system that gives `external_attr` Unix modes
# Archives of other catalogues (about 19 MB each) are removed once this much older than the newest
# build: a concurrent preview or up of another stack reads its own for minutes, never for a day.
ARCHIVE_KEEP_SECONDS = 24 * 3600
PLACEHOLDER_FILE = "PLACEHOLDER"
PLACEHOLDER_TEXT = "The offline plan does not fetch wheels; `pulumi up` packages the real code here.\n"


class PackagingError(RuntimeError):
    """The function's dependencies could not be fetched; the message says what pip answered."""


def requirements_digest(requirements: Path = REQUIREMENTS_FILE) -> str:
    """Names the cached wheels: the pins and hashes, the platform and the Python version they were fetched for."""
    key = b"\n".join(
        [requirements.read_bytes(), *(p.encode() for p in WHEEL_PLATFORMS), PYTHON_VERSION.encode()]
    )
    return hashlib.sha256(key).hexdigest()[:16]


def pip_install_command(target: Path, requirements_file: Path, python: str = sys.executable) -> list[str]:
    """The pip command that fetches Lambda-platform wheels of the pins into `target`."""
    platforms = [arg for platform in WHEEL_PLATFORMS for arg in ("--platform", platform)]
    return [
        python,
        "-m",
        "pip",
        "install",
        "--disable-pip-version-check",
        "--no-input",
        *platforms,
        "--implementation",
        "cp",
        "--python-version",
        PYTHON_VERSION,
        "--only-binary=:all:",
        "--no-deps",
        "--require-hashes",
        "--no-compile",
        "--target",
        str(target),
        "--requirement",
        str(requirements_file),
    ]


def default_cache_root() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "ecr-pull-through-cache" / "lambda-dependencies"


def _module_path(root: Path, module: str) -> Path | None:
    base = root.joinpath(*module.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _imported_modules(path: Path, module: str) -> set[str]:
    """The `components.*` modules a file imports, at any depth of its body (not just the top)."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_bytes(), filename=str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                head = f"{base}.{node.module}" if node.module else base
            else:
                head = node.module or ""
            found.add(head)
            found.update(f"{head}.{alias.name}" for alias in node.names)
    return {name for name in found if name == PACKAGE or name.startswith(f"{PACKAGE}.")}


def handler_sources(project_root: Path, module: str = HANDLER_MODULE) -> list[str]:
    """Every `components` file the handler needs: its imports, theirs, and each package's `__init__.py`."""
    wanted, seen = [module], set()
    while wanted:
        name = wanted.pop()
        if name in seen:
            continue
        seen.add(name)
        path = _module_path(project_root, name)
        if path is None:
            continue  # `from components.warm.x import name` also names `components.warm.x.name`
        parts = name.split(".")
        wanted.extend(".".join(parts[:depth]) for depth in range(1, len(parts)))
        wanted.extend(_imported_modules(path, name))
    files = {_module_path(project_root, name) for name in seen}
    return sorted(path.relative_to(project_root).as_posix() for path in files if path is not None)


def _packaged(relative: Path) -> bool:
    """Leaves out what differs from one deploying machine to the next, so every deployer builds the
    same archive (no spurious code diffs): console scripts, whose shebang names the local Python,
    pip's records of the install, and compiled files."""
    if relative.parts[0] == "bin" or "__pycache__" in relative.parts or relative.name == _DONE_MARKER:
        return False
    return not (relative.name in _INSTALL_RECORDS and relative.parent.name.endswith(".dist-info"))


def dependency_files(dependencies: Path) -> dict[str, Path]:
    """What pip installed that the function imports, by archive path."""
    return {
        path.relative_to(dependencies).as_posix(): path
        for path in sorted(dependencies.rglob("*"))
        if path.is_file() and _packaged(path.relative_to(dependencies))
    }


def archive_files(project_root: Path, dependencies: Path) -> dict[str, Path]:
    """The archive's files by path: the dependencies, then the project's own modules over them."""
    files = dependency_files(dependencies)
    files.update({relative: project_root / relative for relative in handler_sources(project_root)})
    return files


def install_dependencies(cache_root: Path | None = None, requirements: Path = REQUIREMENTS_FILE) -> Path:
    """The wheels for the pins, installed once per `requirements_digest` (needs PyPI, or the index
    pip's own settings name, the first time on a machine)."""
    target = (cache_root or default_cache_root()) / requirements_digest(requirements)
    if (target / _DONE_MARKER).is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f"{target.name}-", dir=target.parent))
    try:
        installed = staging / "site-packages"
        try:
            answer = subprocess.run(
                pip_install_command(installed, requirements),
                capture_output=True,
                text=True,
                timeout=PIP_TIMEOUT_SECONDS,
                check=False,
            )
        except subprocess.TimeoutExpired:
            raise PackagingError(
                f"pip did not fetch the re-warming function's wheels within {PIP_TIMEOUT_SECONDS} s"
            ) from None
        if answer.returncode != 0:
            raise PackagingError(
                "pip could not fetch the re-warming function's wheels "
                f"({', '.join(WHEEL_PLATFORMS)}, Python {PYTHON_VERSION}) from {requirements.name}; check "
                f"access to PyPI. pip said: {answer.stderr.strip()[-800:]}"
            )
        (installed / _DONE_MARKER).write_bytes(requirements.read_bytes())
        shutil.rmtree(target, ignore_errors=True)
        installed.rename(target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


def build_archive(files: Mapping[str, Path], catalogue: PackagedCatalogue, directory: Path) -> Path:
    """The function's zip, written to `directory` under its own sha256: the same bytes from the same
    files and catalogue, wherever and whenever they were installed or checked out."""
    contents = {name: path.read_bytes() for name, path in files.items()}
    contents[CATALOGUE_FILE] = render_catalogue(catalogue).encode()
    directory.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkstemp(suffix=".zip", dir=directory)[1])
    try:
        with zipfile.ZipFile(staging, "w", compression=zipfile.ZIP_STORED) as archive:
            for name in sorted(contents):
                info = zipfile.ZipInfo(name, date_time=ZIP_DATE)
                info.create_system = ZIP_UNIX
                info.external_attr = ZIP_FILE_MODE << 16
                archive.writestr(info, contents[name], compress_type=zipfile.ZIP_STORED)
        built = directory / f"{hashlib.sha256(staging.read_bytes()).hexdigest()}.zip"
        staging.replace(built)
    finally:
        staging.unlink(missing_ok=True)
    _remove_stale_archives(directory, keep=built)
    return built


def _remove_stale_archives(directory: Path, keep: Path) -> None:
    """Archives (and staging files a killed build left) older than `ARCHIVE_KEEP_SECONDS` before `keep`,
    which was just written: without this, every catalogue change would leave one more behind."""
    cutoff = keep.stat().st_mtime - ARCHIVE_KEEP_SECONDS
    for archive in directory.glob("*.zip"):
        with contextlib.suppress(OSError):  # another build may remove it first
            if archive != keep and archive.stat().st_mtime < cutoff:
                archive.unlink()


def code_archive(
    catalogue: PackagedCatalogue, *, placeholder: bool, project_root: Path = PROJECT_ROOT
) -> pulumi.Archive:
    """The function's code: the zip of the handler's modules, the wheels and the catalogue, or offline,
    the catalogue and a placeholder."""
    if placeholder:
        return pulumi.AssetArchive(
            {
                CATALOGUE_FILE: pulumi.StringAsset(render_catalogue(catalogue)),
                PLACEHOLDER_FILE: pulumi.StringAsset(PLACEHOLDER_TEXT),
            }
        )
    files = archive_files(project_root, install_dependencies())
    return pulumi.FileArchive(
        str(build_archive(files, catalogue, default_cache_root().parent / "lambda-code"))
    )
