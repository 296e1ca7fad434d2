"""Where the web service may connect: public http(s) addresses only, checked after DNS.

A URL is first checked for its form (check_url); its host is then resolved and every address
it resolves to must be public (resolve). The check runs on resolved addresses, so the other
spellings of an address (decimal 2130706433, hex 0x7f000001, octal 0177.0.0.1, IPv4-mapped
::ffff:127.0.0.1, ...) are caught as what they are. The connection classes at the end connect
to the address that was checked, never to a second resolution of the name, so a DNS answer
that changes between the check and the connection (DNS rebinding) cannot reach a private
address; TLS SNI, certificate checks and the Host header still use the name from the URL.
"""

import asyncio
import ipaddress
import logging
import socket
import sys
import urllib.parse

from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import ConnectTimeoutError, NameResolutionError, NewConnectionError

from orchestra.services.web.errors import WebError

logger = logging.getLogger(__name__)

# Cloud metadata services; most are in ranges refused anyway, a few are public addresses.
METADATA = frozenset(ipaddress.ip_address(a) for a in (
    "169.254.169.254",   # AWS, GCP, Azure, OpenStack, DigitalOcean, Oracle
    "169.254.170.2",     # AWS ECS task metadata
    "fd00:ec2::254",     # AWS over IPv6
    "100.100.100.200",   # Alibaba Cloud
    "168.63.129.16",     # Azure WireServer (a public address)
    "192.0.0.192",       # Oracle Cloud (older instances)
))
SHARED = ipaddress.ip_network("100.64.0.0/10")   # carrier-grade NAT; not global
NAT64 = (ipaddress.ip_network("64:ff9b::/96"), ipaddress.ip_network("64:ff9b:1::/48"))
COMPATIBLE = ipaddress.ip_network("::/96")       # deprecated IPv4-compatible ::a.b.c.d


def check_url(url, schemes=("http", "https")):
    """The URL split, when it is an absolute http(s) URL with a host; else WebError."""
    try:
        parts = urllib.parse.urlsplit((url or "").strip())
        parts.port  # noqa: B018 - raises ValueError on a port that is not a number
    except ValueError:
        raise WebError("invalid_url", "The URL is not valid.")
    if parts.scheme not in schemes or not parts.hostname:
        raise WebError("invalid_url", "Only absolute http:// and https:// URLs can be read.")
    return parts


def is_public(ip):
    """True when an ipaddress object is a globally routed unicast address that is not a
    cloud metadata service, also when it hides an IPv4 address (mapped, compatible, 6to4,
    Teredo, NAT64 forms are judged by the IPv4 address inside)."""
    if ip in METADATA:
        return False
    if ip.version == 6:
        embedded = _embedded_ipv4(ip)
        if embedded is not None:
            return is_public(embedded)
        if ip.scope_id:
            return False
    if (ip.is_loopback or ip.is_private or ip.is_link_local or ip.is_multicast
            or ip.is_unspecified or ip.is_reserved or not ip.is_global):
        return False
    return not (ip.version == 4 and ip in SHARED)


def _embedded_ipv4(ip):
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip.teredo is not None:
        return ip.teredo[1]             # the client's address
    if any(ip in net for net in NAT64):
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    if ip in COMPATIBLE and int(ip) > 1:  # not :: nor ::1, which are judged as IPv6
        return ipaddress.IPv4Address(int(ip))
    return None


def resolve(host, port, allow_private=False):
    """The addresses `host` resolves to (strings), all of them public unless allow_private.

    Blocking (DNS): call it from a worker thread. Any non-public address refuses the whole
    host, so that a name with one public and one private address cannot be used to reach
    the private one. WebError blocked_address or network_error.
    """
    host = (host or "").strip("[]")
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as e:
        raise WebError("network_error", "Cannot resolve the host %s (%s)."
                       % (host, getattr(e, "strerror", None) or e))
    addresses = []
    for family, _, _, _, sockaddr in infos:
        if family not in (socket.AF_INET, socket.AF_INET6):
            continue
        address = sockaddr[0].split("%")[0]
        if address not in addresses:
            addresses.append(address)
    if not addresses:
        raise WebError("network_error", "The host %s has no address." % host)
    if not allow_private:
        for address in addresses:
            if not is_public(ipaddress.ip_address(address)):
                raise WebError("blocked_address", "The address of %s (%s) is not a public "
                               "one; the server refuses to reach it." % (host, address))
    return addresses


async def check_host(url, allow_private=False):
    """The addresses of the URL's host (see resolve), resolved on a worker thread; the
    browser asks it for WebSockets too (ws://, wss://)."""
    parts = check_url(url, ("http", "https", "ws", "wss"))
    port = parts.port or (443 if parts.scheme in ("https", "wss") else 80)
    return await asyncio.get_running_loop().run_in_executor(
        None, resolve, parts.hostname, port, allow_private)


# -- connections that go only to checked addresses --------------------------------------------

class _CheckedConnectionMixin:
    """urllib3 connection whose socket goes to an address resolve() accepted."""

    allow_private = False

    def _new_conn(self):
        addresses = resolve(self._dns_host, self.port, self.allow_private)
        error = None
        for address in addresses:
            try:
                sock = _connect(address, self.port, self.timeout, self.source_address,
                                self.socket_options)
            except TimeoutError as e:
                error = ConnectTimeoutError(self, "Connection to %s timed out. (connect "
                                                  "timeout=%s)" % (self.host, self.timeout))
                error.__cause__ = e
            except OSError as e:
                error = NewConnectionError(self, "Failed to establish a new connection: %s"
                                           % e)
                error.__cause__ = e
            else:
                sys.audit("http.client.connect", self, self.host, self.port)
                return sock
        raise error or NameResolutionError(self.host, self, socket.gaierror("no address"))


def _connect(address, port, timeout, source_address, options):
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        for opt in options or ():
            sock.setsockopt(*opt)
        if timeout is not socket._GLOBAL_DEFAULT_TIMEOUT:
            sock.settimeout(timeout)
        if source_address:
            sock.bind(source_address)
        sock.connect((address, port))
        return sock
    except BaseException:
        sock.close()
        raise


def pool_classes(allow_private):
    """{"http": pool class, "https": pool class} whose connections are checked."""
    attrs = {"allow_private": bool(allow_private)}
    http = type("CheckedHTTPConnection", (_CheckedConnectionMixin, HTTPConnection), attrs)
    https = type("CheckedHTTPSConnection", (_CheckedConnectionMixin, HTTPSConnection), attrs)
    return {
        "http": type("CheckedHTTPConnectionPool", (HTTPConnectionPool,), {"ConnectionCls": http}),
        "https": type("CheckedHTTPSConnectionPool", (HTTPSConnectionPool,),
                      {"ConnectionCls": https}),
    }
