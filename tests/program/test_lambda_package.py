"""The re-warming function's package: the pip command, the pins, the files, the archive (no network)."""

from __future__ import annotations

import subprocess
import sys
from importlib.metadata import requires
from pathlib import Path

import pulumi
import pytest
from packaging.markers import default_environment
from packaging.requirements import Requirement

from components.config.source import PROJECT_ROOT
from components.program import lambda_package as package
from components.warm.lambda_handler import CATALOGUE_FILE, PackagedCatalogue, PackagedImage, load_catalogue


def test_the_pip_command_fetches_lambda_wheels_of_the_pins_only(tmp_path: Path) -> None:
    command = package.pip_install_command(tmp_path / "out", tmp_path / "requirements.txt", python="python3")
    text = " ".join(command)
    assert command[:4] == ["python3", "-m", "pip", "install"]
    assert "--platform manylinux2014_aarch64" in text and "--platform manylinux_2_28_aarch64" in text
    assert "--python-version 3.12" in text and "--implementation cp" in text
    assert {"--only-binary=:all:", "--no-deps"} <= set(command)
    assert f"--target {tmp_path / 'out'}" in text and f"--requirement {tmp_path / 'requirements.txt'}" in text
    assert package.LAMBDA_RUNTIME == "python3.12" and package.ARCHITECTURE == "arm64"


def test_the_cache_key_follows_the_pins() -> None:
    assert package.requirements_digest() == package.requirements_digest()
    changed = [*package.RUNTIME_REQUIREMENTS[:-1], "yarl==1.0.0"]
    assert package.requirements_digest(changed) != package.requirements_digest()


def _marker_environment() -> dict[str, str]:
    return {
        **{key: str(value) for key, value in default_environment().items()},
        "python_version": "3.12",
        "python_full_version": "3.12.0",
        "sys_platform": "linux",
        "platform_system": "Linux",
        "platform_machine": "aarch64",
        "platform_python_implementation": "CPython",
        "implementation_name": "cpython",
    }


def test_the_pins_hold_every_runtime_dependency_at_the_tested_versions() -> None:
    """pip runs with --no-deps: a dependency missing from the pins would be missing on Lambda."""
    pins = {Requirement(line).name.lower().replace("_", "-"): line for line in package.RUNTIME_REQUIREMENTS}
    environment = _marker_environment()
    for line in package.RUNTIME_REQUIREMENTS:
        for text in requires(Requirement(line).name) or []:
            needed = Requirement(text)
            if needed.marker is not None and not needed.marker.evaluate({**environment, "extra": ""}):
                continue
            name = needed.name.lower().replace("_", "-")
            assert name in pins, f"{line} needs {needed}, which is not pinned"
            assert needed.specifier.contains(pins[name].split("==")[1]), (
                f"{pins[name]} does not satisfy {needed}"
            )
    tested = {
        Requirement(line).name.lower(): line
        for line in (PROJECT_ROOT / "requirements.txt").read_text().splitlines()
        if line and not line.startswith("#")
    }
    for name in ("aiohttp", "stamina", "pydantic"):
        assert pins[name] == tested[name], f"{name}: the function must run what the suite tests"


def test_the_handler_sources_are_the_warm_engine_and_nothing_of_pulumi() -> None:
    sources = package.handler_sources(PROJECT_ROOT)
    assert {
        "components/__init__.py",
        "components/warm/__init__.py",
        "components/warm/lambda_handler.py",
        "components/warm/warmer.py",
        "components/warm/client.py",
        "components/model/__init__.py",
        "components/model/images.py",
    } <= set(sources)
    assert not [path for path in sources if path.startswith(("components/config/", "components/program/"))]
    assert not [
        path for path in sources if path.startswith(("components/resources/", "components/policies/"))
    ]


def test_the_packaged_sources_import_the_handler_on_their_own(tmp_path: Path) -> None:
    """Copied alone, the sources import the handler with Pulumi, PyYAML and httpx made unimportable."""
    for relative in package.handler_sources(PROJECT_ROOT):
        (tmp_path / relative).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / relative).write_bytes((PROJECT_ROOT / relative).read_bytes())
    script = (
        "import sys\n"
        "for name in ('pulumi', 'pulumi_aws', 'yaml', 'httpx', 'components.config.settings'): sys.modules[name] = None\n"
        "import components.warm.lambda_handler as h\n"
        "assert h.__file__.startswith(sys.argv[1]), h.__file__\n"
        "print(h.handler.__name__)\n"
    )
    answer = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={"PYTHONPATH": str(tmp_path), "PATH": "/usr/bin:/bin"},
    )
    assert answer.returncode == 0, answer.stderr
    assert answer.stdout.strip() == "handler"


