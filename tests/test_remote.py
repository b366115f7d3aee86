"""http(s) downloads against a throwaway server on 127.0.0.1, as Label Studio's fixture had.

The server serves qc_part_05_http.png, the image the qc-defects export references by URL.
Public hosts are simulated by patching socket.getaddrinfo: nothing leaves this machine.
"""

from __future__ import annotations

import socket
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from local_http import Handler, Server, serving

from jsonl_bridge import remote
from jsonl_bridge.errors import (
    ImageFetchError,
    ImageNotFoundError,
    ImageRefusedError,
    ImageTooLargeError,
)
from jsonl_bridge.remote import RemoteFetcher, is_public
from jsonl_bridge.resolve import ImageResolver

PNG = (
    Path(__file__).parent / "fixtures/label-studio/qc-defects/external/qc_part_05_http.png"
).read_bytes()


class Routes(Handler):
    def route(self) -> None:
        if self.path == "/qc_part_05_http.png":
            self.reply(200, PNG)
        elif self.path.startswith("/hop/"):
            hop = int(self.path.removeprefix("/hop/"))
            self.redirect("/qc_part_05_http.png" if hop == 0 else f"/hop/{hop - 1}")
        elif self.path == "/redirect-with-endless-body":
            self.send_response(302)
            self.send_header("Location", "/qc_part_05_http.png")
            self.send_header("Content-Length", str(10**9))
            self.end_headers()
            self.wfile.write(bytes(10_000))  # then silence: reading it all would hang
        elif self.path == "/to-file":
            self.redirect("file:///etc/passwd")
        elif self.path == "/to-private":
            self.redirect(f"http://127.0.0.2:{self.server.server_address[1]}/qc_part_05_http.png")
        elif self.path == "/big-length":
            self.reply(200, bytes(1000))
        elif self.path == "/big-stream":
            self.send_response(200)
            self.end_headers()  # no Content-Length: the body ends when the connection closes
            self.wfile.write(bytes(1000))
        elif self.path == "/slow":
            time.sleep(1.5)
            self.reply(200, PNG)
        elif self.path == "/drip":
            self.send_response(200)
            self.end_headers()
            for _ in range(40):
                self.wfile.write(b"x")
                self.wfile.flush()
                time.sleep(0.05)
        else:
            self.reply(404, b"not found")

    def redirect(self, location: str) -> None:
        self.send_response(302)
        self.send_header("Location", location)
        self.send_header("Content-Length", "0")
        self.end_headers()


@pytest.fixture
def server() -> Iterator[Server]:
    with serving(Routes) as httpd:
        yield httpd


@pytest.fixture
def fetcher() -> Iterator[RemoteFetcher]:
    fetcher = RemoteFetcher(allow_private_hosts=True, timeout=2.0, max_bytes=100_000)
    yield fetcher
    fetcher.close()


def fake_dns(monkeypatch: pytest.MonkeyPatch, host: str, address: str, port: int = 80) -> list[str]:
    """`host` resolves to `address`; every other name fails, so nothing can go out.

    Returns the list of names looked up, growing as they are.
    """
    lookups: list[str] = []

    def getaddrinfo(name: str, *args: Any, **kwargs: Any) -> list[Any]:
        lookups.append(name)
        if name != host:
            raise socket.gaierror(socket.EAI_NONAME, "unknown in this test")
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, port))]

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return lookups


def test_loopback_is_refused_without_allow_private_hosts(server: Server) -> None:
    url = server.url("/qc_part_05_http.png")
    fetcher = RemoteFetcher(allow_private_hosts=False, timeout=2.0, max_bytes=100_000)
    with pytest.raises(ImageRefusedError) as caught:
        fetcher.fetch(url)
    fetcher.close()
    assert url in str(caught.value) and "--allow-private-hosts" in str(caught.value)
    assert server.requests == []


def test_download_with_allow_private_hosts(server: Server, fetcher: RemoteFetcher) -> None:
    assert fetcher.fetch(server.url("/qc_part_05_http.png")) == PNG
    assert server.headers[0]["User-Agent"].startswith("jsonl_bridge/")


def test_each_url_is_fetched_once(server: Server, fetcher: RemoteFetcher) -> None:
    url = server.url("/qc_part_05_http.png")
    assert fetcher.fetch(url) == PNG
    assert fetcher.fetch(url) == PNG
    assert server.requests == ["/qc_part_05_http.png"]


def test_not_found_is_remembered(server: Server, fetcher: RemoteFetcher) -> None:
    url = server.url("/missing.png")
    for _ in range(2):
        with pytest.raises(ImageNotFoundError, match="HTTP 404") as caught:
            fetcher.fetch(url)
        assert str(caught.value).startswith(url)
    assert server.requests == ["/missing.png"]


def test_redirects_are_followed_up_to_five(server: Server, fetcher: RemoteFetcher) -> None:
    assert fetcher.fetch(server.url("/hop/4")) == PNG
    assert server.requests[-1] == "/qc_part_05_http.png" and len(server.requests) == 6
    with pytest.raises(ImageFetchError, match="more than 5 redirects"):
        fetcher.fetch(server.url("/hop/5"))


