"""Background processes of the dev tooling (``make up``'s Airflow services, ``make bi``'s Superset), one way.

A ``Processes`` is a folder and the words that mark its processes. Each process has a name, and beside it
``<name>.pid`` (its pid, which is also its process group's id) and ``<name>.log`` (its output, 0600)::

    procs = Processes(folder, marks=("airflow",))
    with procs.lock():                       # one start or stop at a time
        if procs.running("scheduler") is None:
            procs.start("scheduler", argv, env)
    procs.wait("api-server", ready, timeout=180, what="/health")   # fails early if it exits; tail of its log
    procs.stop("scheduler", "api-server")    # SIGTERM to each group, SIGKILL after the grace period

A pid file outlives its process and the system hands pids out again, so a pid counts as ours only if the
process started before its pid file was written and its command line holds one of ``marks``. Each process
starts in a session and group of its own, so a stop reaches the children it forked; children its leader
left behind when it died count if they started after the pid file and carry a mark.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import psutil

from halfsky.config.private_files import PRIVATE_FILE

T = TypeVar("T")
HOST = "127.0.0.1"
# What the processes write (Airflow's task logs, Cosmos' cache, dbt's files, quarantined drops and reports on
# a local disk, Superset's files) is the account's own: Airflow's `daemon_umask` (077) applies only to
# `--daemon`, which nothing here uses.
UMASK = 0o077


class ProcessError(RuntimeError):
    pass


def port_taken(port: int, host: str = HOST) -> bool:
    """Something listens on ``host:port``."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(1)
        return sock.connect_ex((host, port)) == 0


def tail(path: Path, lines: int = 30) -> str:
    """The last ``lines`` lines of a log ("" if there is none)."""
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


