"""The functions' code and dependencies as Lambda runs them: exactly the pinned dependencies, built for the
functions' architecture and Python, and every handler importable with nothing but the code asset, the
dependencies layer and that Python's standard library.

This machine may not run the layer's arm64 binaries, so the import tests use a twin of the layer: the same
pins built for this machine and the same Python version, checked to hold the same distributions and files.
"""

from __future__ import annotations

import json
import os
import subprocess
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path
from typing import Any

import pytest
from segflow.declaration import FUNCTIONS, FunctionSpec

from tests.infra.infra_helpers import ref, render

pytestmark = pytest.mark.infra

# ELF e_machine values (the layer's native extensions must be Lambda's architecture).
_ELF_MACHINE = {"manylinux2014_aarch64": 183, "manylinux2014_x86_64": 62}

# Run in `python -I -S -B`: no site-packages, no user site, no PYTHON* variables, no bytecode written
# (Lambda's folders are read-only). The code goes first on the path, then the layer: /var/task, /opt/python.
_IMPORT_SCRIPT = r"""
import importlib, json, pkgutil, sys, sysconfig
code, layer, handler, walk = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4] == "walk"
sys.path[:0] = [code, layer]
module_name, _, attribute = handler.rpartition(".")
if not callable(getattr(importlib.import_module(module_name), attribute)):
    raise TypeError(f"{handler} is not callable")
if walk:
    import segflow
    for info in pkgutil.walk_packages(segflow.__path__, "segflow."):
        importlib.import_module(info.name)
stdlib = (sysconfig.get_paths()["stdlib"] + "/", sysconfig.get_paths()["platstdlib"] + "/")
files = {name: getattr(module, "__file__", None) for name, module in list(sys.modules.items())}
def top_modules(root):
    return sorted({name.split(".")[0] for name, file in files.items()
                   if file and file.startswith(root + "/")})
print(json.dumps({
    "python": "%d.%d" % sys.version_info[:2],
    "path": sys.path,
    "outside": sorted(f"{name}: {file}" for name, file in files.items()
                      if file and not file.startswith((code + "/", layer + "/", *stdlib))),
    "from_code": top_modules(code),
    "from_layer": top_modules(layer),
}))
"""


# Every .pyc under argv[1] whose code object does not name its source under argv[2].
_CO_FILENAMES = r"""
import marshal, pathlib, sys
root, prefix = pathlib.Path(sys.argv[1]), sys.argv[2]
for compiled in root.rglob("*.pyc"):
    source = compiled.parent.parent / (compiled.name.split(".")[0] + ".py")
    if marshal.loads(compiled.read_bytes()[16:]).co_filename != f"{prefix}/{source.relative_to(root)}":
        print(compiled.relative_to(root))
"""


@dataclass(frozen=True)
class Deployed:
    """The synthesized code asset and the dependencies layer's python/ folder."""

    code: Path
    layer: Path


def _lambda_target() -> Any:
    from segflow_infra.functions import ARCHITECTURE, RUNTIME
    from segflow_infra.lambda_bundle import Target

    return Target.for_lambda(RUNTIME.name, ARCHITECTURE.name)


def _layer_id(synth: Any) -> str:
    layers = synth.of_type("AWS::Lambda::LayerVersion")
    assert len(layers) == 1, f"one dependencies layer, found {sorted(layers)}"
    return next(iter(layers))


@pytest.fixture(scope="session")
def deployed(synth: Any) -> Deployed:
    from segflow_infra.lambda_bundle import LAYER_PYTHON_DIR

    keys = {fn["Properties"]["Code"]["S3Key"] for fn in synth.of_type("AWS::Lambda::Function").values()}
    assert len(keys) == 1, "all functions share one code asset"
    layer_key = synth.resources[_layer_id(synth)]["Properties"]["Content"]["S3Key"]
    layer = synth.outdir / f"asset.{layer_key.removesuffix('.zip')}"
    assert [path.name for path in layer.iterdir()] == [LAYER_PYTHON_DIR], "a Python layer holds python/ only"
    return Deployed(synth.outdir / f"asset.{next(iter(keys)).removesuffix('.zip')}", layer / LAYER_PYTHON_DIR)


