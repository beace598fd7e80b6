"""Build the krew archives of ``kubectl-migctl`` and the manifest that names their sha256.

    python deploy/krew/package.py                       # every platform in deploy/krew/migctl.yaml
    python deploy/krew/package.py --platform linux/amd64 --out dist/krew

Each archive holds ``kubectl-migctl`` (``launcher.sh``), ``lib/`` (migctl and its dependencies,
the dependencies installed with ``pip install --target`` from that platform's wheels, CPython 3.11
ABI, pinned by ``deploy/constraints.txt``) and
``LICENSE``. The manifest template's ``sha256`` and ``uri`` are filled in and written to
``OUT/migctl.yaml``. ``--no-deps`` puts only migctl itself in ``lib/`` (tests; the dependencies
must then come from the Python that runs it).
"""

from __future__ import annotations

import argparse
import hashlib
import io
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

import yaml

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
PIP_PLATFORMS = {
    "linux/amd64": ["manylinux2014_x86_64", "manylinux_2_17_x86_64", "manylinux_2_28_x86_64"],
    "linux/arm64": ["manylinux2014_aarch64", "manylinux_2_17_aarch64", "manylinux_2_28_aarch64"],
    "darwin/arm64": ["macosx_11_0_arm64", "macosx_14_0_arm64"],
}
LICENSE_TEXT = "Apache-2.0: see https://www.apache.org/licenses/LICENSE-2.0\n"


def _install(lib: Path, platform: str, *, deps: bool) -> None:
    # migctl itself is pure Python: the source tree (symlinked schemas resolved) ...
    shutil.copytree(REPO / "migctl", lib / "migctl", ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    if not deps:
        return
    # ... and its dependencies (pyproject's, pinned by the image's constraints) as that platform's wheels.
    import tomllib

    requirements = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]
    command = [sys.executable, "-m", "pip", "install", "--quiet", "--target", str(lib), "--no-compile",
               "--only-binary=:all:", "--python-version", "3.11", "--implementation", "cp",
               "--constraint", str(REPO / "deploy" / "constraints.txt")]
    for tag in PIP_PLATFORMS[platform]:
        command += ["--platform", tag]
    subprocess.run([*command, *requirements], check=True)
    shutil.rmtree(lib / "bin", ignore_errors=True)  # console scripts of pip --target: not used


def build_archive(platform: str, out: Path, *, deps: bool = True) -> Path:
    """The ``.tar.gz`` for ``platform`` (``os/arch``) in ``out``; returns its path."""
    version = yaml.safe_load((HERE / "migctl.yaml").read_text())["spec"]["version"]
    os_name, arch = platform.split("/")
    out.mkdir(parents=True, exist_ok=True)
    archive = out / f"migctl-{version}-{os_name}-{arch}.tar.gz"
    with tempfile.TemporaryDirectory() as tmp:
        lib = Path(tmp) / "lib"
        _install(lib, platform, deps=deps)
        with tarfile.open(archive, "w:gz") as tar:
            launcher = tarfile.TarInfo("kubectl-migctl")
            data = (HERE / "launcher.sh").read_bytes()
            launcher.size, launcher.mode = len(data), 0o755
            tar.addfile(launcher, io.BytesIO(data))
            tar.add(lib, arcname="lib", filter=lambda info: None if "__pycache__" in info.name else info)
            license_info = tarfile.TarInfo("LICENSE")
            license_info.size = len(LICENSE_TEXT.encode())
            tar.addfile(license_info, io.BytesIO(LICENSE_TEXT.encode()))
    return archive


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Build the krew archives and manifest of kubectl-migctl.")
    parser.add_argument("--platform", action="append", choices=sorted(PIP_PLATFORMS),
                        help="os/arch (repeatable; default: every platform in the manifest)")
    parser.add_argument("--out", type=Path, default=REPO / "dist" / "krew")
    parser.add_argument("--no-deps", action="store_true", help="only migctl in lib/ (tests)")
    args = parser.parse_args(argv)
    manifest = yaml.safe_load((HERE / "migctl.yaml").read_text())
    wanted = set(args.platform or PIP_PLATFORMS)
    platforms = []
    for entry in manifest["spec"]["platforms"]:
        labels = entry["selector"]["matchLabels"]
        platform = f"{labels['os']}/{labels['arch']}"
        if platform not in wanted:
            continue
        archive = build_archive(platform, args.out, deps=not args.no_deps)
        entry["sha256"] = sha256(archive)
        entry["uri"] = entry["uri"].rsplit("/", 1)[0] + "/" + archive.name
        platforms.append(entry)
        print(f"{archive} sha256 {entry['sha256']}", file=sys.stderr)
    manifest["spec"]["platforms"] = platforms
    (args.out / "migctl.yaml").write_text(yaml.safe_dump(manifest, sort_keys=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
