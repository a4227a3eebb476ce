"""`tutor serve` without a browser: its one-line refusals, the command each tab runs, where
it listens, and one tutor process per open tab, ended with the tab or with the server
(tabs opened here as plain websockets, as textual-serve's page opens them)."""

from __future__ import annotations

import asyncio
import os
import shlex
import signal
import socket
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from tests.tutor.commands.serving import WAIT, Served, alive, free_port, wait_until
from tutor.cli import main
from tutor.commands.serve import is_local, served_argv, shell_command

INSTALL = 'pip install "transformer-tutor[web]"'
on_linux = pytest.mark.skipif(not Path("/proc/self/stat").exists(),
                              reason="counts processes through Linux's /proc")


def one_line_exit(capsys, argv: list[str]) -> tuple[int, str]:
    """Run ``tutor ARGV``; its exit status and its only line of error output."""
    try:
        code = main(argv)
    except SystemExit as exit_:
        code = exit_.code
    captured = capsys.readouterr()
    lines = captured.err.splitlines()
    assert len(lines) == 1 and not captured.out, captured
    return code, lines[0]


@pytest.mark.parametrize("options,names", [
    (["--port", "0"], "--port"),
    (["--port", "65536"], "--port"),
    (["--port", "eighty"], "--port"),
    (["--host", "192.0.2.1"], "--host 192.0.2.1"),  # a documentation address, not ours
    (["--host", "bad..name"], "--host bad..name"),
])
def test_a_bad_port_or_host_is_one_line_and_exit_2(capsys, options, names):
    pytest.importorskip("textual_serve")
    port = [] if "--port" in options else ["--port", str(free_port())]
    code, line = one_line_exit(capsys, ["serve", *options, *port])
    assert code == 2 and names in line


def test_a_port_in_use_is_one_line_and_exit_2(capsys):
    pytest.importorskip("textual_serve")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        code, line = one_line_exit(capsys, ["serve", "--port", str(port)])
    assert code == 2 and f"--port {port}" in line and "in use" in line


@pytest.mark.parametrize("served", [["trace"], ["lessons"], ["train"], ["serve"], ["99"],
                                    ["explore", "--seed", "-1"]])
def test_args_that_would_not_open_the_tutor_are_refused_first(capsys, served):
    pytest.importorskip("textual_serve")
    code, line = one_line_exit(capsys, ["serve", "--port", str(free_port()), *served])
    assert code == 2 and line.startswith("tutor")


def test_without_the_web_extra_it_names_the_install_command(capsys, monkeypatch):
    monkeypatch.delitem(sys.modules, "tutor.commands.serve_tabs", raising=False)
    monkeypatch.setitem(sys.modules, "textual_serve", None)
    monkeypatch.setitem(sys.modules, "textual_serve.server", None)
    monkeypatch.setitem(sys.modules, "textual_serve.app_service", None)
    code, line = one_line_exit(capsys, ["serve"])
    assert code == 1 and INSTALL in line


def test_each_tab_runs_this_pythons_tutor_with_the_args(tmp_path):
    notes = tmp_path / "my notes 'n' $HOME.md"
    argv = served_argv(["explore", "--src", "3,1 4"], notes)
    assert argv == [sys.executable, "-m", "tutor", "--notes", str(notes.resolve()),
                    "explore", "--src", "3,1 4"]
    assert shlex.split(shell_command(argv)) == ["exec", *argv]
    # What a tab's shell makes of it: the same `tutor` entry point, run.
    version = subprocess.run(shell_command(served_argv(["--version"], None)), shell=True,
                             capture_output=True, text=True, timeout=WAIT)
    assert version.returncode == 0 and version.stdout.startswith("transformer-tutor ")


@pytest.mark.parametrize("host,local", [
    ("127.0.0.1", True), ("localhost", True), ("::1", True), ("127.0.0.2", True),
    ("0.0.0.0", False), ("::", False), ("192.168.1.20", False), ("classroom.example", False),
])
def test_only_this_machines_own_addresses_pass_without_a_warning(host, local):
    assert is_local(host) is local


def listening_on(port: int) -> set[str]:
    """The local addresses (hex, as in /proc/net/tcp*) listening on ``port``."""
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            rows = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for row in rows:
            local, state = row.split()[1], row.split()[3]
            address, hex_port = local.split(":")
            if state == "0A" and int(hex_port, 16) == port:
                found.add(address)
    return found


@on_linux
def test_it_prints_the_url_and_listens_on_this_machine_only(tmp_path):
    pytest.importorskip("textual_serve")
    served = Served(tmp_path)
    try:
        assert f"http://127.0.0.1:{served.port}" in served.out[0]
        assert listening_on(served.port) == {"0100007F"}  # 127.0.0.1, little-endian hex
        assert served.err == []
    finally:
        assert served.stop() == 0


