"""The folder a lent GPU's run carries (`make gpu-carry`): the four real IDX files and the wheels of the packages
the device's image lacks, so that bench/gpu.py runs there offline on its own python3.

    .venv/bin/python bench/carry.py [--data ../shared/fashion-mnist] [--out .carry]

The device's image has torch, numpy, scikit-learn, matplotlib, pandas, pyyaml, tqdm, pillow and pytest, but neither
pydantic nor ruamel.yaml, which loading params.yaml needs; pydantic-core is compiled, so its CPython 3.12 manylinux
x86-64 wheel is fetched (the device's python3 is 3.12), at the versions requirements.lock pins. bench/gpu.sh
installs them there. tests/test_gpu_script.py checks that every package the run imports is in one of the two lists.
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
from pathlib import Path

from fmnist.data.sources import FILES

ROOT = Path(__file__).resolve().parents[1]
# What the project imports that the device lacks, with what they need (their Requires-Dist).
WHEELS = ("pydantic", "pydantic-core", "annotated-types", "typing-inspection", "typing-extensions", "ruamel-yaml")
# What the project imports that the device's image has (the device library's KINDS.md, read 2026-11-17).
DEVICE_HAS = ("torch", "numpy", "scikit-learn", "matplotlib", "pandas", "pillow", "pyyaml", "tqdm", "pytest")
PLATFORMS = ("manylinux_2_28_x86_64", "manylinux_2_17_x86_64", "manylinux2014_x86_64")
LIMIT_MB = 64  # what one device call carries, the working tree included


def pinned(lock: Path = ROOT / "requirements.lock") -> list[str]:
    """name==version of each of WHEELS, as requirements.lock pins it."""
    pins = {}
    for line in lock.read_text().splitlines():
        m = re.match(r"^([A-Za-z0-9_.-]+)==([^\s;]+)", line)
        if m:
            pins[re.sub(r"[-_.]+", "-", m[1]).lower()] = m[2]
    missing = [w for w in WHEELS if w not in pins]
    if missing:
        sys.exit(f"error: {lock.name} pins no {', '.join(missing)}")
    return [f"{w}=={pins[w]}" for w in WHEELS]


def size_mb(folder: Path) -> float:
    return sum(f.stat().st_size for f in folder.rglob("*") if f.is_file()) / 2**20


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "fashion-mnist",
                        help="the folder of the four IDX .gz files (default: ../shared/fashion-mnist)")
    parser.add_argument("--out", type=Path, default=ROOT / ".carry")
    args = parser.parse_args(argv)
    missing = [name for name in FILES.values() if not (args.data / name).is_file()]
    if missing:
        sys.exit(f"error: {args.data} lacks {', '.join(missing)}")

    data = args.out / "fashion-mnist"
    data.mkdir(parents=True, exist_ok=True)
    for name in FILES.values():
        shutil.copy2(args.data / name, data / name)
    wheels = args.out / "wheels"
    cmd = [sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--only-binary=:all:", "--python-version", "3.12",
           "--implementation", "cp", *(f"--platform={p}" for p in PLATFORMS), "-d", str(wheels), *pinned()]
    if subprocess.run(cmd).returncode != 0:
        sys.exit("error: pip could not download the wheels (it needs the package index)")
    total = size_mb(args.out)
    print(f"{args.out}: the four IDX files and {len(list(wheels.glob('*.whl')))} wheels, {total:.1f} MB")
    if total > LIMIT_MB - 16:
        print(f"warning: with the working tree this may pass the {LIMIT_MB} MB a device call carries", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