@dataclass(frozen=True)
class Processes:
    folder: Path
    # Words of which a process of ours has at least one in its command line (its own, or the title it set).
    marks: tuple[str, ...]

    def pid_file(self, name: str) -> Path:
        return self.folder / f"{name}.pid"

    def log_file(self, name: str) -> Path:
        return self.folder / f"{name}.log"

    def tail(self, name: str, lines: int = 30) -> str:
        return tail(self.log_file(name), lines)

    def _marked(self, proc: psutil.Process, cmdline: list[str] | None = None) -> bool:
        """``proc`` carries a mark. A process that renames itself (Celery's "[celeryd: …]", gunicorn's
        "gunicorn: master") shows a half-written title for a moment: an unmarked one is read again."""
        for attempt in range(4):
            if attempt:
                time.sleep(0.1)
                cmdline = proc.cmdline()
            if any(word in " ".join(cmdline or []) for word in self.marks):
                return True
        return False

    @contextlib.contextmanager
    def lock(self) -> Iterator[None]:
        """One start or stop at a time in this folder, so two at once never start two of anything."""
        with open(self.folder / ".lock", "w") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)

    def start(self, name: str, argv: list[str], env: dict[str, str], cwd: Path | None = None) -> int:
        """Start ``argv`` in the background, its output appended to ``<name>.log``; returns its pid."""
        fd = os.open(self.log_file(name), os.O_WRONLY | os.O_CREAT | os.O_APPEND | getattr(os, "O_NOFOLLOW", 0),
                     PRIVATE_FILE)
        os.fchmod(fd, PRIVATE_FILE)
        with os.fdopen(fd, "ab") as log:
            log.write(f"\n--- {time.strftime('%Y-%m-%d %H:%M:%S')} halfsky: starting {' '.join(argv)}\n".encode())
            log.flush()
            # Its own session and process group: `stop` signals the group, so every child goes with it.
            proc = subprocess.Popen(argv, env=env, cwd=cwd, stdin=subprocess.DEVNULL, stdout=log,
                                    stderr=subprocess.STDOUT, start_new_session=True, umask=UMASK)
        self.pid_file(name).write_text(f"{proc.pid}\n")
        return proc.pid

    def running(self, name: str) -> int | None:
        """The pid of ``name`` if the process its pid file names is alive and is the one ``start`` started."""
        path = self.pid_file(name)
        try:
            pid = int(path.read_text().strip())
            proc = psutil.Process(pid)
            alive = proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE
            # A pid handed to another program since: that program started after the pid file was written.
            ours = proc.create_time() <= path.stat().st_mtime + 1 and self._marked(proc, proc.cmdline())
        except (OSError, ValueError, psutil.Error):
            return None
        return pid if alive and ours else None

    def _group(self, name: str) -> tuple[int | None, list[psutil.Process]]:
        """The process group ``start`` made for ``name``: its id and its live members ([] when gone).

        The leader counts if it is older than the pid file; other members (workers, a child the leader left
        behind when it died) if they are younger; each must carry a mark, so a stale pid file never names
        someone else's processes.
        """
        path = self.pid_file(name)
        try:
            pgid = int(path.read_text().strip())
            written = path.stat().st_mtime
        except (OSError, ValueError):
            return None, []
        members = []
        for proc in psutil.process_iter(["create_time", "cmdline", "status"]):
            try:
                if proc.info["status"] == psutil.STATUS_ZOMBIE or os.getpgid(proc.pid) != pgid:
                    continue
            except OSError:
                continue
            if proc.pid == pgid:
                in_time = proc.info["create_time"] <= written + 1
            else:
                in_time = proc.info["create_time"] >= written - 5
            with contextlib.suppress(psutil.Error):
                if in_time and self._marked(proc, proc.info["cmdline"]):
                    members.append(proc)
        return pgid, members

    @staticmethod
    def _group_alive(pgid: int) -> bool:
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        # Only zombies left (a leader its parent has not reaped yet)?
        for proc in psutil.process_iter(["status"]):
            try:
                if proc.info["status"] != psutil.STATUS_ZOMBIE and os.getpgid(proc.pid) == pgid:
                    return True
            except OSError:
                pass
        return False

    def stop(self, *names: str, timeout: float = 30.0) -> list[str]:
        """SIGTERM each process group ``start`` made, all at once; SIGKILL what is left after ``timeout``
        seconds. Removes the pid files; returns the names that had processes."""
        now = time.monotonic()
        deadlines = {}
        for name in names:
            pgid, members = self._group(name)
            self.pid_file(name).unlink(missing_ok=True)
            if not members:
                continue
            if any(proc.pid == pgid for proc in members):
                deadlines[name] = (pgid, now + timeout)
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(pgid, signal.SIGTERM)
            else:  # the leader died and left these (LocalExecutor workers wait for it, not for SIGTERM)
                deadlines[name] = (pgid, now + 5)
                for proc in members:
                    with contextlib.suppress(psutil.Error):
                        proc.terminate()
        waiting = dict(deadlines)
        killed: dict[str, float] = {}
        while waiting:
            for name, (pgid, deadline) in list(waiting.items()):
                with contextlib.suppress(ChildProcessError, OSError):
                    os.waitpid(pgid, os.WNOHANG)  # reap it if this process started it (tests, a failed start)
                if not self._group_alive(pgid):
                    del waiting[name]
                elif name not in killed and time.monotonic() > deadline:
                    with contextlib.suppress(ProcessLookupError):
                        os.killpg(pgid, signal.SIGKILL)
                    killed[name] = time.monotonic()
                    print(f"halfsky: {name} did not stop within {deadline - now:.0f} s; killed", file=sys.stderr)
                elif name in killed and time.monotonic() > killed[name] + 10:
                    raise ProcessError(f"{name}: processes of group {pgid} survive SIGKILL")
            if waiting:
                time.sleep(0.3)
        return list(deadlines)

    def wait(self, names: str | Iterable[str], ready: Callable[[], T | None], timeout: float, what: str,
             interval: float = 1.0) -> T:
        """Poll ``ready()`` until it answers (not None or False) and return that; ProcessError, with the end of
        the log, as soon as one of ``names`` exits, or when ``timeout`` seconds pass (the first name's log)."""
        names = [names] if isinstance(names, str) else list(names)
        deadline = time.monotonic() + timeout
        while True:
            for name in names:
                if self.running(name) is None:
                    raise ProcessError(f"{name} exited; the end of {self.log_file(name)}:\n{self.tail(name)}")
            answer = ready()
            if answer is not None and answer is not False:
                return answer
            if time.monotonic() > deadline:
                raise ProcessError(f"{what}: no answer within {timeout:.0f} s; the end of "
                                   f"{self.log_file(names[0])}:\n{self.tail(names[0])}")
            time.sleep(interval)

    def wait_for_port(self, name: str, port: int, timeout: float, host: str = HOST) -> None:
        """Until ``name`` listens on ``host:port``."""
        self.wait(name, lambda: port_taken(port, host), timeout, f"{name} on {host}:{port}", interval=0.5)
