"""The whole pipeline at full size: wall time and peak memory of every stage, through the real `dvc repro`.

Copies the repository (the files git tracks, and untracked ones it does not ignore) to a temporary
folder, switches it to the synthetic dataset at full size (60,000 training and 10,000 test images) with
one epoch per experiment (`train.epoch_limit: 1`) and MLflow in a sqlite file inside, then runs every
stage on its own, in the DAG's order, with `dvc repro --single-item <stage>`. For each stage: the wall
time, and the peak resident memory of the stage (the larger of the `dvc` process and the stage's own
command, read with wait4). For train stages also the epoch's training time as the loop measured it.
Finally the wall time of a `dvc repro` that has nothing to do. Results are appended to
bench/results/<device>.json.

    .venv/bin/python bench/pipeline.py                       # about 12 minutes on 2 CPU cores
    .venv/bin/python bench/pipeline.py --images 1200 --experiments seed000 --json /tmp/p.json   # smoke run
"""

from __future__ import annotations

import argparse
import json
import datetime
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

from measure import load_average  # bench/ is on sys.path when run
from throughput import machine_info, record

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def copy_repo(dest: Path) -> Path:
    """What a fresh clone would hold, plus the working tree's uncommitted edits."""
    names = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=ROOT,
                           capture_output=True, text=True, check=True).stdout.split("\0")
    for name in filter(None, names):
        if (ROOT / name).is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, dest / name)
    return dest


def timed(cmd: list[str], cwd: Path, env: dict, log) -> tuple[float, float, int]:
    """Run cmd; return (wall seconds, peak RSS in MB of it and its descendants, exit status)."""
    started = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=log, stderr=subprocess.STDOUT)
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)  # reaped here: keep Popen from waiting again
    return time.perf_counter() - started, usage.ru_maxrss / 1024, proc.returncode


def stage_names(repo: Path, env: dict) -> list[str]:
    out = subprocess.run([str(BIN / "dvc"), "stage", "list", "--name-only"], cwd=repo, env=env,
                         capture_output=True, text=True, check=True).stdout
    return out.split()


def epoch_seconds(repo: Path, experiment: str) -> float | None:
    rows = json.loads((repo / "plots" / "timing" / f"{experiment}.json").read_text())["epochs"]
    return float(rows[-1]["seconds"]) if rows else None


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=60_000, help="synthetic training images (test: 1/6 as many)")
    parser.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"], help="train.device")
    parser.add_argument("--json", type=Path, help="append the result here (default: bench/results/<device>.json; "
                        "a smaller or partial run is only written where --json says)")
    parser.add_argument("--experiments", nargs="+", help="only these experiments of params.yaml (default: all)")
    parser.add_argument("--keep", type=Path, help="run in this folder and keep it (default: a temporary one)")
    args = parser.parse_args(argv)
    if args.images < 600:
        parser.error("--images must be at least 600")

    from fmnist.device import resolve_device
    from fmnist.params_yaml import read_yaml

    device = resolve_device(args.device)
    work = Path(tempfile.mkdtemp(prefix="fmnist-pipeline-")) if args.keep is None else args.keep
    work.mkdir(parents=True, exist_ok=True)
    repo = copy_repo(work)
    params = read_yaml(repo / "params.yaml")  # as DVC reads it
    params["data"].update(dataset="synthetic", synthetic={"train": args.images, "test": args.images // 6, "seed": 0})
    params["prepare"]["val_size"] = args.images // 5
    params["train"].update(epoch_limit=1, device=args.device)
    if args.experiments:
        unknown = sorted(set(args.experiments) - set(params["experiments"]))
        if unknown:
            parser.error(f"unknown experiments {', '.join(unknown)}; params.yaml has {', '.join(params['experiments'])}")
        params["experiments"] = {k: v for k, v in params["experiments"].items() if k in args.experiments}
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}",
           "MLFLOW_TRACKING_URI": f"sqlite:///{repo}/mlflow.db", "GIT_AUTHOR_NAME": "bench",
           "GIT_AUTHOR_EMAIL": "bench@localhost", "GIT_COMMITTER_NAME": "bench",
           "GIT_COMMITTER_EMAIL": "bench@localhost"}
    env.pop("DVC_EXP_NAME", None)
    for cmd in (["git", "init", "-q"], ["git", "add", "-A"], ["git", "commit", "-qm", "bench"]):
        subprocess.run(cmd, cwd=repo, env=env, check=True, capture_output=True)

    result = {"benchmark": "pipeline",
              "timestamp": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
              "device": device.type, "machine": machine_info(device),
              # a smaller or partial run is a smoke run: kept out of docs/performance.md's table
              "quick": args.images != 60_000 or bool(args.experiments),
              "settings": {"images": args.images, "test_images": args.images // 6, "epochs": 1,
                           "experiments": list(params["experiments"]),
                           "env": {k: os.environ.get(k) for k in ("OMP_NUM_THREADS", "OMP_WAIT_POLICY")}},
              "stages": {}}
    print(f"{'stage':<30}{'wall s':>9}{'peak RSS MB':>13}{'epoch s':>9}", flush=True)
    with open(work / "pipeline.log", "w") as log:
        for name in stage_names(repo, env):
            wall, rss, status = timed([str(BIN / "dvc"), "repro", "--single-item", name], repo, env, log)
            if status != 0:
                log.flush()
                tail = (work / "pipeline.log").read_text()[-3000:]
                sys.exit(f"error: stage {name} failed (exit {status}); log in {work / 'pipeline.log'}:\n{tail}")
            row = {"wall_s": round(wall, 2), "peak_rss_mb": round(rss, 1)}
            if name.startswith("train@"):
                row["epoch_s"] = round(epoch_seconds(repo, name.split("@", 1)[1]), 2)
            result["stages"][name] = row
            epoch = f"{row['epoch_s']:>9.1f}" if "epoch_s" in row else ""
            print(f"{name:<30}{wall:>9.1f}{rss:>13,.0f}{epoch}", flush=True)
        noop, rss, status = timed([str(BIN / "dvc"), "repro"], repo, env, log)
    if status != 0:
        sys.exit(f"error: the no-op dvc repro failed (exit {status}); log in {work / 'pipeline.log'}")
    stages = result["stages"]
    prepare = [s for s in stages if s.startswith("prepare@")]
    result["summary"] = {
        "download_s": stages["download"]["wall_s"],
        "prepare_all_s": round(sum(stages[s]["wall_s"] for s in prepare), 2),
        "noop_repro_s": round(noop, 2),
        "max_peak_rss_mb": max(s["peak_rss_mb"] for s in stages.values()),
        "total_s": round(sum(s["wall_s"] for s in stages.values()), 1),
    }
    result["machine"]["load_after"] = load_average()
    print(f"{'no-op dvc repro':<30}{noop:>9.1f}")
    print(f"prepare, all {len(prepare)} variants: {result['summary']['prepare_all_s']:.1f} s; largest peak RSS "
          f"{result['summary']['max_peak_rss_mb']:,.0f} MB; all stages {result['summary']['total_s']:.0f} s")
    if args.keep is None:
        shutil.rmtree(work, ignore_errors=True)
    record(result, args.json)
    return result


if __name__ == "__main__":
    main()
