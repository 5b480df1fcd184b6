"""A tracking server that does not answer, or is not MLflow (a socket on 127.0.0.1): one line, exit 2."""

from __future__ import annotations

import contextlib

from tests.support.store import BAD_STORE_STUDY, refused


def test_a_tracking_server_that_does_not_answer_or_is_not_mlflow(tmp_cwd, mnist_dir, capsys, monkeypatch):
    import http.server
    import threading

    (tmp_cwd / "s.yaml").write_text(BAD_STORE_STUDY)
    with socket_closed_port() as port:
        monkeypatch.setenv("MLFLOW_TRACKING_URI", f"http://127.0.0.1:{port}")
        assert "cannot reach the tracking server" in refused(["run", "s.yaml", "--quiet"], capsys)
        assert "cannot reach the tracking server" in refused(["list"], capsys)

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args) -> None:  # the test server's own log would land in the captured stderr
            pass

    web = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Quiet)
    threading.Thread(target=web.serve_forever, daemon=True).start()
    try:
        monkeypatch.setenv("MLFLOW_TRACKING_URI", f"http://127.0.0.1:{web.server_address[1]}")
        assert "cannot reach the tracking server" in refused(["run", "s.yaml", "--quiet"], capsys)  # 404 on /health
    finally:
        web.shutdown()
    assert not (tmp_cwd / "mlruns").exists()


@contextlib.contextmanager
def socket_closed_port():
    """A local port nothing listens on (bound, then closed)."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    yield port