@pytest.fixture(scope="session")
def host_layer(deployed: Deployed) -> Path:
    """The layer's python/ folder built for this machine from the same pins, for the same Python."""
    from segflow_infra.lambda_bundle import Target, dependencies_dir

    target = _lambda_target()
    host = Target.host(target.python_version)
    return deployed.layer if host == target else dependencies_dir(host)


@pytest.fixture(scope="session")
def lambda_python() -> Path:
    from segflow_infra.lambda_bundle import find_python

    return find_python(_lambda_target().python_version)


def _distributions(root: Path) -> dict[str, str]:
    """{normalized name: version} of every *.dist-info at the top of ``root``."""
    from segflow_infra.lambda_bundle import normalize

    found: dict[str, str] = {}
    for metadata in root.glob("*.dist-info/METADATA"):
        head = metadata.read_text().split("\n\n", 1)[0]
        headers = dict(line.split(": ", 1) for line in head.splitlines() if ": " in line)
        found[normalize(headers["Name"])] = headers["Version"]
    return found


def _files(root: Path) -> set[str]:
    return {path.relative_to(root).as_posix() for path in root.rglob("*") if path.is_file()}


def _portable_files(root: Path) -> set[str]:
    """The files, less what names the platform: compiled extensions and the wheel's tag and file list."""
    return {name for name in _files(root) if not name.endswith((".so", "/RECORD", "/WHEEL"))}


