"""Regenerate the CSI Python bindings from csi.proto, or check they are current.

Usage (from the project root)::

    python -m fsx_csi_harness.csi.generate            # rewrite the bindings in place
    python -m fsx_csi_harness.csi.generate --check    # exit 1 if they drifted

The proto is compiled with the project root as the only source root, so the generated
modules refer to each other as ``fsx_csi_harness.csi.csi_pb2`` and import from anywhere.
"""

from __future__ import annotations

import argparse
import filecmp
import importlib.resources
import shutil
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
DEFAULT_ROOT = PACKAGE_DIR.parents[1]
# Where the proto sits relative to the source root; it fixes the generated module names.
PROTO_RELATIVE = Path("fsx_csi_harness/csi/csi.proto")
GENERATED_FILES = ("csi_pb2.py", "csi_pb2.pyi", "csi_pb2_grpc.py", "csi_pb2_grpc.pyi")
PLUGINS = ("protoc-gen-mypy", "protoc-gen-mypy_grpc")


class GenerationError(RuntimeError):
    """protoc or one of its plugins could not produce the bindings."""


def _find_plugin(name: str) -> Path:
    # Prefer the plugin installed next to this interpreter so a virtualenv's mypy-protobuf
    # wins over whatever else is on PATH.
    beside_python = Path(sys.executable).parent / name
    if beside_python.is_file():
        return beside_python
    on_path = shutil.which(name)
    if on_path is None:
        raise GenerationError(
            f"protoc plugin {name!r} not found next to {sys.executable} or on PATH; "
            "install mypy-protobuf into this environment (the 'codegen' dependency group)"
        )
    return Path(on_path)


def _protoc_arguments(root: Path, out_dir: Path) -> list[str]:
    well_known_types = importlib.resources.files("grpc_tools") / "_proto"
    mypy_plugin, mypy_grpc_plugin = (_find_plugin(name) for name in PLUGINS)
    return [
        "grpc_tools.protoc",
        f"--proto_path={root}",
        f"--proto_path={well_known_types}",
        f"--plugin=protoc-gen-mypy={mypy_plugin}",
        f"--plugin=protoc-gen-mypy_grpc={mypy_grpc_plugin}",
        f"--python_out={out_dir}",
        f"--grpc_python_out={out_dir}",
        f"--mypy_out={out_dir}",
        f"--mypy_grpc_out={out_dir}",
        str(root / PROTO_RELATIVE),
    ]


def generate(root: Path, out_dir: Path) -> list[Path]:
    """Compile ``root/fsx_csi_harness/csi/csi.proto`` into ``out_dir``; return the files."""
    from grpc_tools import protoc  # heavy import, only when generating

    proto = root / PROTO_RELATIVE
    if not proto.is_file():
        raise GenerationError(f"no proto at {proto}; pass --root pointing at the project root")
    status = protoc.main(_protoc_arguments(root, out_dir))
    if status != 0:
        raise GenerationError(
            f"protoc exited with status {status} compiling {proto}; its message is above"
        )
    produced = [out_dir / PROTO_RELATIVE.parent / name for name in GENERATED_FILES]
    missing = [str(path) for path in produced if not path.is_file()]
    if missing:
        raise GenerationError(f"protoc reported success but did not write {', '.join(missing)}")
    return produced


def stale_files(root: Path) -> list[str]:
    """Names of committed generated files that differ from a fresh generation."""
    committed_dir = root / PROTO_RELATIVE.parent
    with tempfile.TemporaryDirectory(prefix="csi-generate-") as scratch:
        fresh = generate(root, Path(scratch))
        return [
            path.name
            for path in fresh
            if not (committed_dir / path.name).is_file()
            or not filecmp.cmp(path, committed_dir / path.name, shallow=False)
        ]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m fsx_csi_harness.csi.generate", description=__doc__.splitlines()[0]
    )
    parser.add_argument(
        "--check",
        action="store_true",
        help="generate into a temporary directory and fail if the committed files differ",
    )
    parser.add_argument(
        "--root",
        type=Path,
        default=DEFAULT_ROOT,
        help="project root holding fsx_csi_harness/csi/csi.proto (default: %(default)s)",
    )
    args = parser.parse_args(argv)
    root: Path = args.root.resolve()
    try:
        if args.check:
            stale = stale_files(root)
            if stale:
                print(
                    f"CSI bindings under {root / PROTO_RELATIVE.parent} are out of date: "
                    f"{', '.join(stale)}. Regenerate with "
                    "`python -m fsx_csi_harness.csi.generate` and commit the result.",
                    file=sys.stderr,
                )
                return 1
            print("CSI bindings are up to date.")
            return 0
        for path in generate(root, root):
            print(f"wrote {path}")
        return 0
    except GenerationError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
