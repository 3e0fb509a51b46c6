"""MNIST downloads against a real HTTP server on 127.0.0.1; nothing else is ever contacted."""

from __future__ import annotations

import gzip
import http.server
import socket
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest

from netc.errors import DataError
from netc.runtime.data import download, load_dataset, mnist


class _Handler(http.server.BaseHTTPRequestHandler):
    routes: dict[str, bytes] = {}
    short: set[str] = set()  # paths whose body stops before its Content-Length

    def do_GET(self) -> None:
        body = self.routes.get(self.path)
        if body is None:
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body[: len(body) // 2] if self.path in self.short else body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def server() -> Iterator[tuple[str, dict[str, bytes], set[str]]]:
    """A loopback server: (base URL, path -> body routes, paths served cut short)."""
    handler = type("Handler", (_Handler,), {"routes": {}, "short": set()})
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}", handler.routes, handler.short
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(5)


def _serve(routes: dict[str, bytes], prefix: str, contents: dict[str, bytes]) -> None:
    for name, raw in contents.items():
        routes[f"{prefix}{name}.gz"] = gzip.compress(raw)


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_download_fetches_verifies_and_loads(
    server: tuple,
    synthetic: dict[str, bytes],
    trust: Callable,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    base, routes, _ = server
    _serve(routes, "/mnist/", synthetic)
    trust(synthetic)
    monkeypatch.setenv("NETC_MNIST_MIRRORS", f"{base}/mnist/")
    folder = tmp_path / "new" / "data"
    d = load_dataset("mnist", data_dir=folder, progress=False)
    assert sorted(p.name for p in folder.iterdir()) == sorted(f"{n}.gz" for n in mnist.FILES)
    assert d.x_train.shape == (4, 784) and d.t_test.shape == (3,)
    assert np.array_equal(d.t_train, np.frombuffer(synthetic[mnist.TRAIN_LABELS][8:], np.uint8))
    routes.clear()  # a second load must use the downloaded files, not the network
    assert np.array_equal(load_dataset("mnist", data_dir=folder).x_test, d.x_test)


def test_download_only_fetches_missing_files(
    server: tuple,
    synthetic: dict[str, bytes],
    trust: Callable,
    make_mnist: Callable,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    base, routes, _ = server
    trust(synthetic)
    labels = {mnist.TEST_LABELS: synthetic[mnist.TEST_LABELS]}
    _serve(routes, "/m/", labels)
    others = {n: raw for n, raw in synthetic.items() if n not in labels}
    folder = make_mnist(tmp_path / "d", others, gz=False)
    monkeypatch.setenv("NETC_MNIST_MIRRORS", f"{base}/m/")
    d = load_dataset("mnist", data_dir=folder, progress=False)
    assert (folder / f"{mnist.TEST_LABELS}.gz").is_file() and len(d.t_test) == 3


def test_download_falls_back_to_the_next_mirror(
    server: tuple,
    synthetic: dict[str, bytes],
    trust: Callable,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    base, routes, _ = server
    _serve(routes, "/second/", synthetic)
    trust(synthetic)
    monkeypatch.setenv("NETC_MNIST_MIRRORS", f"{base}/first/, {base}/second")
    d = load_dataset("mnist", data_dir=tmp_path / "d", progress=False)
    assert d.x_train.shape == (4, 784)


def test_download_wrong_file_fails_checksum_and_leaves_nothing(
    server: tuple,
    synthetic: dict[str, bytes],
    trust: Callable,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    base, routes, _ = server
    trust(synthetic)
    wrong = dict(synthetic)
    wrong[mnist.TRAIN_IMAGES] = synthetic[mnist.TEST_IMAGES]
    _serve(routes, "/m/", wrong)
    monkeypatch.setenv("NETC_MNIST_MIRRORS", f"{base}/m/")
    folder = tmp_path / "d"
    with pytest.raises(DataError) as e:
        load_dataset("mnist", data_dir=folder, progress=False)
    message = str(e.value)
    assert "SHA-256 mismatch" in message and f"not the real MNIST {mnist.TRAIN_IMAGES}" in message
    assert message.startswith(f"MNIST files not found in {folder}, and downloading failed")
    assert not folder.exists()  # created for the download, removed again once empty


def test_download_cut_short_leaves_no_partial_file(
    server: tuple,
    synthetic: dict[str, bytes],
    trust: Callable,
    make_mnist: Callable,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    base, routes, short = server
    trust(synthetic)
    _serve(routes, "/m/", synthetic)
    short.add(f"/m/{mnist.TRAIN_LABELS}.gz")
    monkeypatch.setenv("NETC_MNIST_MIRRORS", f"{base}/m/")
    folder = tmp_path / "d"
    with pytest.raises(DataError, match="downloading failed"):
        load_dataset("mnist", data_dir=folder, progress=False)
    # The verified first file stays; nothing partial or temporary does.
    assert [p.name for p in folder.iterdir()] == [f"{mnist.TRAIN_IMAGES}.gz"]


def test_download_unreachable_mirror_gives_one_clear_message(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    port = _closed_port()
    monkeypatch.setenv("NETC_MNIST_MIRRORS", f"http://127.0.0.1:{port}/mnist/")
    folder = tmp_path / "d"
    with pytest.raises(DataError) as e:
        load_dataset("mnist", data_dir=folder, progress=False)
    assert not folder.exists()
    assert str(e.value) == (
        f"MNIST files not found in {folder}, and downloading failed ({mnist.TRAIN_IMAGES}.gz: "
        f"127.0.0.1:{port}: Connection refused). "
        f"Put the four files (gzipped or not) in {folder}, or point --data-dir or NETC_DATA_DIR "
        f"at a folder that has them."
    )


def test_download_with_no_mirrors_says_so(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="NETC_MNIST_MIRRORS is empty"):
        load_dataset("mnist", data_dir=tmp_path / "d", progress=False)


def test_download_default_dir_is_the_user_cache(tmp_path: Path) -> None:
    with pytest.raises(DataError) as e:
        load_dataset("mnist", progress=False)
    expected = tmp_path / "xdg-cache" / "netc" / "mnist"
    assert f"MNIST files not found in {expected}, and downloading failed" in str(e.value)


def test_download_env_data_dir_is_used(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("NETC_DATA_DIR", str(tmp_path / "env"))
    with pytest.raises(DataError, match=f"not found in {tmp_path / 'env'},"):
        load_dataset("mnist", progress=False)


def test_download_rejects_non_http_mirrors(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("NETC_MNIST_MIRRORS", "file:///etc/")
    with pytest.raises(DataError, match="only http and https"):
        load_dataset("mnist", data_dir=tmp_path / "d", progress=False)


def test_download_shows_progress_on_stderr(
    server: tuple,
    synthetic: dict[str, bytes],
    trust: Callable,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    base, routes, _ = server
    _serve(routes, "/m/", synthetic)
    trust(synthetic)
    monkeypatch.setenv("NETC_MNIST_MIRRORS", f"{base}/m/")
    load_dataset("mnist", data_dir=tmp_path / "d", progress=True)
    captured = capsys.readouterr()
    assert mnist.TRAIN_IMAGES in captured.err and captured.out == ""


def test_download_mirrors_default_to_the_public_list(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NETC_MNIST_MIRRORS")
    assert download.mirrors() == download.MIRRORS
    assert download.MIRRORS[0] == "https://ossci-datasets.s3.amazonaws.com/mnist/"
