"""The functions' dependencies as a Lambda layer: pinned wheels for Lambda's platform, built without Docker.

The dependencies (``lambdas/requirements.txt``, every one pinned) are installed with ``pip install --platform
--only-binary=:all:`` for the functions' Python version and architecture, compiled to bytecode for that Python
(a deployed layer is read-only, so modules without ``.pyc`` would compile at every cold start), and cached
under ``.cache/lambda-deps/`` by a hash of the requirements and the target: repeated synths reuse them and
work offline. Without a cached build and without a reachable package index the synth fails and says so.
"""

from __future__ import annotations

import glob
import hashlib
import os
import platform
import shutil
import subprocess
import sys
import uuid
from dataclasses import dataclass
from pathlib import Path

from segflow.declaration import LAMBDA_ASSET_DIR

from segflow_infra.paths import repo_path

REQUIREMENTS_FILE = f"{LAMBDA_ASSET_DIR}/requirements.txt"
CACHE_DIR = ".cache/lambda-deps"
# What the functions' code asset (lambdas/) leaves out.
CODE_EXCLUDES = ("__pycache__", "*.pyc", ".pytest_cache", ".mypy_cache", ".ruff_cache", "*.egg-info")
PYTHON_ENV_VAR = "SEGFLOW_LAMBDA_PYTHON"
# A Python layer's modules sit in its python/ folder, which Lambda unpacks to /opt/python (on sys.path after
# the function's own /var/task and before the runtime's boto3). The bytecode names its sources there.
LAYER_PYTHON_DIR = "python"
LAYER_PYTHON_ROOT = "/opt/python"
# Bump when the way a dependency directory is built changes, so every cached build is rebuilt.
_BUILD_FORMAT = "2"
_PIP_TIMEOUT_SECONDS = 600


class LambdaBundleError(RuntimeError):
    """The functions' asset cannot be built (no cached build and no package index, no suitable Python, …)."""


@dataclass(frozen=True)
class Target:
    """What the dependencies are built for: a CPython version and a manylinux platform."""

    python_version: str  # "3.12"
    platform: str  # "manylinux2014_aarch64"

    @classmethod
    def for_lambda(cls, runtime_name: str, architecture_name: str) -> Target:
        """``python3.12`` and ``arm64`` (CDK's names) -> the wheels Lambda can load."""
        if not runtime_name.startswith("python"):
            raise LambdaBundleError(f"{runtime_name}: not a Python runtime")
        machine = {"arm64": "aarch64", "x86_64": "x86_64"}[architecture_name]
        return cls(runtime_name.removeprefix("python"), f"manylinux2014_{machine}")

    @classmethod
    def host(cls, python_version: str) -> Target:
        """The same Python version on this machine's architecture (to import-test the same pins here)."""
        machine = {"amd64": "x86_64", "arm64": "aarch64"}.get(platform.machine().lower(), platform.machine())
        return cls(python_version, f"manylinux2014_{machine}")

    @property
    def abi(self) -> str:
        return "cp" + self.python_version.replace(".", "")


def requirements_path() -> Path:
    return repo_path(REQUIREMENTS_FILE)


