"""`tutor serve`: the tutor in a browser tab (textual-serve).

Every tab that opens the page gets its own tutor process, started with the same Python
as this server, the same ``tutor`` command line (ARGS) and the same data directory
(``$TUTOR_HOME`` is inherited); closing the tab ends that process. ``textual-serve`` is
an optional extra, imported only here.
"""

from __future__ import annotations

import errno
import os
import shlex
import socket
import subprocess
import sys
from pathlib import Path

INSTALL = 'pip install "transformer-tutor[web]"'
# Commands that only print: in a browser tab they would flash and end.
PRINTING = ("trace", "check", "lessons", "progress", "exercises", "serve")


class ServeError(Exception):
    """A one-line reason the tutor cannot be served as asked."""


def served_argv(rest: list[str], notes: Path | None) -> list[str]:
    """The command each tab runs: this Python's ``tutor`` with ARGS."""
    argv = [sys.executable, "-m", "tutor"]
    if notes is not None:
        argv += ["--notes", str(Path(notes).expanduser().resolve())]
    return argv + list(rest)


def shell_command(argv: list[str]) -> str:
    """textual-serve starts each tab's process through the shell: quote every word, and
    ``exec`` so that the tutor is the process (no shell left behind it)."""
    if os.name == "nt":  # pragma: no cover - cmd.exe
        return subprocess.list2cmdline(argv)
    return "exec " + shlex.join(argv)


def check_served(rest: list[str], parse) -> None:
    """Refuse ARGS that would not open the tutor, before any tab runs them.

    ``parse(argv)`` is the ``tutor`` command line's own parser: (namespace, lesson)."""
    served, lesson = parse(list(rest))
    if lesson is not None:
        from tutor.lessons.catalog import LessonNotFound
        from tutor.lessons.run import lesson_by_query

        try:
            lesson_by_query(lesson)
        except LessonNotFound as error:
            raise ServeError(str(error)) from None
        return
    command = served.command
    if command in PRINTING or (command == "train" and not served.ui) or (
            command == "torch" and served.trace) or (
            command == "exercise" and getattr(served, "check", None)):
        words = " ".join(rest)
        raise ServeError(f"`tutor {words}` prints in the terminal rather than opening the "
                         "tutor; serve the lesson list, a lesson, explore, decode, torch or "
                         "train --ui")


def check_address(host: str, port: int) -> None:
    """Bind ``host:port`` once, as the server will, so that a bad address is one line
    before anything starts (the server reports a later clash the same way)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM,
                                   flags=socket.AI_PASSIVE)
    except UnicodeError:
        raise ServeError(f"--host {host}: not a valid host name") from None
    except socket.gaierror as error:
        raise ServeError(f"--host {host}: no such host ({error.strerror})") from None
    for family, kind, proto, _, address in infos:
        with socket.socket(family, kind, proto) as probe:
            if os.name != "nt":
                probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind(address)
            except OSError as error:
                raise ServeError(address_error(host, port, error)) from None


def address_error(host: str, port: int, error: OSError) -> str:
    if error.errno == errno.EADDRINUSE:
        return f"--port {port}: already in use on {host}; choose another port"
    if error.errno == errno.EACCES:
        return f"--port {port}: not allowed for this user (ports below 1024 usually need root)"
    if error.errno == errno.EADDRNOTAVAIL:
        return f"--host {host}: not an address of this machine"
    return f"cannot listen on {host}:{port}: {error.strerror or error}"


def is_local(host: str) -> bool:
    """Is ``host`` reachable from this machine only (localhost, 127.x.y.z, ::1)?"""
    import ipaddress

    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def url(host: str, port: int) -> str:
    """The address to open; on every interface (0.0.0.0, ::) this machine's name, which
    other machines can use."""
    if host in ("0.0.0.0", "::"):
        host = socket.gethostname()
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}"


def run_serve(args, parse) -> int:
    """Serve ``tutor ARGS`` until Ctrl+C; 2 for a bad address or ARGS, 1 without the
    ``[web]`` extra. ``parse`` is the command line's own parser (see ``check_served``)."""
    try:
        from tutor.commands.serve_tabs import TutorServer
    except ModuleNotFoundError as error:
        if (error.name or "").split(".")[0] not in ("textual_serve", "aiohttp", "aiohttp_jinja2",
                                                    "jinja2"):
            raise
        print(f"tutor serve needs textual-serve: {INSTALL}", file=sys.stderr)
        return 1
    rest = list(args.served)
    try:
        check_served(rest, parse)
        check_address(args.host, args.port)
    except ServeError as error:
        print(f"tutor serve: {error}", file=sys.stderr)
        return 2
    if not is_local(args.host):
        print(f"tutor serve: listening on {args.host}, not only on this machine: anyone who "
              f"can reach port {args.port} can open the tutor, which runs as you",
              file=sys.stderr)
    # each tab's tutor quits if this server dies (even by SIGKILL, with no chance to say so)
    from tutor.ui.app import SERVED_BY
    os.environ[SERVED_BY] = str(os.getpid())
    words = " ".join(["tutor", *rest])
    server = TutorServer(shell_command(served_argv(rest, args.notes)), args.host, args.port,
                         title=words,
                         announce=f"tutor serve: `{words}` on {url(args.host, args.port)} "
                                  "(one tutor per browser tab; Ctrl+C stops)")
    try:
        server.serve()
    except OSError as error:
        print(f"tutor serve: {address_error(args.host, args.port, error)}", file=sys.stderr)
        return 2
    return 0
