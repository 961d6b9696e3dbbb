"""A dbt that has already started: dbt's imports done once per run, ahead of its first command.

Every dbt command is a new Python process, and about three seconds of it go by before dbt does
anything (its imports: dbt-core, its artifact schemas, the adapter and the database driver),
plus half a second at exit while Python tears down those modules. A one-image sensor batch runs
one ``dbt build`` of about nine seconds, a third of it this fixed cost (``benchmarks/README.md``).

The dbt resource starts a **warm dbt** when a run initialises it (``WarmDbt.start``, at run
start, so its imports overlap the catalog and hashing steps on the other core): a process that
imports dbt and the adapter, then waits on a Unix socket for commands. Each command is served by
a fork of that process: the fork takes over the caller's standard streams (passed over the
socket), its working directory, environment and arguments, runs dbt's own command-line entry
point exactly as the ``dbt`` script does, reports the exit code and ends without the teardown.

dagster-dbt starts dbt as ``[dbt_executable, *args]`` and reads its standard output. The
resource's ``dbt_executable`` is a small launcher (``launcher``: standard library only) that hands
its streams, arguments, working directory and environment to the warm dbt of the process that
started it (its parent: the run's process), relays SIGINT/SIGTERM to the fork (a cancelled run
cancels dbt as before), and exits with dbt's exit code. When there is no warm dbt for its parent
(a ``dbt parse`` while the code location loads, a step in a process that never initialised the
resource, a warm dbt that died) it replaces itself with the real dbt: the same command, started
cold. Nothing runs twice: a fork runs dbt only after the launcher has confirmed, and a launcher
that gave up waiting falls back only after the fork can no longer start.

Each run has its own warm dbt, started and stopped with the run's resources; it exits with the
run's process if that dies without stopping it. Forking a process that has only imported dbt
(no connection open, no thread running) gives each command the fresh state of a new dbt process.
"""

import argparse
import importlib
import json
import os
import select
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

# Unix socket paths are limited to about 100 bytes: the sockets live in the temporary folder,
# one per process that started a warm dbt, named by its pid.
SOCKET_DIR_NAME = f"image-platform-warm-dbt-{os.getuid()}"
# How long a launcher waits for a warm dbt to take its command (the warm dbt may still be
# importing, slower under load) before it starts the real dbt itself.
ACCEPT_TIMEOUT_SECONDS = 120.0
# How long a fork whose launcher vanished (killed) waits for dbt to stop after SIGINT.
ORPHAN_GRACE_SECONDS = 60.0


def socket_dir() -> Path:
    """The folder of the warm dbts' sockets (this user's, in the temporary folder)."""
    return Path(tempfile.gettempdir()) / SOCKET_DIR_NAME


def socket_path(pid: int, folder: Path | None = None) -> Path:
    """Where the warm dbt started by process ``pid`` listens."""
    return (folder or socket_dir()) / f"{pid}.sock"


def log_path(socket: Path) -> Path:
    """The warm dbt's own log: one line per command served (removed by ``WarmDbt.stop``)."""
    return socket.with_suffix(".log")


# The launcher: standard library only, so that it starts in a few milliseconds. Its shebang is
# the interpreter of this environment; the real dbt and the socket folder are written in.
_LAUNCHER = """#!{python} -I
# Written by image-platform (resources/warm_dbt.py): runs this dbt command in the warm dbt of the
# process that started it, or starts {dbt} when there is none.
import json, os, signal, socket, sys

REAL_DBT = {dbt!r}
SOCKET = os.path.join({folder!r}, "%d.sock" % os.getppid())


def cold():
    os.execv(REAL_DBT, [REAL_DBT, *sys.argv[1:]])


def lines(conn):
    buffer = b""
    while True:
        chunk = conn.recv(4096)
        if not chunk:
            return
        buffer += chunk
        while b"\\n" in buffer:
            line, buffer = buffer.split(b"\\n", 1)
            yield line.decode()


conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
try:
    if os.stat(os.path.dirname(SOCKET)).st_uid != os.getuid():
        raise OSError("the warm dbt folder belongs to another user")
    conn.connect(SOCKET)
    request = {{"argv": sys.argv[1:], "cwd": os.getcwd(), "env": dict(os.environ)}}
    socket.send_fds(conn, [json.dumps(request).encode() + b"\\n"], [0, 1, 2])
    conn.settimeout({timeout})
    replies = lines(conn)
    reply = next(replies, "")
except (OSError, StopIteration):
    reply = ""
if not reply.startswith("pid "):
    conn.close()  # a fork that has not been told to go ends without running dbt
    cold()
pid = int(reply.split()[1])
for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
    signal.signal(sig, lambda number, frame: os.kill(pid, number))
conn.settimeout(None)
conn.sendall(b"go\\n")
for line in replies:
    if line.startswith("exit "):
        sys.exit(int(line.split()[1]))
sys.stderr.write("warm dbt (pid %d) ended without an exit code\\n" % pid)
sys.exit(1)
"""


