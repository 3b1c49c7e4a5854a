"""Reading an answer's body within a size bound, raw and decoded, as it streams in.

httpx decodes ``Content-Encoding`` without a limit: a 2 KB body encoded ``gzip, gzip`` expands
to gigabytes in one call. So the transport reads the raw bytes and decodes them here, with
zlib's ``max_length``: memory stays about the limit whatever the server sends. Sans-I/O: the sync
and async transports feed it the chunks they read.
"""

from __future__ import annotations

import zlib

from airflow_ft_provider.errors import MalformedResponseError, ResponseTooLargeError
from airflow_ft_provider.transport.settings import MB

#: Content codings this client asks for and decodes; anything else is refused.
ACCEPT_ENCODING = "gzip, deflate"
#: More layers than this is not compression, it is an attack.
MAX_ENCODING_LAYERS = 3
_STEP = 64 * 1024


class _Inflater:
    """One gzip or deflate layer, producing at most what is asked of it per call."""

    def __init__(self, coding: str) -> None:
        self.coding = coding
        # deflate is meant to be zlib-wrapped, but some servers send raw deflate: sniffed below.
        self._z = zlib.decompressobj(16 + zlib.MAX_WBITS) if coding == "gzip" else None
        self._pending = b""
        self._fed = False

    def feed(self, data: bytes, room: int) -> tuple[bytes, bool]:
        """Decode some of ``data`` (kept if not consumed); returns (output, whether more may follow)."""
        self._fed = self._fed or bool(data)
        if self._z is None:
            self._pending += data
            if len(self._pending) < 2:
                return b"", False
            zlib_header = (self._pending[0] & 0x0F) == 8 and int.from_bytes(self._pending[:2], "big") % 31 == 0
            self._z = zlib.decompressobj(zlib.MAX_WBITS if zlib_header else -zlib.MAX_WBITS)
            data, self._pending = self._pending, b""
        data = self._pending + data
        room = max(1, room)
        out = self._z.decompress(data, room)
        self._pending = self._z.unconsumed_tail
        return out, bool(self._pending) or len(out) >= room

    def finish(self) -> None:
        if self._fed and (self._z is None or not self._z.eof):
            raise zlib.error("the compressed stream ends early")


class BodyReader:
    """Collects a body of at most ``limit`` bytes, raw and after ``content_encoding``."""

    def __init__(self, content_encoding: str | None, limit: int, platform: str) -> None:
        self.limit, self.platform = limit, platform
        codings = [c.strip().lower() for c in (content_encoding or "").split(",") if c.strip()]
        codings = [c for c in codings if c != "identity"]
        unknown = [c for c in codings if c not in ("gzip", "deflate", "x-gzip")]
        if unknown or len(codings) > MAX_ENCODING_LAYERS:
            raise MalformedResponseError(
                f"The answer is encoded as {content_encoding!r:.80}, which this client did not ask for "
                f"(it accepts {ACCEPT_ENCODING}, at most {MAX_ENCODING_LAYERS} layers).",
                platform=platform,
            )
        # Content-Encoding lists codings in the order applied: undo them last to first.
        self._layers = [_Inflater("gzip" if c == "x-gzip" else c) for c in reversed(codings)]
        self._raw = 0
        self._out: list[bytes] = []
        self._size = 0

    def check_declared(self, content_length: str | None) -> None:
        """Refuse at once a body whose declared length is over the limit."""
        if content_length and content_length.strip().isdigit() and int(content_length) > self.limit:
            raise self._too_large(f"declares {int(content_length):,} bytes")

    def feed(self, chunk: bytes) -> None:
        self._raw += len(chunk)
        if self._raw > self.limit:
            raise self._too_large("is longer")
        try:
            self._push(0, chunk)
        except zlib.error as exc:
            raise self._broken(exc) from None

    def finish(self) -> bytes:
        try:
            for layer in self._layers:
                layer.finish()
        except zlib.error as exc:
            raise self._broken(exc) from None
        return b"".join(self._out)

    def _push(self, index: int, data: bytes) -> None:
        if index == len(self._layers):
            self._size += len(data)
            if self._size > self.limit:
                raise self._too_large("decodes to more")
            self._out.append(data)
            return
        layer = self._layers[index]
        while True:
            out, more = layer.feed(data, min(_STEP, self.limit - self._size + 1))
            data = b""
            if out:
                self._push(index + 1, out)
            if not more:
                return

    def _too_large(self, how: str) -> ResponseTooLargeError:
        return ResponseTooLargeError(
            f"The answer {how} than max_response_mb={self.limit / MB:g} allows; refused (raise the "
            "connection's max_response_mb extra if the platform really sends this much).",
            platform=self.platform,
        )

    def _broken(self, exc: zlib.error) -> MalformedResponseError:
        return MalformedResponseError(f"The answer's compressed body is broken ({exc}).", platform=self.platform)
