"""Which client a request comes from when the server sits behind a reverse proxy.

`X-Forwarded-For` is written by whoever sends the request, so it is believed only from a peer the
operator named (`loomwork serve --forwarded-allow-ips`); otherwise the client is the TCP peer and
the header is ignored, so an attacker cannot rotate "addresses" past the per-address login limit.
From a trusted peer, the client is the right-most address of `X-Forwarded-For` that is not itself
a trusted proxy (the left part of the header is whatever the client sent), and a single
`X-Forwarded-Proto` of `http` or `https` sets the scheme.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from engine.errors import LoomworkError

#: The environment variable that names the trusted proxies for `loomwork serve` and its workers.
PROXIES_VARIABLE = "LOOMWORK_FORWARDED_ALLOW_IPS"

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def _address(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(text.strip().removeprefix("[").removesuffix("]"))
    except ValueError:
        return None


@dataclass(frozen=True)
class TrustedProxies:
    """The peers whose `X-Forwarded-*` headers are believed: networks, or every peer (`*`)."""

    networks: tuple[Network, ...] = ()
    everyone: bool = False

    @classmethod
    def parse(cls, spec: str | Iterable[str] | None) -> TrustedProxies:
        """From `"10.0.0.1, 192.168.0.0/16"` (addresses and networks) or `"*"`; raises
        `LoomworkError` naming an entry that is neither."""
        items = spec.split(",") if isinstance(spec, str) else list(spec or [])
        entries = [item.strip() for item in items if item.strip()]
        if "*" in entries:
            return cls(everyone=True)
        networks = []
        for entry in entries:
            try:
                networks.append(ipaddress.ip_network(entry, strict=False))
            except ValueError:
                raise LoomworkError(
                    f"forwarded-allow-ips: {entry!r} is not an IP address, a network (10.0.0.0/8) nor *",
                    code="config.invalid",
                ) from None
        return cls(tuple(networks))

    def __bool__(self) -> bool:
        return self.everyone or bool(self.networks)

    def trusts(self, host: str | None) -> bool:
        if self.everyone:
            return True
        address = _address(host or "")
        return address is not None and any(address in network for network in self.networks)

    def client(self, peer: str, forwarded_for: str) -> str:
        """The client's address: the right-most forwarded address that is not a trusted proxy,
        or the peer when the header holds nothing usable."""
        hops = [hop.strip() for hop in forwarded_for.split(",") if hop.strip()]
        for hop in reversed(hops):
            address = _address(hop)
            if address is None:
                return peer  # a malformed hop: believe nothing to its left
            if not self.trusts(str(address)):
                return str(address)
        return str(_address(hops[0])) if hops else peer


class ForwardedHeaders:
    """ASGI middleware: for a request from a trusted proxy, the client and scheme it forwarded."""

    def __init__(self, app: Any, proxies: TrustedProxies) -> None:
        self.app = app
        self.proxies = proxies

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        peer = scope.get("client")
        if scope["type"] in ("http", "websocket") and peer and self.proxies.trusts(peer[0]):
            forwarded = b",".join(v for k, v in scope["headers"] if k == b"x-forwarded-for").decode("latin-1")
            protos = [v.decode("latin-1").strip().lower() for k, v in scope["headers"] if k == b"x-forwarded-proto"]
            scope = dict(scope)
            if forwarded:
                scope["client"] = (self.proxies.client(peer[0], forwarded), 0)
            if scope["type"] == "http" and len(protos) == 1 and protos[0] in ("http", "https"):
                scope["scheme"] = protos[0]
        await self.app(scope, receive, send)