def write_launcher(folder: Path, real_dbt: str) -> Path:
    """The launcher for ``real_dbt`` under ``folder`` (written when missing or different)."""
    text = _LAUNCHER.format(
        python=sys.executable,
        dbt=real_dbt,
        folder=str(socket_dir()),
        timeout=ACCEPT_TIMEOUT_SECONDS,
    )
    path = folder / "dbt"
    if not path.is_file() or path.read_text(encoding="utf-8") != text:
        folder.mkdir(parents=True, exist_ok=True)
        staged = path.with_name(f"dbt.{os.getpid()}.{threading.get_ident()}.tmp")
        staged.write_text(text, encoding="utf-8")
        staged.chmod(0o755)
        os.replace(staged, path)
    return path


def sweep_stale(folder: Path) -> list[Path]:
    """Remove the sockets and logs of processes that no longer exist (a run worker killed before
    it could stop its warm dbt leaves both behind); returns what was removed. Files of live
    processes, and names that are not ``<pid>.sock`` / ``<pid>.log``, are left alone."""
    removed = []
    for path in folder.glob("*.*"):
        if path.suffix not in (".sock", ".log") or not path.stem.isdigit():
            continue
        if _process_exists(int(path.stem)):
            continue
        path.unlink(missing_ok=True)
        removed.append(path)
    return removed


def _process_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's process holds the pid
    return True


def _alive(path: Path) -> bool:
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        probe.connect(str(path))
    except OSError:
        return False
    finally:
        probe.close()
    return True


class WarmDbt:
    """The warm dbt of this process (see the module docstring); ``stop`` ends it."""

    def __init__(self, process: subprocess.Popen, path: Path):
        self.process = process
        self.path = path

    @classmethod
    def start(cls, adapter: str | None) -> "WarmDbt | None":
        """Start this process's warm dbt, preloading ``adapter`` (e.g. ``duckdb``); None when
        one is already running for this process (another resource started it)."""
        folder = socket_dir()
        folder.mkdir(mode=0o700, exist_ok=True)
        if folder.stat().st_uid != os.getuid():
            return None  # not ours: commands run cold rather than through someone else's socket
        sweep_stale(folder)
        path = socket_path(os.getpid(), folder)
        if path.exists():
            if _alive(path):
                return None
            path.unlink(missing_ok=True)  # left by an earlier process with the same pid
        # Listening from here on: a launcher that comes while the warm dbt still imports waits
        # in the socket's queue instead of starting dbt cold.
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        staged = path.with_name(f"{path.name}.{os.getpid()}.tmp")
        try:
            listener.bind(str(staged))
            listener.listen(16)
            os.replace(staged, path)
            command = [sys.executable, "-u", "-m", "resources.warm_dbt", str(listener.fileno())]
            if adapter:
                command += ["--adapter", adapter]
            with open(log_path(path), "ab") as log:
                process = subprocess.Popen(
                    command,
                    cwd=Path(__file__).resolve().parents[1],  # where `resources` is importable
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=log,
                    pass_fds=(listener.fileno(),),
                    # In the run's process group, as a cold dbt is: whatever signals or kills the
                    # group (Ctrl-C, a supervisor) reaches the warm dbt and its command as well.
                )
        except BaseException:
            path.unlink(missing_ok=True)
            raise
        finally:
            listener.close()
            staged.unlink(missing_ok=True)
        return cls(process, path)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.path.unlink(missing_ok=True)
        log_path(self.path).unlink(missing_ok=True)


def _read_request(conn: socket.socket) -> tuple[dict | None, list[int]]:
    data, fds, _flags, _address = socket.recv_fds(conn, 1 << 20, 3)
    while data and not data.endswith(b"\n"):
        chunk = conn.recv(1 << 20)
        if not chunk:
            raise ConnectionError("the launcher closed the connection mid-request")
        data += chunk
    return (json.loads(data) if data else None), fds