def test_every_import_of_the_functions_is_a_pinned_dependency() -> None:
    """Each module lambdas/ imports (at the top or inside a function) is the standard library, segflow, or
    comes from a distribution in lambdas/requirements.txt."""
    import ast
    import sys
    from importlib.metadata import packages_distributions

    from segflow_infra.lambda_bundle import normalize, pinned_requirements
    from segflow_infra.paths import repo_path

    imported: dict[str, str] = {}
    for source in sorted(repo_path("lambdas").rglob("*.py")):
        for node in ast.walk(ast.parse(source.read_text(), str(source))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                imported.setdefault(name.split(".")[0], str(source.relative_to(repo_path("."))))
    third_party = {
        top: where
        for top, where in imported.items()
        if top not in sys.stdlib_module_names and top not in {"segflow", "__future__"}
    }
    provided_by = packages_distributions()
    pinned = pinned_requirements()
    unpinned = {
        top: where
        for top, where in third_party.items()
        if not {normalize(name) for name in provided_by.get(top, [])} & set(pinned)
    }
    assert not unpinned, f"imported by lambdas/ but not in lambdas/requirements.txt: {unpinned}"
    assert {"pydantic", "boto3", "botocore", "jmespath", "aws_lambda_powertools"} <= set(third_party)


def test_the_suite_runs_the_pinned_versions() -> None:
    """The venv the suite runs in has what the functions deploy with (pyproject.toml reads the same file)."""
    from segflow_infra.lambda_bundle import pinned_requirements

    installed = {name: version(name) for name in pinned_requirements()}
    assert installed == pinned_requirements(), "the venv is stale: make install"


def test_functions_take_their_dependencies_from_the_one_pinned_layer(synth: Any) -> None:
    """No layer resolved at deploy time (the public Powertools one was), none but the built one."""
    layer_id = _layer_id(synth)
    properties = synth.resources[layer_id]["Properties"]
    assert properties["CompatibleRuntimes"] == ["python3.12"]
    assert properties["CompatibleArchitectures"] == ["arm64"]
    for spec in FUNCTIONS:
        layers = synth.resources[spec.logical_id]["Properties"]["Layers"]
        assert [render(layer) for layer in layers] == [ref(layer_id)], spec.logical_id
    parameters = synth.template.get("Parameters", {})
    resolved_at_deploy = [name for name, value in parameters.items() if value["Type"].startswith("AWS::SSM")]
    assert resolved_at_deploy == ["BootstrapVersion"]


def test_layer_holds_exactly_the_pinned_distributions(deployed: Deployed) -> None:
    from segflow_infra.lambda_bundle import pinned_requirements

    assert _distributions(deployed.layer) == pinned_requirements()
    assert not (deployed.layer / "bin").exists(), "console scripts (with this machine's interpreter) left out"


def test_layer_is_built_for_the_functions_architecture_and_python(deployed: Deployed) -> None:
    target = _lambda_target()
    assert target.platform == "manylinux2014_aarch64"
    machine = target.platform.split("_", 1)[1]
    tags = {
        line.removeprefix("Tag: ")
        for wheel in deployed.layer.glob("*.dist-info/WHEEL")
        for line in wheel.read_text().splitlines()
        if line.startswith("Tag: ")
    }
    own_python = f"{target.abi}-{target.abi}-"
    # The stable ABI (``cp3N-abi3``) of any CPython up to the functions' loads on theirs (cryptography's).
    version = int(target.abi.removeprefix("cp3"))
    stable = {f"cp3{minor}-abi3-" for minor in range(2, version + 1)}
    foreign = {
        tag
        for tag in tags
        if not tag.endswith("-none-any")
        and not tag.startswith(own_python)
        and not tag.startswith(tuple(stable))
    }
    assert not foreign, f"wheels for another Python: {foreign}"
    assert {tag for tag in tags if not tag.endswith("-any")}, "expected native wheels (pydantic-core)"
    assert all(tag.endswith(f"_{machine}") for tag in tags if not tag.endswith("-any")), tags
    extensions = list(deployed.layer.rglob("*.so"))
    assert extensions, "pydantic-core's extension is missing"
    for extension in extensions:
        header = extension.read_bytes()[:20]
        assert header[:4] == b"\x7fELF", extension
        assert int.from_bytes(header[18:20], "little") == _ELF_MACHINE[target.platform], extension
        # Built for the functions' CPython, or for its stable ABI (``.abi3.so``: cryptography's).
        own = f"cpython-{target.abi.removeprefix('cp')}-{machine}-linux-gnu"
        assert own in extension.name or extension.name.endswith(".abi3.so"), extension


def test_layer_carries_bytecode_for_the_runtime(deployed: Deployed, lambda_python: Path) -> None:
    """Lambda cannot write bytecode into a layer: without .pyc every dependency would compile at each cold
    start. Hash-based and unchecked: valid whatever timestamps the zip gives the sources."""
    magic = subprocess.run(
        [
            str(lambda_python),
            "-I",
            "-S",
            "-c",
            "import importlib.util; print(importlib.util.MAGIC_NUMBER.hex())",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    tag = "cpython-" + _lambda_target().abi.removeprefix("cp")
    sources = list(deployed.layer.rglob("*.py"))
    assert len(sources) > 500
    missing, wrong = [], []
    for source in sources:
        compiled = source.parent / "__pycache__" / f"{source.stem}.{tag}.pyc"
        if not compiled.is_file():
            missing.append(str(source.relative_to(deployed.layer)))
            continue
        header = compiled.read_bytes()[:8]
        if header[:4].hex() != magic or int.from_bytes(header[4:8], "little") != 0b01:
            wrong.append(str(compiled.relative_to(deployed.layer)))
    assert not missing, f"no bytecode: {missing[:5]}"
    assert not wrong, f"not unchecked-hash bytecode of the runtime's Python: {wrong[:5]}"
    # Tracebacks name the sources where Lambda unpacks the layer, not where it was built.
    misplaced = subprocess.run(
        [str(lambda_python), "-I", "-S", "-c", _CO_FILENAMES, str(deployed.layer), "/opt/python"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert misplaced == [], misplaced[:5]


def test_code_asset_is_the_lambdas_folder_without_caches(deployed: Deployed) -> None:
    from segflow_infra.lambda_bundle import code_entries

    assert {path.name for path in deployed.code.iterdir()} == {path.name for path in code_entries()}
    files = _files(deployed.code)
    assert "segflow/declaration.py" in files
    assert not [name for name in files if "__pycache__" in name or name.endswith(".pyc")]
    assert not [name for name in files if ".dist-info/" in name], "dependencies belong in the layer"
    missing = [spec.handler for spec in FUNCTIONS if f"{_module_path(spec.handler)}.py" not in files]
    assert not missing, f"handler modules not in the asset: {missing}"


def _module_path(handler: str) -> str:
    return handler.rsplit(".", 1)[0].replace(".", "/")


def test_host_twin_of_the_layer_holds_the_same_distributions_and_files(
    deployed: Deployed, host_layer: Path
) -> None:
    """Only the compiled extensions' names differ (their platform tag): same modules, same versions."""
    assert _distributions(host_layer) == _distributions(deployed.layer)
    assert _portable_files(host_layer) == _portable_files(deployed.layer)


def _import_in_clean_interpreter(
    python: Path, code: Path, layer: Path, handler: str, environment: dict[str, str], walk: bool
) -> dict[str, Any]:
    result = subprocess.run(
        [
            str(python),
            "-I",
            "-S",
            "-B",
            "-c",
            _IMPORT_SCRIPT,
            str(code),
            str(layer),
            handler,
            "walk" if walk else "-",
        ],
        capture_output=True,
        text=True,
        env=environment,
        cwd=code,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, (
        f"{handler} does not import from the code and layer:\n{result.stderr[-3000:]}"
    )
    return json.loads(result.stdout.splitlines()[-1])


def _lambda_environment(synth: Any, spec: FunctionSpec, code: Path) -> dict[str, str]:
    """The function's variables from the template (intrinsics rendered as text) and those Lambda sets."""
    variables = synth.resources[spec.logical_id]["Properties"]["Environment"]["Variables"]
    return {
        **{name: render(value) for name, value in variables.items()},
        "AWS_REGION": "eu-west-1",
        "AWS_DEFAULT_REGION": "eu-west-1",
        "AWS_LAMBDA_FUNCTION_NAME": spec.logical_id,
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(spec.memory_mb),
        "LAMBDA_TASK_ROOT": str(code),
        "_HANDLER": spec.handler,
        "LANG": "en_US.UTF-8",
        "TZ": ":UTC",
        "PATH": "/usr/local/bin:/usr/bin:/bin",
    }


@pytest.mark.parametrize("spec", FUNCTIONS, ids=lambda spec: spec.logical_id)
def test_handler_imports_from_the_code_and_layer_alone(
    synth: Any, deployed: Deployed, host_layer: Path, lambda_python: Path, spec: FunctionSpec
) -> None:
    report = _import_in_clean_interpreter(
        lambda_python,
        deployed.code,
        host_layer,
        spec.handler,
        _lambda_environment(synth, spec, deployed.code),
        walk=False,
    )
    assert report["python"] == _lambda_target().python_version
    assert report["path"][:2] == [str(deployed.code), str(host_layer)]
    assert not [entry for entry in report["path"] if "site-packages" in entry]
    assert report["outside"] == [], "modules loaded from outside the code, the layer and the standard library"
    assert report["from_code"] == ["segflow"]
    assert {"pydantic", "pydantic_core", "aws_lambda_powertools"} <= set(report["from_layer"])


def test_every_segflow_module_imports_from_the_code_and_layer_alone(
    synth: Any, deployed: Deployed, host_layer: Path, lambda_python: Path
) -> None:
    """What handlers import lazily (node types, custom node loading, the console page) imports there too."""
    spec = next(spec for spec in FUNCTIONS if spec.logical_id == "ExecuteSegment")
    report = _import_in_clean_interpreter(
        lambda_python,
        deployed.code,
        host_layer,
        spec.handler,
        _lambda_environment(synth, spec, deployed.code),
        walk=True,
    )
    assert report["outside"] == []
    assert {"boto3", "botocore", "pydantic", "jmespath", "aws_lambda_powertools"} <= set(report["from_layer"])


def test_without_cache_or_package_index_the_build_fails_and_says_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from segflow_infra.lambda_bundle import LambdaBundleError, dependencies_dir

    _unreachable_package_index(tmp_path, monkeypatch)
    with pytest.raises(LambdaBundleError, match="is the package index reachable") as failure:
        dependencies_dir(_lambda_target(), cache_root=tmp_path / "cache")
    assert "requirements.txt" in str(failure.value)
    assert "no cached build at" in str(failure.value)
    assert [path.name for path in (tmp_path / "cache").iterdir()] == [], "no half-built cache entry is left"


def test_with_a_cached_build_no_package_index_is_needed(
    deployed: Deployed, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The session's synth built (or found) the cache: the same build is found again offline."""
    from segflow_infra.lambda_bundle import dependencies_dir

    _unreachable_package_index(tmp_path, monkeypatch)
    assert _files(dependencies_dir(_lambda_target())) == _files(deployed.layer)


def _unreachable_package_index(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """pip with no index and an empty wheel folder: what it sees offline."""
    empty = tmp_path / "no-wheels"
    empty.mkdir()
    monkeypatch.setenv("PIP_CONFIG_FILE", os.devnull)
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    monkeypatch.setenv("PIP_FIND_LINKS", str(empty))
