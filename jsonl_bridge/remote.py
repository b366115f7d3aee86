"""http(s) image downloads that a hostile export cannot turn against the machine running it.

An export is untrusted input: its URLs may point at cloud metadata endpoints, intranet
services, or bodies that never end. So the host is resolved and every address checked when the
connection is made (on the first request and on every redirect hop), and the socket connects
to the very address that was checked, which also closes DNS rebinding. Bodies are capped while
streaming, each download has a deadline, proxies from the environment are not used (the check
would see the proxy, not the host), and each URL is downloaded at most once per run — into a
private temp folder, not into memory.
"""

from __future__ import annotations

import functools
import http.client
import ipaddress
import shutil
import socket
import ssl
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import IO, Any
from urllib.parse import urljoin, urlsplit

from jsonl_bridge import __version__
from jsonl_bridge.errors import (
    ImageError,
    ImageFetchError,
    ImageNotFoundError,
    ImageRefusedError,
    ImageTooLargeError,
)

MAX_REDIRECTS = 5
DEADLINE_FACTOR = 6
"""A whole download (redirects included) may take this many times the per-operation timeout."""

_CHUNK = 64 * 1024


def is_public(address: str) -> bool:
    """False for loopback, private, link-local, reserved, multicast, unspecified addresses and
    anything else not globally routable (carrier-grade NAT, documentation ranges...)."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])  # drop an IPv6 zone id
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    special = (
        ip.is_loopback
        or ip.is_private
        or ip.is_link_local
        or ip.is_reserved
        or ip.is_multicast
        or ip.is_unspecified
    )
    return ip.is_global and not special


def _connect(host: str, port: int, timeout: float | None, allow_private: bool) -> socket.socket:
    """A socket to `host`, connected to an address that passed the check (never re-resolved)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise ImageFetchError(f"cannot resolve {host}: {exc.strerror}") from exc
    if not allow_private:
        for *_, sockaddr in infos:
            if not is_public(str(sockaddr[0])):
                raise ImageRefusedError(
                    f"{host} resolves to the non-public address {sockaddr[0]}; "
                    "pass --allow-private-hosts to download from it"
                )
    error: OSError = OSError(f"no address for {host}")
    for family, kind, proto, _, sockaddr in infos:
        sock = socket.socket(family, kind, proto)
        try:
            sock.settimeout(timeout)
            sock.connect(sockaddr)
        except OSError as exc:
            sock.close()
            error = exc
        else:
            return sock
    raise error


class _CheckedHTTPConnection(http.client.HTTPConnection):
    """HTTPConnection whose socket comes from `_connect` (the HTTPS subclass wraps it in TLS
    for the hostname as usual)."""

    def __init__(self, host: str, *, allow_private: bool = False, **kwargs: Any) -> None:
        super().__init__(host, **kwargs)
        self.allow_private = allow_private
        # http.client's own seam for opening the socket; connect() and TLS stay stock.
        self._create_connection = self._checked_socket

    def _checked_socket(
        self, address: tuple[str, int], timeout: float | None, source_address: object = None
    ) -> socket.socket:
        return _connect(address[0], address[1], timeout, self.allow_private)


class _CheckedHTTPSConnection(_CheckedHTTPConnection, http.client.HTTPSConnection):
    pass


class _HTTPHandler(urllib.request.HTTPHandler):
    def __init__(self, allow_private: bool) -> None:
        super().__init__()
        self.allow_private = allow_private

    def http_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
        return self.do_open(_CheckedHTTPConnection, req, allow_private=self.allow_private)


@functools.cache
def _tls() -> ssl.SSLContext:
    """Loading the CA certificates takes a while: once per process, and only for https."""
    return ssl.create_default_context()


class _HTTPSHandler(urllib.request.AbstractHTTPHandler):
    # not a stock HTTPSHandler subclass: newer Pythons build its TLS context in __init__
    https_request = urllib.request.AbstractHTTPHandler.do_request_

    def __init__(self, allow_private: bool) -> None:
        super().__init__()
        self.allow_private = allow_private

    def https_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
        return self.do_open(
            _CheckedHTTPSConnection, req, context=_tls(), allow_private=self.allow_private
        )


