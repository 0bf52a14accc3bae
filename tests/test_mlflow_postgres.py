"""A team server on PostgreSQL: Debian's PostgreSQL (installed when missing) runs a throwaway cluster on
127.0.0.1, a real `mlflow server` keeps its runs there, the train stage and evaluate log to that server,
and the run reads back through MLflow and is found in PostgreSQL's own tables."""

from __future__ import annotations

import contextlib
import json
import os
import pwd
import secrets
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from conftest import apt_install, free_port
from test_mlflow_server import Server, train_and_evaluate
from test_tracking import write_tiny_project

pytestmark = pytest.mark.slow
PG_ROOT = Path("/usr/lib/postgresql")  # Debian's layout: one bin folder per major version
PG_TOOLS = ("initdb", "pg_ctl", "postgres")
DB, USER = "mlflow", "mlflow_test"
PASSWORD = secrets.token_hex(16)  # per session: the cluster is reachable by anyone on this host's loopback


def debian_pg_bin() -> Path | None:
    """The bin folder of the newest installed Debian PostgreSQL that has initdb, pg_ctl and postgres."""
    def version(d: Path):
        return tuple(int(p) for p in d.parent.name.split(".") if p.isdigit())

    found = [d for d in PG_ROOT.glob("*/bin") if all((d / tool).is_file() for tool in PG_TOOLS)]
    return max(found, key=version, default=None)


def ensure_postgres() -> Path:
    """Debian's PostgreSQL server binaries, installed with apt-get when absent. Never a skip: a CI machine
    without them fails here, saying why."""
    bindir = debian_pg_bin()
    if bindir:
        return bindir
    apt_install("postgresql")
    bindir = debian_pg_bin()
    if bindir is None:
        pytest.fail(f"`apt-get install -y postgresql` succeeded but left no {'/'.join(PG_TOOLS)} in {PG_ROOT}/*/bin")
    return bindir