def _take_over(conn: socket.socket) -> list[str] | None:
    """In a fork: take the launcher's streams, directory and environment; its dbt arguments, or
    None when the launcher gave up waiting (it then starts dbt itself)."""
    request, fds = _read_request(conn)
    if request is None:
        return None  # a probe (WarmDbt.start checking that the socket is served)
    if len(fds) != 3:
        raise ConnectionError(f"expected 3 standard streams, got {len(fds)}")
    conn.sendall(f"pid {os.getpid()}\n".encode())
    if conn.makefile("rb").readline() != b"go\n":
        return None
    for target, fd in enumerate(fds):
        os.dup2(fd, target)
        os.close(fd)
    os.chdir(request["cwd"])
    os.environ.clear()
    os.environ.update(request["env"])
    return [str(arg) for arg in request["argv"]]


def _run_dbt(argv: list[str], conn: socket.socket) -> int:
    """Run dbt's own command-line entry point, as the ``dbt`` script does; its exit code."""

    def watch_launcher() -> None:
        # The launcher only waits for the exit code: end of stream means it was killed.
        if not conn.recv(1):
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(ORPHAN_GRACE_SECONDS)
            os._exit(130)

    threading.Thread(target=watch_launcher, daemon=True).start()
    from dbt.cli.main import cli

    sys.argv = ["dbt", *argv]
    try:
        cli()  # ends with SystemExit(code)
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except KeyboardInterrupt:
        return 130
    return 0


def _run_fork(conn: socket.socket, log: int) -> None:
    code, argv = 1, None
    try:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        argv = _take_over(conn)
        code = 0 if argv is None else _run_dbt(argv, conn)
    except BaseException as exc:  # the launcher's stderr shows it; the launcher exits 1
        _write(2, f"warm dbt: {exc!r}\n")
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # dbt is done: nothing left to interrupt
        if argv is not None:
            command = argv[0] if argv else ""
            _write(log, f"{time.strftime('%H:%M:%S')} pid {os.getpid()}: dbt {command} -> {code}\n")
        # What a normal exit runs (dbt's atexit hooks, flushed streams), without tearing down
        # every module of dbt one by one: half a second at the end of each command.
        try:
            import atexit

            atexit._run_exitfuncs()
            sys.stdout.flush()
            sys.stderr.flush()
            conn.sendall(f"exit {code}\n".encode())
        except (OSError, ValueError):
            pass
        os._exit(code)


def _write(fd: int, text: str) -> None:
    try:
        os.write(fd, text.encode())
    except OSError:
        pass


# How much lower than the run's own threads dbt's imports run (added to the niceness): the warm
# dbt starts with the run, while the catalog and hashing steps keep every core busy; its imports
# take only the CPU time those steps leave, instead of a core's share of it.
IMPORT_NICENESS = 10


def _import_dbt(adapter: str | None) -> None:
    """Import dbt and the adapter in a thread of lower priority (niceness is per thread on
    Linux), so the commands, forked from the main thread, run at the run's own priority."""
    failed: list[BaseException] = []

    def load() -> None:
        try:
            try:
                me = threading.get_native_id()
                nice = os.getpriority(os.PRIO_PROCESS, me) + IMPORT_NICENESS
                os.setpriority(os.PRIO_PROCESS, me, min(19, nice))
            except (AttributeError, OSError):
                pass  # not Linux, or not allowed: import at the run's priority
            importlib.import_module("dbt.cli.main")
            if adapter:
                importlib.import_module(f"dbt.adapters.{adapter}")
        except BaseException as exc:
            failed.append(exc)

    importer = threading.Thread(target=load, name="import-dbt", daemon=True)
    importer.start()
    importer.join()
    if failed:
        raise failed[0]


def serve(listener: socket.socket, adapter: str | None, parent: int) -> None:
    """Import dbt, then fork once per command accepted on ``listener`` until ``parent`` is gone
    or SIGTERM arrives."""
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        log = os.dup(2)  # the forks' stderr becomes the launcher's; their log lines go here
        _import_dbt(adapter)
        while os.getppid() == parent:
            ready, _, _ = select.select([listener], [], [], 1.0)
            _reap()
            if not ready:
                continue
            conn, _ = listener.accept()
            if os.fork() == 0:
                listener.close()
                _run_fork(conn, log)
            conn.close()
    finally:
        listener.close()


def _reap() -> None:
    try:
        while os.waitpid(-1, os.WNOHANG)[0]:
            pass
    except ChildProcessError:
        pass


def main() -> None:
    """``python -m resources.warm_dbt FD [--adapter NAME]``: serve on an inherited socket."""
    parser = argparse.ArgumentParser(description="A warm dbt (see resources/warm_dbt.py).")
    parser.add_argument("listener", type=int, help="descriptor of the listening Unix socket")
    parser.add_argument("--adapter")
    args = parser.parse_args()
    serve(socket.socket(fileno=args.listener), args.adapter, os.getppid())


if __name__ == "__main__":
    main()
