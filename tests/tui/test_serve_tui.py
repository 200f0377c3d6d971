"""`qmr serve-tui`'s guards against a real aiohttp client on a real server on 127.0.0.1."""

import asyncio
import shlex
import socket
import sys

import aiohttp
import pytest

pytest.importorskip("textual_serve")
from aiohttp import web  # noqa: E402

from qmr_tui.serve import GuardedServer  # noqa: E402

# For the guard tests, the app process is a one-liner that ends at the server's first message ("quit"
# on close); test_the_real_tui_is_served_through_the_guards runs `qmr tui` itself.
SLEEPER = shlex.join([sys.executable, "-c", "import sys; sys.stdin.buffer.read(1)"])


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
async def server():
    port = _free_port()
    srv = GuardedServer(SLEEPER, host="127.0.0.1", port=port, token="t0ken-for-tests", max_sessions=2)
    runner = web.AppRunner(await srv._make_app())
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        yield srv
    finally:
        await _settled(srv)  # every app process has quit before the loop closes
        await runner.cleanup()


def _base(srv) -> str:
    return f"http://127.0.0.1:{srv.port}"


async def _ws_status(session, srv, token, origin):
    headers = {"Origin": origin} if origin else {}
    try:
        ws = await session.ws_connect(f"ws://127.0.0.1:{srv.port}/ws/{token}", headers=headers, timeout=aiohttp.ClientWSTimeout(ws_close=2))
    except aiohttp.WSServerHandshakeError as exc:
        return exc.status, None
    return 101, ws


async def test_the_page_needs_the_printed_token(server):
    async with aiohttp.ClientSession() as s:
        async with s.get(_base(server) + "/") as r:
            assert r.status == 403
        async with s.get(_base(server) + "/?token=wrong") as r:
            assert r.status == 403
        async with s.get(server.url) as r:
            assert r.status == 200
            page = await r.text()
            assert f"/ws/{server.token}" in page and r.headers["Referrer-Policy"] == "no-referrer"
    assert server.url == f"http://127.0.0.1:{server.port}/?token={server.token}"


async def test_websocket_refuses_a_bad_token_and_a_foreign_or_missing_origin(server):
    good = f"http://127.0.0.1:{server.port}"
    async with aiohttp.ClientSession() as s:
        assert (await _ws_status(s, server, "wrong", good))[0] == 403
        assert (await _ws_status(s, server, server.token, "http://evil.example"))[0] == 403
        assert (await _ws_status(s, server, server.token, None))[0] == 403
        assert (await _ws_status(s, server, server.token, "http://127.0.0.1:1"))[0] == 403  # another local port
        status, ws = await _ws_status(s, server, server.token, good)
        assert status == 101
        await ws.close()
    assert server.sessions == 0 or await _settled(server)


async def _settled(server, seconds: float = 5) -> bool:
    for _ in range(int(seconds * 10)):
        if server.sessions == 0:
            return True
        await asyncio.sleep(0.1)
    return False


async def test_a_rebound_host_name_is_refused(server):
    async with aiohttp.ClientSession() as s:
        headers = {"Origin": "http://evil.example:%d" % server.port, "Host": "evil.example:%d" % server.port}
        try:
            await s.ws_connect(f"ws://127.0.0.1:{server.port}/ws/{server.token}", headers=headers)
            raise AssertionError("connected")
        except aiohttp.WSServerHandshakeError as exc:
            assert exc.status == 403


async def test_sessions_are_capped(server):
    good = f"http://127.0.0.1:{server.port}"
    async with aiohttp.ClientSession() as s:
        opened = []
        for _ in range(2):
            status, ws = await _ws_status(s, server, server.token, good)
            assert status == 101
            opened.append(ws)
        await asyncio.sleep(0.2)
        assert (await _ws_status(s, server, server.token, good))[0] == 503
        for ws in opened:
            await ws.close()
        assert await _settled(server)
        status, ws = await _ws_status(s, server, server.token, good)
        assert status == 101
        await ws.close()


async def test_static_has_no_directory_listing(server):
    async with aiohttp.ClientSession() as s:
        for path in ("/static/", "/static/js/", "/static/css"):
            async with s.get(_base(server) + path) as r:
                assert r.status in (403, 404), path
                assert "Index of" not in await r.text()
        async with s.get(_base(server) + "/static/js/textual.js") as r:
            assert r.status == 200  # the files the page needs are still served


async def test_the_real_tui_is_served_through_the_guards(tmp_path):
    from tests.conftest import REPO
    from tests.helpers.tui_store import build_small_store

    db = build_small_store(tmp_path / "s.duckdb")
    command = shlex.join(["env", f"PYTHONPATH={REPO}", "OMP_NUM_THREADS=1", sys.executable, "-m", "qmr_core.cli", "tui", "--db", str(db)])
    port = _free_port()
    srv = GuardedServer(command, host="127.0.0.1", port=port)
    runner = web.AppRunner(await srv._make_app())
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        async with aiohttp.ClientSession() as s:
            status, ws = await _ws_status(s, srv, srv.token, f"http://127.0.0.1:{port}")
            assert status == 101
            screen = b""
            async with asyncio.timeout(60):
                while b"tiny-fp" not in screen:  # the runs screen lists the store's models
                    msg = await ws.receive()
                    assert msg.type in (aiohttp.WSMsgType.BINARY, aiohttp.WSMsgType.TEXT), msg
                    screen += msg.data if isinstance(msg.data, bytes) else msg.data.encode()
            await ws.close()
        assert await _settled(srv, 30)  # the TUI process quit when its tab closed
    finally:
        await runner.cleanup()


def test_a_taken_port_is_one_error_line(tmp_path):
    import os
    import subprocess

    from typer.testing import CliRunner

    from qmr_core.cli import app
    from tests.conftest import REPO
    from tests.helpers.tui_store import build_small_store

    db = build_small_store(tmp_path / "s.duckdb")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        # in a process of its own: aiohttp's run_app closes the event loop it ran on
        result = subprocess.run([sys.executable, "-m", "qmr_core.cli", "serve-tui", "--host", "127.0.0.1", "--port", str(port),
                                 "--db", str(db)], capture_output=True, text=True, timeout=120,
                                env={**os.environ, "PYTHONPATH": str(REPO)}, cwd=str(tmp_path))
    assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr
    assert result.stderr.strip().splitlines()[-1].startswith(f"error: cannot listen on 127.0.0.1:{port}"), result.stderr
    bad = CliRunner().invoke(app, ["serve-tui", "--port", "99999", "--db", str(db)])
    assert bad.exit_code == 1 and "--port must be between" in bad.output