def pinned_requirements(path: Path | None = None) -> dict[str, str]:
    """The requirements as {normalized distribution name: version}; every line must be ``name==version``."""
    source = path or requirements_path()
    pins: dict[str, str] = {}
    for number, raw in enumerate(source.read_text().splitlines(), start=1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        name, separator, version = line.partition("==")
        if not separator or not name.strip() or not version.strip() or any(c in line for c in "<>~!;[ @"):
            raise LambdaBundleError(f"{source}:{number}: {raw.strip()!r} is not an exact pin (name==version)")
        pins[normalize(name)] = version.strip()
    return pins


def normalize(name: str) -> str:
    """A distribution name as PEP 503 compares them."""
    return "-".join(part for part in name.lower().replace("_", "-").replace(".", "-").split("-") if part)


def find_python(version: str) -> Path:
    """An interpreter of ``version`` (``3.12``): $SEGFLOW_LAMBDA_PYTHON, this one, ``python3.12`` on the PATH
    or pyenv's (every machine of this project has pyenv's CPython 3.12)."""
    explicit = os.environ.get(PYTHON_ENV_VAR)
    if explicit:
        if _python_version(explicit) != version:
            raise LambdaBundleError(f"{PYTHON_ENV_VAR}={explicit} is not a working Python {version}")
        return Path(explicit)
    pyenv_root = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv"))
    pyenv = sorted(
        glob.glob(str(pyenv_root / "versions" / f"{version}.*" / "bin" / f"python{version}")),
        key=lambda path: [int(part) if part.isdigit() else 0 for part in Path(path).parts[-3].split(".")],
        reverse=True,
    )
    candidates = [sys.executable, shutil.which(f"python{version}"), *pyenv]
    for candidate in candidates:
        if candidate and _python_version(candidate) == version:
            return Path(candidate)
    raise LambdaBundleError(
        f"no Python {version} found (the functions' runtime; needed to compile their bytecode and to "
        f"import-test them): install CPython {version} or point {PYTHON_ENV_VAR} at one"
    )


def _python_version(executable: str) -> str | None:
    try:
        result = subprocess.run(
            [executable, "-I", "-S", "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
    except OSError:
        return None
    return result.stdout.strip() if result.returncode == 0 else None


def cache_key(target: Target, requirements: Path | None = None) -> str:
    digest = hashlib.sha256()
    for part in (_BUILD_FORMAT, target.python_version, target.platform, "cp", LAYER_PYTHON_ROOT):
        digest.update(part.encode() + b"\0")
    digest.update((requirements or requirements_path()).read_bytes())
    return digest.hexdigest()[:20]


def dependencies_dir(
    target: Target, requirements: Path | None = None, cache_root: Path | None = None
) -> Path:
    """The built dependencies for ``target``: from the cache, or installed (and cached) now."""
    requirements = requirements or requirements_path()
    root = cache_root or repo_path(CACHE_DIR)
    built = root / f"{target.platform}-{target.abi}-{cache_key(target, requirements)}"
    if built.is_dir():
        return built
    root.mkdir(parents=True, exist_ok=True)
    staging = root / f".building-{uuid.uuid4().hex}"
    try:
        _install(target, requirements, staging, built)
        _compile(target, staging)
        try:
            staging.rename(built)  # atomic: a concurrent build of the same key may have won
        except OSError:
            if not built.is_dir():
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return built


def _install(target: Target, requirements: Path, into: Path, cached: Path) -> None:
    command = [
        sys.executable,
        "-m",
        "pip",
        "install",
        "--quiet",
        "--disable-pip-version-check",
        "--no-color",
        "--no-compile",
        "--retries",
        "2",
        "--platform",
        target.platform,
        "--only-binary=:all:",
        "--python-version",
        target.python_version,
        "--implementation",
        "cp",
        "--abi",
        target.abi,
        "--target",
        str(into),
        "-r",
        str(requirements),
    ]
    try:
        result = subprocess.run(
            command, capture_output=True, text=True, timeout=_PIP_TIMEOUT_SECONDS, check=False
        )
    except subprocess.TimeoutExpired as error:
        raise LambdaBundleError(
            f"installing the Lambda dependencies ({requirements}) timed out after {error.timeout} s"
        ) from error
    if result.returncode != 0:
        detail = "\n".join((result.stderr or result.stdout).strip().splitlines()[-15:])
        raise LambdaBundleError(
            f"cannot build the Lambda dependencies for {target.platform} / Python {target.python_version}: "
            f"pip could not install {requirements} (is the package index reachable?), and there is no cached "
            f"build at {cached}.\n{detail}"
        )
    shutil.rmtree(into / "bin", ignore_errors=True)  # console scripts, with this machine's interpreter path


def _compile(target: Target, directory: Path) -> None:
    """Bytecode for the target Python, not checked against the sources (a deployed asset never changes)."""
    python = find_python(target.python_version)
    result = subprocess.run(
        [
            str(python),
            "-I",
            "-m",
            "compileall",
            "-q",
            "-j",
            "0",
            "--invalidation-mode",
            "unchecked-hash",
            "-s",
            str(directory),
            "-p",
            LAYER_PYTHON_ROOT,
            str(directory),
        ],
        capture_output=True,
        text=True,
        timeout=_PIP_TIMEOUT_SECONDS,
        check=False,
    )
    if result.returncode != 0:
        raise LambdaBundleError(f"compiling the Lambda dependencies with {python} failed:\n{result.stdout}")


def code_entries(code_dir: Path | None = None) -> list[Path]:
    """The top-level files and folders of lambdas/ that the code asset carries."""
    code = code_dir or repo_path(LAMBDA_ASSET_DIR)
    ignored = shutil.ignore_patterns(*CODE_EXCLUDES)(str(code), [path.name for path in code.iterdir()])
    return sorted(path for path in code.iterdir() if path.name not in ignored)


def build_layer(output: Path, target: Target) -> None:
    """Write the layer's content into ``output`` (an empty or missing folder): the dependencies in python/."""
    dependencies = dependencies_dir(target)
    clashes = sorted({path.name for path in code_entries()} & {path.name for path in dependencies.iterdir()})
    if clashes:
        # The function's own folder comes first on Lambda's path: the dependency would be shadowed.
        raise LambdaBundleError(
            f"{LAMBDA_ASSET_DIR}/ has {', '.join(clashes)}, which a bundled dependency installs too: rename"
        )
    shutil.copytree(dependencies, output / LAYER_PYTHON_DIR, dirs_exist_ok=True)