@on_linux
def test_another_host_is_said_out_loud(tmp_path):
    pytest.importorskip("textual_serve")
    served = Served(tmp_path, host="0.0.0.0")
    try:
        wait_until(lambda: served.err, "the warning")
        assert "0.0.0.0" in served.err[0] and "anyone" in served.err[0]
        assert f"http://{socket.gethostname()}:{served.port}" in served.out[0]
    finally:
        assert served.stop() == 0


def test_the_page_reaches_back_to_the_address_the_browser_used(tmp_path):
    pytest.importorskip("textual_serve")
    served = Served(tmp_path)
    try:
        request = urllib.request.Request(served.url, headers={"Host": "classroom.test:8123"})
        with urllib.request.urlopen(request, timeout=WAIT) as page:
            html = page.read().decode()
        assert 'data-session-websocket-url="ws://classroom.test:8123/ws"' in html
    finally:
        assert served.stop() == 0


async def open_tab(session, served: Served):
    """A tab as the page opens it: a websocket to /ws; returns after the tutor's first
    bytes of screen arrive."""
    import aiohttp

    socket_ = await session.ws_connect(f"ws://127.0.0.1:{served.port}/ws?width=100&height=30")
    message = await socket_.receive(timeout=WAIT)
    assert message.type == aiohttp.WSMsgType.BINARY and message.data
    return socket_


async def read_all(tab) -> None:
    async for _ in tab:
        pass


@on_linux
def test_each_tab_gets_a_tutor_that_ends_with_the_tab(tmp_path):
    aiohttp = pytest.importorskip("aiohttp")
    pytest.importorskip("textual_serve")
    served = Served(tmp_path, "1")

    async def tabs():
        async with aiohttp.ClientSession() as session:
            first = await open_tab(session, served)
            second = await open_tab(session, served)
            both = wait_until(lambda: len(served.tabs()) == 2 and served.tabs(), "two tutors")
            await first.close()
            await asyncio.to_thread(wait_until, lambda: len(served.tabs()) == 1,
                                    "the first tab's tutor to end")
            await second.close()
            await asyncio.to_thread(wait_until, lambda: served.tabs() == [],
                                    "the second tab's tutor to end")
            return both

    try:
        both = asyncio.run(tabs())
        assert not any(alive(pid) for pid in both)
        assert served.process.poll() is None  # the server keeps serving
    finally:
        assert served.stop() == 0
    assert served.left == []


@on_linux
def test_stopping_the_server_ends_the_tutors_of_open_tabs(tmp_path):
    aiohttp = pytest.importorskip("aiohttp")
    pytest.importorskip("textual_serve")
    served = Served(tmp_path)

    async def stop_with_tabs_open():
        async with aiohttp.ClientSession() as session:
            tabs = [await open_tab(session, served) for _ in range(2)]
            # Read on, as a browser does (it answers the server's goodbye at once).
            reading = [asyncio.create_task(read_all(tab)) for tab in tabs]
            wait_until(lambda: len(served.tabs()) == 2, "two tutors")
            code = await asyncio.to_thread(served.stop)
            await asyncio.wait_for(asyncio.gather(*reading), WAIT)
            return code

    assert asyncio.run(stop_with_tabs_open()) == 0
    assert served.left == []
    assert "Traceback" not in "".join(served.out + served.err)


@on_linux
def test_a_killed_server_leaves_no_tutor_behind(tmp_path):
    """SIGKILL gives the server no chance to stop its tabs: each tutor notices and quits."""
    aiohttp = pytest.importorskip("aiohttp")
    pytest.importorskip("textual_serve")
    served = Served(tmp_path)
    tutors: list[int] = []

    async def kill_with_tabs_open():
        async with aiohttp.ClientSession() as session:
            tabs = [await open_tab(session, served) for _ in range(2)]
            started = wait_until(lambda: len(served.tabs()) == 2 and served.tabs(), "two tutors")
            tutors.extend(pid for pid in started if "tutor" in Path(f"/proc/{pid}/cmdline")
                          .read_bytes().decode(errors="replace"))
            served.process.send_signal(signal.SIGKILL)
            served.process.wait(WAIT)
            await asyncio.to_thread(wait_until, lambda: not any(alive(p) for p in tutors),
                                    "the tabs' tutors to quit after their server was killed")
            for tab in tabs:
                await tab.close()

    try:
        asyncio.run(kill_with_tabs_open())
        assert tutors and not any(alive(pid) for pid in tutors)
    finally:
        for pid in tutors:  # a failure leaks no process
            if alive(pid):
                os.kill(pid, signal.SIGKILL)