def run_pg(cmd, prefix, cwd, timeout=120) -> subprocess.CompletedProcess:
    proc = subprocess.run([*prefix, *map(str, cmd)], cwd=cwd, capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0:
        log = cwd / "postgres.log"
        raise AssertionError(f"{' '.join(map(str, cmd))} failed ({proc.returncode}):\n{proc.stdout[-2000:]}\n"
                             f"{proc.stderr[-2000:]}\n{log.read_text()[-2000:] if log.exists() else ''}")
    return proc


def stop_cluster(bindir: Path, data: Path, prefix, cwd) -> None:
    """`pg_ctl stop -m immediate`; if that cannot run, the same signal (SIGQUIT) to the postmaster named in
    postmaster.pid. Then wait until it is gone: a leftover server would outlive the test session."""
    with contextlib.suppress(OSError, subprocess.TimeoutExpired):
        subprocess.run([*prefix, str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop"],
                       cwd=cwd, capture_output=True, timeout=60)
    try:
        pid = int((data / "postmaster.pid").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return  # no pid file: not running (pg_ctl removes it once the server is down)

    def ours() -> bool:  # alive, not a zombie, and still this cluster's postmaster (not a reused pid)
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
            return state != "Z" and str(data) in Path(f"/proc/{pid}/cmdline").read_text()
        except (OSError, IndexError):
            return False

    with contextlib.suppress(ProcessLookupError):
        if ours():
            os.kill(pid, signal.SIGQUIT)
        deadline = time.monotonic() + 30
        while ours() and time.monotonic() < deadline:
            time.sleep(0.2)
        if ours():
            os.kill(pid, signal.SIGKILL)


@pytest.fixture(scope="module")
def postgres(tmp_path_factory):
    """A throwaway cluster on 127.0.0.1 only, with database `mlflow` owned by a user with a password;
    stopped at the end whatever happened."""
    import psycopg2

    bindir = ensure_postgres()
    prefix = []
    if os.geteuid() == 0:
        # PostgreSQL refuses to run as root: the package's `postgres` user runs it. That user cannot reach a
        # pytest tmp dir here: /tmp/pytest-of-root is 0700, and every pytest session started meanwhile resets
        # it to 0700, so the cluster lives in its own folder of the system temp dir, owned by `postgres`.
        try:
            owner = pwd.getpwnam("postgres")
        except KeyError:
            pytest.fail("the PostgreSQL package is installed but the `postgres` user is missing")
        folder = Path(tempfile.mkdtemp(prefix="fmnist-pg-"))
        os.chown(folder, owner.pw_uid, owner.pw_gid)
        prefix = ["runuser", "-u", "postgres", "--"]
    else:
        folder = tmp_path_factory.mktemp("pg")
    data, sockets = folder / "data", folder / "s"
    assert len(str(sockets)) < 90, f"unix socket path too long for PostgreSQL: {sockets}"  # sun_path: 107 bytes
    port = free_port()
    try:
        # Trust only on the unix socket, which sits in the 0700 folder; TCP needs the password.
        run_pg([bindir / "initdb", "-D", data, "-U", "postgres", "-E", "UTF8", "--locale=C", "--no-sync",
                "--auth-local=trust", "--auth-host=scram-sha-256"], prefix, folder)
        sockets.mkdir()
        if prefix:
            os.chown(sockets, owner.pw_uid, owner.pw_gid)
        with open(data / "postgresql.conf", "a") as conf:
            conf.write(f"listen_addresses = '127.0.0.1'\nport = {port}\nunix_socket_directories = '{sockets}'\n"
                       # Throwaway data: durability costs time and buys nothing here.
                       "fsync = off\nsynchronous_commit = off\nfull_page_writes = off\n")
        run_pg([bindir / "pg_ctl", "-D", data, "-l", folder / "postgres.log", "-w", "-t", "90", "start"],
               prefix, folder, timeout=120)
        with contextlib.closing(psycopg2.connect(host=str(sockets), port=port, user="postgres",
                                                 dbname="postgres")) as conn:
            conn.autocommit = True  # CREATE DATABASE refuses to run inside a transaction
            with conn.cursor() as cur:
                cur.execute(f"CREATE ROLE {USER} LOGIN PASSWORD %s", (PASSWORD,))
                cur.execute(f"CREATE DATABASE {DB} OWNER {USER}")
        # The driver is named: SQLAlchemy >= 2.1 reads a bare postgresql:// as psycopg 3, which is not installed.
        yield {"port": port, "folder": folder,
               "uri": f"postgresql+psycopg2://{USER}:{PASSWORD}@127.0.0.1:{port}/{DB}"}
    finally:
        stop_cluster(bindir, data, prefix, folder)
        if prefix:
            shutil.rmtree(folder, ignore_errors=True)


def connect(postgres):
    """As the MLflow user, over TCP with its password: the way the MLflow server connects."""
    import psycopg2

    return contextlib.closing(psycopg2.connect(host="127.0.0.1", port=postgres["port"], user=USER,
                                               password=PASSWORD, dbname=DB))


@pytest.fixture(scope="module")
def tracked(postgres, tmp_path_factory):
    """The tiny project trained by the real stage script and evaluated against a server on PostgreSQL."""
    root = tmp_path_factory.mktemp("pg-project")
    write_tiny_project(root, {"tiny": {}})
    server = Server(tmp_path_factory.mktemp("pg-server"), free_port(), backend_uri=postgres["uri"])
    try:
        server.start()  # creates MLflow's tables in the empty database
        with train_and_evaluate(root, server.uri) as (stage, logged):
            record = json.loads((root / "models/tiny.run.json").read_text())
            yield {"root": root, "server": server, "stage": stage, "logged": logged, "record": record}
    finally:
        server.stop()


def test_the_run_reads_back_through_the_server(tracked):
    from mlflow import MlflowClient

    client = MlflowClient(tracked["server"].uri)
    record = tracked["record"]
    assert tracked["logged"] is True and "warning" not in tracked["stage"].stderr
    assert record["status"] == "logged" and record["tracking_uri"] == tracked["server"].uri
    run = client.get_run(record["run_id"])
    assert run.info.run_name == "tiny" and run.info.status == "FINISHED"
    assert client.get_experiment(run.info.experiment_id).name == "fmnist-test"
    for key in ("train_loss", "val_loss", "val_acc"):
        assert [m.step for m in client.get_metric_history(run.info.run_id, key)] == [1, 2], key
    expected = json.loads((tracked["root"] / "metrics/tiny.json").read_text())
    assert run.data.metrics["test_accuracy"] == pytest.approx(expected["test_accuracy"])
    assert "macro_f1" in run.data.metrics
    assert client.get_model_version_by_alias("fmnist-tiny", "champion").run_id == run.info.run_id


def test_artifacts_and_the_model_land_in_the_artifact_folder(tracked):
    from mlflow import MlflowClient

    client = MlflowClient(tracked["server"].uri)
    run = client.get_run(tracked["record"]["run_id"])
    store = tracked["server"].folder / "artifacts"
    # The server proxies artifacts: mlflow-artifacts:/<experiment>/<run>/artifacts maps onto its folder.
    run_dir = store / run.info.experiment_id / run.info.run_id / "artifacts"
    assert (run_dir / "training/tiny.csv").is_file() and (run_dir / "training/loss_curve.png").is_file()
    assert any((run_dir / "evaluation").iterdir())
    model_id = run.data.tags["model.uri"].removeprefix("models:/")
    mlmodels = [p for p in store.rglob("MLmodel") if model_id in p.parts]
    assert mlmodels, f"no MLmodel of {model_id} under {store}"
    assert "pt2" in mlmodels[0].read_text() or any(mlmodels[0].parent.rglob("*.pt2"))


def test_the_run_lives_in_postgresql(tracked, postgres):
    run_id = tracked["record"]["run_id"]
    with connect(postgres) as conn, conn.cursor() as cur:
        cur.execute("SHOW listen_addresses")
        assert cur.fetchone() == ("127.0.0.1",)
        cur.execute("SELECT name, status FROM runs WHERE run_uuid = %s", (run_id,))
        assert cur.fetchall() == [("tiny", "FINISHED")]
        cur.execute("SELECT step FROM metrics WHERE run_uuid = %s AND key = 'val_loss' ORDER BY step", (run_id,))
        assert cur.fetchall() == [(1,), (2,)]
        cur.execute("SELECT key FROM metrics WHERE run_uuid = %s AND key = 'test_accuracy'", (run_id,))
        assert cur.fetchall() == [("test_accuracy",)]
        cur.execute("SELECT version FROM model_versions WHERE name = 'fmnist-tiny' AND run_id = %s", (run_id,))
        assert cur.fetchall() == [(1,)]
    # Nothing fell back to a sqlite file next to the project or the server.
    assert not list(tracked["root"].glob("*.db")) and not list(tracked["server"].folder.glob("*.db"))
