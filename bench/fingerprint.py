"""What a run computed, as digests: each experiment's test metrics and a SHA-256 of every weight tensor.

Two runs of the same params on the same CPU set-up give the same fingerprint exactly when their numbers are the
same bit for bit, which is what a refactoring must keep (timings are left out: they differ on every run).

    python bench/fingerprint.py PROJECT_DIR [--json OUT]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path


def fingerprint(project: Path) -> dict:
    import torch

    result = {}
    for metrics in sorted((project / "metrics").glob("*.json")):
        name = metrics.stem
        record = torch.load(project / "models" / f"{name}.pt", map_location="cpu", weights_only=True)
        tensors = {key: hashlib.sha256(t.detach().contiguous().numpy().tobytes()).hexdigest()[:16]
                   for key, t in record["state_dict"].items()}
        result[name] = {"metrics": json.loads(metrics.read_text()),
                        "weights": hashlib.sha256(json.dumps(tensors, sort_keys=True).encode()).hexdigest()[:16],
                        "tensors": len(tensors)}
    return result


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("project", type=Path)
    parser.add_argument("--json", type=Path, help="also write the fingerprint here")
    args = parser.parse_args(argv)
    result = fingerprint(args.project)
    for name, entry in result.items():
        m = entry["metrics"]
        print(f"{name}: test_accuracy {m['test_accuracy']}, test_loss {m['test_loss']}, "
              f"weights {entry['weights']} ({entry['tensors']} tensors)")
    if args.json:
        args.json.write_text(json.dumps(result, indent=1, sort_keys=True) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