def test_the_archive_holds_the_wheels_and_the_project_modules(tmp_path: Path) -> None:
    dependencies = tmp_path / "deps"
    (dependencies / "aiohttp" / "__pycache__").mkdir(parents=True)
    (dependencies / "aiohttp" / "__init__.py").write_text("")
    (dependencies / "aiohttp" / "__pycache__" / "x.pyc").write_bytes(b"")
    (dependencies / ".complete").write_text("")
    (dependencies / "bin").mkdir()
    (dependencies / "bin" / "idna").write_text("#!/home/someone/.venv/bin/python\n")
    (dependencies / "idna-3.20.dist-info").mkdir()
    (dependencies / "idna-3.20.dist-info" / "RECORD").write_text("../../bin/idna,sha256=...,223\n")
    (dependencies / "idna-3.20.dist-info" / "METADATA").write_text("Name: idna\nVersion: 3.20\n")
    files = package.archive_files(PROJECT_ROOT, dependencies)
    assert "idna-3.20.dist-info/METADATA" in files, "importlib.metadata still finds the versions"
    assert not [path for path in files if path.startswith("bin/") or path.endswith("/RECORD")], (
        "nothing that names the deploying machine"
    )
    assert files["aiohttp/__init__.py"] == dependencies / "aiohttp" / "__init__.py"
    assert files["components/warm/lambda_handler.py"] == PROJECT_ROOT / "components/warm/lambda_handler.py"
    assert not [path for path in files if "__pycache__" in path or path.endswith(".complete")]


def test_cached_wheels_are_used_without_running_pip(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cached = tmp_path / package.requirements_digest()
    cached.mkdir()
    (cached / ".complete").write_text("")

    def no_pip(*_: object, **__: object) -> None:
        raise AssertionError("pip must not run when the wheels are cached")

    monkeypatch.setattr(subprocess, "run", no_pip)
    assert package.install_dependencies(tmp_path) == cached


def test_a_failed_pip_is_a_clear_error_and_leaves_no_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def failing_pip(command: list[str], **_: object) -> subprocess.CompletedProcess[str]:
        return subprocess.CompletedProcess(command, 1, "", "ERROR: No matching distribution found for yarl")

    monkeypatch.setattr(subprocess, "run", failing_pip)
    with pytest.raises(package.PackagingError, match=r"check access to PyPI.*No matching distribution"):
        package.install_dependencies(tmp_path)
    assert list(tmp_path.iterdir()) == []


CATALOGUE = PackagedCatalogue(
    shards=(
        (
            PackagedImage(
                source="quay.io/a/b:1",
                registry_url="https://123456789012.dkr.ecr.eu-west-1.amazonaws.com/quay",
                repository="a/b",
                tag="1",
            ),
        ),
    )
)


def test_offline_the_archive_is_the_catalogue_and_a_placeholder_and_pip_never_runs(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    def no_pip(*_: object, **__: object) -> None:
        raise AssertionError("the offline plan must not run pip")

    monkeypatch.setattr(package, "install_dependencies", no_pip)
    archive = package.code_archive(CATALOGUE, placeholder=True)
    assert set(archive.assets) == {CATALOGUE_FILE, package.PLACEHOLDER_FILE}
    catalogue = archive.assets[CATALOGUE_FILE]
    assert isinstance(catalogue, pulumi.StringAsset)
    (tmp_path / CATALOGUE_FILE).write_text(catalogue.text)
    assert load_catalogue(tmp_path / CATALOGUE_FILE) == CATALOGUE, "what the handler reads back"


def test_under_the_engine_the_archive_holds_the_wheels_and_the_modules(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    (tmp_path / "aiohttp").mkdir()
    (tmp_path / "aiohttp" / "__init__.py").write_text("")
    monkeypatch.setattr(package, "install_dependencies", lambda: tmp_path)
    archive = package.code_archive(CATALOGUE, placeholder=False)
    assert package.PLACEHOLDER_FILE not in archive.assets
    handler = archive.assets["components/warm/lambda_handler.py"]
    assert isinstance(handler, pulumi.FileAsset) and handler.path == str(
        PROJECT_ROOT / "components/warm/lambda_handler.py"
    )
    assert {CATALOGUE_FILE, "aiohttp/__init__.py"} <= set(archive.assets)
