"""
The parts of an OTLP endpoint's URL, as ``urllib.parse.urlsplit`` gives them, without
importing ``urllib.parse`` (with ``re`` and ``ipaddress``, about 9 ms of every run that
exports spans, before the program's first line).
"""

from __future__ import annotations


_C0_CONTROL_OR_SPACE = "".join(map(chr, range(0x21)))


class Url:
    """``scheme://[user@]host[:port][/path][?query][#fragment]``, split."""

    __slots__ = ("hostname", "netloc", "path", "port_text", "query", "scheme")

    def __init__(self, url: str) -> None:
        # As urlsplit: leading controls and spaces go, and tabs and line breaks anywhere.
        url = url.lstrip(_C0_CONTROL_OR_SPACE)
        for unsafe in "\t\r\n":
            url = url.replace(unsafe, "")
        scheme, sep, rest = url.partition("://")
        if not sep or not scheme.isascii() or not scheme[:1].isalpha():
            scheme, rest = "", ""
        self.scheme = scheme.lower()
        end = len(rest)
        for mark in "/?#":
            found = rest.find(mark)
            if found != -1:
                end = min(end, found)
        self.netloc = rest[:end]
        if ("[" in self.netloc) != ("]" in self.netloc):
            raise ValueError("Invalid IPv6 URL")
        rest, _, _fragment = rest[end:].partition("#")
        self.path, _, self.query = rest.partition("?")
        host = self.netloc.rpartition("@")[2]
        if host.startswith("["):
            name, _, after = host[1:].partition("]")
            port = after[1:] if after.startswith(":") else ""
        else:
            name, _, port = host.partition(":")
        self.hostname = name.lower() or None
        self.port_text = port

    @property
    def port(self) -> int | None:
        """The port, None when there is none; ValueError when it is no port number."""
        if not self.port_text:
            return None
        if not self.port_text.isdigit() or not self.port_text.isascii():
            raise ValueError(f"Port could not be cast to integer value as {self.port_text!r}")
        port = int(self.port_text)
        if not 0 <= port <= 65535:
            raise ValueError("Port out of range 0-65535")
        return port