def test_a_redirect_body_is_not_read(server: Server) -> None:
    fetcher = RemoteFetcher(allow_private_hosts=True, timeout=0.5, max_bytes=100_000)
    assert fetcher.fetch(server.url("/redirect-with-endless-body")) == PNG
    fetcher.close()


def test_https_is_checked_too() -> None:
    fetcher = RemoteFetcher(allow_private_hosts=False, timeout=2.0, max_bytes=100_000)
    with pytest.raises(ImageRefusedError, match="--allow-private-hosts"):
        fetcher.fetch("https://127.0.0.1:9/a.png")
    fetcher.close()


def test_redirect_to_another_scheme_is_refused(server: Server, fetcher: RemoteFetcher) -> None:
    with pytest.raises(ImageRefusedError, match="file:///etc/passwd"):
        fetcher.fetch(server.url("/to-file"))


def test_every_redirect_hop_is_checked(server: Server, monkeypatch: pytest.MonkeyPatch) -> None:
    # pretend 127.0.0.1 is public, so that only the redirect target is a private address
    monkeypatch.setattr(remote, "is_public", lambda address: address == "127.0.0.1")
    fetcher = RemoteFetcher(allow_private_hosts=False, timeout=2.0, max_bytes=100_000)
    with pytest.raises(ImageRefusedError, match=r"127\.0\.0\.2"):
        fetcher.fetch(server.url("/to-private"))
    fetcher.close()
    assert server.requests == ["/to-private"]


def test_content_length_above_the_cap(server: Server) -> None:
    fetcher = RemoteFetcher(allow_private_hosts=True, timeout=2.0, max_bytes=999)
    with pytest.raises(ImageTooLargeError, match="Content-Length 1000"):
        fetcher.fetch(server.url("/big-length"))
    fetcher.close()


def test_streamed_body_above_the_cap(server: Server) -> None:
    fetcher = RemoteFetcher(allow_private_hosts=True, timeout=2.0, max_bytes=999)
    with pytest.raises(ImageTooLargeError, match="999 byte"):
        fetcher.fetch(server.url("/big-stream"))
    fetcher.close()
    fetcher = RemoteFetcher(allow_private_hosts=True, timeout=2.0, max_bytes=1000)
    assert fetcher.fetch(server.url("/big-stream")) == bytes(1000)
    fetcher.close()


@pytest.mark.parametrize(
    ("path", "timeout", "message"),
    [
        ("/slow", 0.5, "timed out after 0.5s"),  # silent: the per-operation timeout
        ("/drip", 0.1, "timed out after 0.6s"),  # a byte at a time: the overall deadline
    ],
)
def test_slow_servers_time_out(server: Server, path: str, timeout: float, message: str) -> None:
    fetcher = RemoteFetcher(allow_private_hosts=True, timeout=timeout, max_bytes=100_000)
    start = time.monotonic()
    with pytest.raises(ImageFetchError, match=message):
        fetcher.fetch(server.url(path))
    assert time.monotonic() - start < 1.2
    fetcher.close()


def test_cache_folder_is_removed_by_close(
    server: Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    with ImageResolver(allow_remote=True, allow_private_hosts=True) as resolver:
        assert resolver.read(server.url("/qc_part_05_http.png")) == PNG
        (cache,) = tmp_path.iterdir()
        assert [p.stat().st_size for p in cache.iterdir()] == [len(PNG)]
    assert list(tmp_path.iterdir()) == []


def test_private_address_of_a_public_name_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    fake_dns(monkeypatch, "images.example.com", "169.254.169.254")
    fetcher = RemoteFetcher(allow_private_hosts=False, timeout=2.0, max_bytes=100_000)
    with pytest.raises(ImageRefusedError, match=r"169\.254\.169\.254.*--allow-private-hosts"):
        fetcher.fetch("http://images.example.com/latest/meta-data")
    fetcher.close()


def test_connection_goes_to_the_checked_address(
    server: Server, fetcher: RemoteFetcher, monkeypatch: pytest.MonkeyPatch
) -> None:
    port = server.server_address[1]
    lookups = fake_dns(monkeypatch, "images.example.test", "127.0.0.1", port)
    assert fetcher.fetch(server.url("/qc_part_05_http.png", "images.example.test")) == PNG
    assert server.headers[0]["Host"] == f"images.example.test:{port}"
    assert lookups == ["images.example.test"]  # resolved once: no second, rebindable lookup


def test_unresolvable_host_is_a_fetch_error(
    fetcher: RemoteFetcher, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake_dns(monkeypatch, "elsewhere.test", "127.0.0.1")
    with pytest.raises(ImageFetchError, match=r"cannot resolve nowhere\.test"):
        fetcher.fetch("http://nowhere.test/a.png")


@pytest.mark.parametrize(
    ("address", "public"),
    [
        ("93.184.216.34", True),
        ("2606:2800:220:1:248:1893:25c8:1946", True),
        ("127.0.0.1", False),
        ("10.1.2.3", False),
        ("192.168.0.1", False),
        ("169.254.169.254", False),
        ("100.64.0.1", False),
        ("0.0.0.0", False),
        ("224.0.0.1", False),
        ("::1", False),
        ("fe80::1%eth0", False),
        ("fd00::1", False),
        ("::ffff:127.0.0.1", False),
    ],
)
def test_is_public(address: str, public: bool) -> None:
    assert is_public(address) is public