class _RedirectHandler(urllib.request.HTTPRedirectHandler):
    """Follows at most MAX_REDIRECTS hops, and only to http(s); the new host is checked when
    its connection is made."""

    max_redirections = max_repeats = MAX_REDIRECTS + 1  # ours below fires first

    def http_error_302(
        self,
        req: urllib.request.Request,
        fp: IO[bytes],
        code: int,
        msg: str,
        headers: http.client.HTTPMessage,
    ) -> Any:
        fp.close()  # unread: urllib would read a redirect's whole body into memory
        location = headers.get("location") or headers.get("uri")
        if location:
            target = urljoin(req.full_url, location)
            if urlsplit(target).scheme not in ("http", "https"):
                raise ImageRefusedError(f"redirected to {target}: only http(s) is followed")
            if sum(getattr(req, "redirect_dict", {}).values()) >= MAX_REDIRECTS:
                raise ImageFetchError(f"more than {MAX_REDIRECTS} redirects")
        return super().http_error_302(req, fp, code, msg, headers)

    http_error_301 = http_error_303 = http_error_307 = http_error_308 = http_error_302


class RemoteFetcher:
    """Downloads http(s) URLs under the rules above; each URL at most once per fetcher.

    Successes are kept as files in a private temp folder (removed by `close`), failures are
    remembered and raised again without a new request.
    """

    def __init__(self, *, allow_private_hosts: bool, timeout: float, max_bytes: int) -> None:
        self.timeout = timeout
        self.max_bytes = max_bytes
        self._dir = Path(tempfile.mkdtemp(prefix="jsonl_bridge-images-"))
        self._done: dict[str, Path] = {}
        self._failed: dict[str, ImageError] = {}
        self._opener = urllib.request.OpenerDirector()
        for handler in (
            _HTTPHandler(allow_private_hosts),
            _HTTPSHandler(allow_private_hosts),
            _RedirectHandler(),
            urllib.request.HTTPDefaultErrorHandler(),
            urllib.request.HTTPErrorProcessor(),
        ):
            self._opener.add_handler(handler)
        self._opener.addheaders = [("User-Agent", f"jsonl_bridge/{__version__}")]

    def fetch(self, url: str) -> bytes:
        """The body of `url`; ImageError subclasses name the URL and what went wrong."""
        if url in self._done:
            return self._done[url].read_bytes()
        if url in self._failed:
            raise self._failed[url].with_traceback(None)
        target = self._dir / str(len(self._done) + len(self._failed))
        try:
            self._download(url, target)
        except ImageError as exc:
            target.unlink(missing_ok=True)
            error = type(exc)(f"{url}: {exc.message}")
            self._failed[url] = error
            raise error from None
        self._done[url] = target
        return target.read_bytes()

    def close(self) -> None:
        """Remove the downloaded files."""
        shutil.rmtree(self._dir, ignore_errors=True)

    def _download(self, url: str, target: Path) -> None:
        """Stream `url` into `target`, translating every failure into an ImageError."""
        deadline = time.monotonic() + DEADLINE_FACTOR * self.timeout
        try:
            with self._opener.open(url, timeout=self.timeout) as response:
                self._check_length(response.headers.get("Content-Length"))
                with target.open("wb") as out:
                    received = 0
                    while chunk := response.read1(_CHUNK):
                        received += len(chunk)
                        if received > self.max_bytes:
                            raise ImageTooLargeError(
                                f"more than the {self.max_bytes} byte download limit"
                            )
                        if time.monotonic() > deadline:
                            raise self._timed_out(DEADLINE_FACTOR * self.timeout)
                        out.write(chunk)
        except urllib.error.HTTPError as exc:
            exc.close()
            kind = ImageNotFoundError if exc.code in (404, 410) else ImageFetchError
            raise kind(f"HTTP {exc.code} {exc.reason}") from exc
        except urllib.error.URLError as exc:
            if isinstance(exc.reason, TimeoutError):
                raise self._timed_out(self.timeout) from exc
            raise ImageFetchError(f"cannot connect: {exc.reason}") from exc
        except TimeoutError as exc:
            raise self._timed_out(self.timeout) from exc
        except (OSError, http.client.HTTPException) as exc:
            raise ImageFetchError(f"download failed: {type(exc).__name__}: {exc}") from exc
        except ValueError as exc:
            raise ImageFetchError(f"invalid URL: {exc}") from exc

    def _check_length(self, header: str | None) -> None:
        if header and header.isdigit() and int(header) > self.max_bytes:
            raise ImageTooLargeError(
                f"Content-Length {header} is above the {self.max_bytes} byte download limit"
            )

    @staticmethod
    def _timed_out(seconds: float) -> ImageFetchError:
        return ImageFetchError(f"timed out after {seconds:g}s")
