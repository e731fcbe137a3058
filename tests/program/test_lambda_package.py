"""The re-warming function's package: the pip command, the hashed pins, the files, the archive.

Nothing here reaches PyPI: pip itself runs against wheels built in the test (`--no-index
--find-links` through pip's own environment variables).
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
import subprocess
import sys
import time
import zipfile
from importlib.metadata import requires
from pathlib import Path

import pulumi
import pytest
from packaging.markers import default_environment
from packaging.requirements import Requirement

from components.config.source import PROJECT_ROOT
from components.program import lambda_package as package
from components.warm.lambda_handler import CATALOGUE_FILE, PackagedCatalogue, PackagedImage, load_catalogue

_PIN = re.compile(
    r"(?P<name>[a-z0-9-]+)==(?P<version>[0-9][0-9a-z.]*) \\\n    --hash=sha256:(?P<hash>[0-9a-f]{64})\n"
)


def _pins(path: Path = package.REQUIREMENTS_FILE) -> dict[str, str]:
    """Name -> `name==version` of a requirements file in the shape lambda-requirements.txt keeps."""
    text = "".join(line for line in path.read_text().splitlines(keepends=True) if not line.startswith("#"))
    pins = {m["name"]: f"{m['name']}=={m['version']}" for m in _PIN.finditer(text)}
    assert _PIN.sub("", text) == "", "every line is a pin with its one sha256"
    return pins


def test_the_pip_command_installs_hashed_lambda_wheels_of_the_pins_only(tmp_path: Path) -> None:
    command = package.pip_install_command(tmp_path / "out", tmp_path / "requirements.txt", python="python3")
    text = " ".join(command)
    assert command[:4] == ["python3", "-m", "pip", "install"]
    assert "--platform manylinux2014_aarch64" in text and text.count("--platform") == 1
    assert "--python-version 3.12" in text and "--implementation cp" in text
    assert {"--only-binary=:all:", "--no-deps", "--require-hashes"} <= set(command)
    assert f"--target {tmp_path / 'out'}" in text and f"--requirement {tmp_path / 'requirements.txt'}" in text
    assert package.LAMBDA_RUNTIME == "python3.12" and package.ARCHITECTURE == "arm64"


def test_every_pin_carries_the_hash_of_its_wheel() -> None:
    assert len(_pins()) == 16


def test_the_cache_key_follows_the_requirements_file(tmp_path: Path) -> None:
    assert package.requirements_digest() == package.requirements_digest()
    changed = tmp_path / "requirements.txt"
    changed.write_text(package.REQUIREMENTS_FILE.read_text().replace("yarl==1.25.1", "yarl==1.25.2"))
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
    pins = _pins()
    environment = _marker_environment()
    for line in pins.values():
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
    for written_by_pip in ("INSTALLER", "REQUESTED", "direct_url.json"):
        (dependencies / "idna-3.20.dist-info" / written_by_pip).write_text("pip\n")
    files = package.archive_files(PROJECT_ROOT, dependencies)
    assert "idna-3.20.dist-info/METADATA" in files, "importlib.metadata still finds the versions"
    assert [path for path in files if "dist-info" in path] == ["idna-3.20.dist-info/METADATA"], (
        "nothing the installing pip wrote: it names the deploying machine or pip's version"
    )
    assert not [path for path in files if path.startswith("bin/")]
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
    assert isinstance(archive, pulumi.AssetArchive)
    assert set(archive.assets) == {CATALOGUE_FILE, package.PLACEHOLDER_FILE}
    catalogue = archive.assets[CATALOGUE_FILE]
    assert isinstance(catalogue, pulumi.StringAsset)
    (tmp_path / CATALOGUE_FILE).write_text(catalogue.text)
    assert load_catalogue(tmp_path / CATALOGUE_FILE) == CATALOGUE, "what the handler reads back"


def test_under_the_engine_the_archive_is_a_zip_of_the_wheels_modules_and_catalogue(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    (tmp_path / "deps" / "aiohttp").mkdir(parents=True)
    (tmp_path / "deps" / "aiohttp" / "__init__.py").write_text("")
    monkeypatch.setattr(package, "install_dependencies", lambda: tmp_path / "deps")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    archive = package.code_archive(CATALOGUE, placeholder=False)
    assert isinstance(archive, pulumi.FileArchive) and archive.path.endswith(".zip")
    with zipfile.ZipFile(archive.path) as built:
        names = built.namelist()
        assert (
            built.read("components/warm/lambda_handler.py")
            == (PROJECT_ROOT / "components/warm/lambda_handler.py").read_bytes()
        )
        (tmp_path / CATALOGUE_FILE).write_bytes(built.read(CATALOGUE_FILE))
    assert {CATALOGUE_FILE, "aiohttp/__init__.py"} <= set(names) and package.PLACEHOLDER_FILE not in names
    assert load_catalogue(tmp_path / CATALOGUE_FILE) == CATALOGUE


def _dependencies(root: Path, *, reverse: bool, mode: int) -> Path:
    """The same installed files, written in another order, with other times and permissions."""
    files = {
        "aiohttp/__init__.py": b"# aiohttp\n",
        "aiohttp/_http_parser.cpython-312-aarch64-linux-gnu.so": bytes(range(256)) * 64,
        "yarl-1.25.1.dist-info/METADATA": b"Name: yarl\nVersion: 1.25.1\n",
    }
    for name in sorted(files, reverse=reverse):
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(files[name])
        path.chmod(mode)
        os.utime(path, (1_000_000_000 if reverse else 1_700_000_000,) * 2)
    return root


def test_the_archive_is_byte_identical_when_built_in_different_directories(tmp_path: Path) -> None:
    """Two deployers, two checkouts, two caches: the same bytes, so the function never flips between them."""
    checkout = tmp_path / "checkout"
    for relative in package.handler_sources(PROJECT_ROOT):
        (checkout / relative).parent.mkdir(parents=True, exist_ok=True)
        (checkout / relative).write_bytes((PROJECT_ROOT / relative).read_bytes())
        (checkout / relative).chmod(0o600)
    first = package.build_archive(
        package.archive_files(PROJECT_ROOT, _dependencies(tmp_path / "a", reverse=False, mode=0o644)),
        CATALOGUE,
        tmp_path / "out-a",
    )
    second = package.build_archive(
        package.archive_files(checkout, _dependencies(tmp_path / "b", reverse=True, mode=0o755)),
        CATALOGUE,
        tmp_path / "out-b",
    )
    assert first.read_bytes() == second.read_bytes()
    assert first.name == second.name == f"{hashlib.sha256(first.read_bytes()).hexdigest()}.zip"
    with zipfile.ZipFile(first) as built:
        infos = built.infolist()
    assert [i.filename for i in infos] == sorted(i.filename for i in infos)
    assert {i.date_time for i in infos} == {(1980, 1, 1, 0, 0, 0)}
    assert {i.external_attr >> 16 for i in infos} == {0o100644}
    assert {i.compress_type for i in infos} == {zipfile.ZIP_STORED}


def test_archives_of_other_catalogues_are_removed_a_day_after_and_no_sooner(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    stale, recent, left_by_a_kill = out / f"{'a' * 64}.zip", out / f"{'b' * 64}.zip", out / "tmpk1ll3d.zip"
    for path in (stale, recent, left_by_a_kill):
        path.write_bytes(b"PK")
    two_days_ago = time.time() - 2 * 24 * 3600
    for path in (stale, left_by_a_kill):
        os.utime(path, (two_days_ago, two_days_ago))
    os.utime(recent, (time.time() - 3600, time.time() - 3600))
    files = package.archive_files(PROJECT_ROOT, _dependencies(tmp_path / "deps", reverse=False, mode=0o644))
    built = package.build_archive(files, CATALOGUE, out)
    assert sorted(p.name for p in out.iterdir()) == sorted([built.name, recent.name]), (
        "a day old goes; an hour old may be another stack's preview, still reading it"
    )
    assert package.build_archive(files, CATALOGUE, out) == built, "rebuilding the same keeps it"
    assert built.exists()


def _wheel(directory: Path, name: str, version: str) -> Path:
    """A minimal pure-Python wheel (PEP 427): the package, METADATA, WHEEL and RECORD."""
    dist_info = f"{name}-{version}.dist-info"
    files = {
        f"{name}/__init__.py": b"VALUE = 1\n",
        f"{dist_info}/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n".encode(),
        f"{dist_info}/WHEEL": b"Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    }
    record = [
        f"{path},sha256={base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b'=').decode()},{len(data)}"
        for path, data in files.items()
    ]
    files[f"{dist_info}/RECORD"] = ("\n".join([*record, f"{dist_info}/RECORD,,"]) + "\n").encode()
    wheel = directory / f"{name}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        for path, data in files.items():
            archive.writestr(path, data)
    return wheel


@pytest.fixture
def local_index(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """pip reads its index from the environment: here, only wheels in one local folder."""
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    monkeypatch.setenv("PIP_FIND_LINKS", str(wheels))
    monkeypatch.setenv("PIP_CONFIG_FILE", os.devnull)
    return wheels


def test_pip_installs_a_pinned_wheel_whose_hash_matches(local_index: Path, tmp_path: Path) -> None:
    wheel = _wheel(local_index, "demo_pkg", "1.0")
    requirements = tmp_path / "requirements.txt"
    requirements.write_text(
        f"demo-pkg==1.0 \\\n    --hash=sha256:{hashlib.sha256(wheel.read_bytes()).hexdigest()}\n"
    )
    installed = package.install_dependencies(tmp_path / "cache", requirements)
    assert (installed / "demo_pkg" / "__init__.py").read_text() == "VALUE = 1\n"
    assert installed == tmp_path / "cache" / package.requirements_digest(requirements)


def test_pip_refuses_a_wheel_whose_hash_differs(local_index: Path, tmp_path: Path) -> None:
    _wheel(local_index, "demo_pkg", "1.0")
    requirements = tmp_path / "requirements.txt"
    requirements.write_text(f"demo-pkg==1.0 \\\n    --hash=sha256:{'0' * 64}\n")
    with pytest.raises(package.PackagingError, match="THESE PACKAGES DO NOT MATCH THE HASHES"):
        package.install_dependencies(tmp_path / "cache", requirements)
    assert not (tmp_path / "cache" / package.requirements_digest(requirements)).exists()


def test_pip_refuses_a_pin_without_a_hash(local_index: Path, tmp_path: Path) -> None:
    _wheel(local_index, "demo_pkg", "1.0")
    requirements = tmp_path / "requirements.txt"
    requirements.write_text("demo-pkg==1.0\n")
    with pytest.raises(package.PackagingError, match="Hashes are required in --require-hashes mode"):
        package.install_dependencies(tmp_path / "cache", requirements)
