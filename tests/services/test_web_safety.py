"""safety: which URLs and addresses the web service may reach, checked after resolution."""

import ipaddress

import pytest

from orchestra.services.web import safety
from orchestra.services.web.errors import WebError
from orchestra.services.web.fetcher import StaticFetcher
from tests.fakes.site_static import static_site  # noqa: F401


@pytest.mark.parametrize("url", [
    "", "example.org", "/relative/path", "ftp://example.org/file", "file:///etc/passwd",
    "javascript:alert(1)", "http://", "http:///path", "https://example.org:notaport/",
    "gopher://127.0.0.1:70/", "data:text/html,<p>x</p>",
])
def test_check_url_refuses_what_is_not_an_absolute_http_url(url):
    with pytest.raises(WebError) as caught:
        safety.check_url(url)
    assert caught.value.code == "invalid_url"


def test_check_url_gives_the_parts_of_an_http_url():
    parts = safety.check_url("HTTPS://Example.ORG:8443/a/b?q=1#top")
    assert (parts.scheme, parts.hostname, parts.port, parts.path) == (
        "https", "example.org", 8443, "/a/b")


@pytest.mark.parametrize("address", [
    "127.0.0.1", "127.1.2.3", "0.0.0.0", "10.0.0.1", "10.255.255.255", "172.16.0.1",
    "172.31.255.254", "192.168.0.1", "192.168.255.255", "100.64.0.1", "100.127.255.254",
    "169.254.0.1", "169.254.169.254", "169.254.170.2", "100.100.100.200", "168.63.129.16",
    "192.0.0.192", "224.0.0.1", "239.255.255.250", "255.255.255.255", "240.0.0.1",
    "198.18.0.1", "192.0.2.1", "203.0.113.5", "::1", "::", "fe80::1", "fe80::1%1",
    "fc00::1", "fd00::1", "fd12:3456::1", "fd00:ec2::254", "ff02::1",
    "::ffff:127.0.0.1", "::ffff:10.0.0.1", "::ffff:169.254.169.254", "::127.0.0.1",
    "::10.0.0.1", "2002:7f00:1::", "2002:a9fe:a9fe::1", "64:ff9b::7f00:1",
    "64:ff9b::a9fe:a9fe", "64:ff9b:1::a00:1", "2001:0:4136:e378:8000:63bf:80ff:fffe",
    "2001:db8::1",
])
def test_is_public_refuses_local_private_and_metadata_addresses(address):
    assert not safety.is_public(ipaddress.ip_address(address))


@pytest.mark.parametrize("address", [
    "93.184.216.34", "8.8.8.8", "1.1.1.1", "151.101.1.69", "2606:4700:4700::1111",
    "2a00:1450:4001:82a::200e", "::ffff:8.8.8.8", "2002:808:808::1", "64:ff9b::808:808",
])
def test_is_public_accepts_public_addresses_and_their_ipv4_forms(address):
    assert safety.is_public(ipaddress.ip_address(address))


@pytest.mark.parametrize("host", [
    "127.0.0.1", "localhost", "[::1]", "::1", "169.254.169.254", "2130706433",
    "0x7f000001", "0177.0.0.1", "127.1", "::ffff:127.0.0.1", "10.1.2.3", "192.168.1.1",
    "100.64.0.1", "fd00::1", "0.0.0.0", "0",
])
def test_resolve_refuses_hosts_that_resolve_to_non_public_addresses(host):
    with pytest.raises(WebError) as caught:
        safety.resolve(host, 80, allow_private=False)
    assert caught.value.code == "blocked_address"
    assert "not a public" in caught.value.message


def test_resolve_with_allow_private_gives_the_addresses():
    assert safety.resolve("2130706433", 80, allow_private=True) == ["127.0.0.1"]
    assert safety.resolve("[::1]", 80, allow_private=True) == ["::1"]


def test_resolve_gives_public_addresses():
    # Numeric hosts: getaddrinfo answers without asking a DNS server.
    assert safety.resolve("93.184.216.34", 443) == ["93.184.216.34"]
    assert safety.resolve("2606:4700:4700::1111", 443) == ["2606:4700:4700::1111"]


def test_resolve_reports_a_name_that_does_not_resolve():
    with pytest.raises(WebError) as caught:
        safety.resolve("no-such-host.invalid", 80)
    assert caught.value.code == "network_error"


@pytest.mark.gen_test
async def test_check_host_resolves_off_the_loop():
    assert await safety.check_host("ws://127.0.0.1:9/socket", allow_private=True) == [
        "127.0.0.1"]
    with pytest.raises(WebError) as caught:
        await safety.check_host("http://[::ffff:7f00:1]:8080/", allow_private=False)
    assert caught.value.code == "blocked_address"


# -- the fetcher connects only to checked addresses ------------------------------------------

@pytest.fixture
def strict(io_loop):
    fetcher = StaticFetcher(allow_private=False, timeout=5)
    yield fetcher
    io_loop.run_sync(fetcher.close)


@pytest.mark.gen_test
@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "2130706433", "0x7f000001",
                                  "0177.0.0.1", "[::ffff:127.0.0.1]"])
async def test_the_local_site_is_refused_without_allow_private(strict, static_site,  # noqa: F811
                                                              host):
    with pytest.raises(WebError) as caught:
        await strict.get("http://%s:%d/article" % (host, static_site.port))
    assert caught.value.code == "blocked_address"
    assert static_site.hits == []


@pytest.mark.gen_test
@pytest.mark.parametrize("url", ["http://169.254.169.254/latest/meta-data/",
                                 "http://[::1]:1/", "http://10.0.0.1/", "http://[fd00::1]/",
                                 "http://100.64.0.1/"])
async def test_unreachable_private_targets_are_refused_before_any_connection(strict, url):
    with pytest.raises(WebError) as caught:
        await strict.get(url, timeout=1)
    assert caught.value.code == "blocked_address"   # not a timeout: nothing was tried


@pytest.fixture
def loopback_is_public(monkeypatch):
    """The test's stand-in for the Internet: 127.0.0.1 counts as public, nothing else local
    does, so a redirect from the 'public' site to another local address must be refused."""
    real = safety.is_public
    monkeypatch.setattr(safety, "is_public",
                        lambda ip: str(ip) == "127.0.0.1" or real(ip))


@pytest.mark.gen_test
@pytest.mark.parametrize("target", [
    "http://169.254.169.254/latest/meta-data/iam/", "http://[::1]:{port}/article",
    "http://127.0.0.2:{port}/article", "http://10.1.2.3/", "http://192.168.1.1/admin",
    "http://[fd00:ec2::254]/", "http://[::ffff:a9fe:a9fe]/",
])
async def test_every_redirect_hop_is_checked(strict, static_site, loopback_is_public,  # noqa: F811
                                            target):
    target = target.format(port=static_site.port)
    start = static_site.url + "/redirect?to=" + target
    with pytest.raises(WebError) as caught:
        await strict.get(start)
    assert caught.value.code == "blocked_address"
    assert static_site.hits == ["/redirect"]
    # The first hop itself was fine: without redirects the 302 comes back.
    response = await strict.get(start, follow_redirects=False)
    assert response.status_code == 302 and response.headers["location"] == target


@pytest.mark.gen_test
async def test_a_redirect_through_the_chain_hops_is_checked_at_the_end(  # noqa: F811
        strict, static_site, loopback_is_public):
    inner = "/redirect?to=http://[::1]:%d/article" % static_site.port
    start = static_site.url + "/redirect?to=" + inner.replace("?", "%3F").replace("=", "%3D")
    with pytest.raises(WebError) as caught:
        await strict.get(start)
    assert caught.value.code == "blocked_address"
    assert static_site.hits == ["/redirect", "/redirect"]


@pytest.mark.gen_test
async def test_the_connection_goes_to_the_checked_address_with_the_name_kept(  # noqa: F811
        strict, static_site, monkeypatch):
    """A name that no DNS knows reaches the site because the connection uses the address
    resolve() returned; the Host header still carries the name."""
    asked = []

    def resolve(host, port, allow_private=False):
        asked.append((host, port, allow_private))
        return ["127.0.0.1"]

    monkeypatch.setattr(safety, "resolve", resolve)
    response = await strict.get("http://shop.example.test:%d/echo" % static_site.port)
    assert response.status_code == 200
    assert b'"host": "shop.example.test:%d"' % static_site.port in response.body
    assert asked == [("shop.example.test", static_site.port, False)]


# -- TLS: the name is kept for SNI and the certificate check ---------------------------------

def _self_signed(tmp_path, name):
    """A certificate for `name` (and a key) in PEM files; the certificate is its own CA."""
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_file, key_file = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return str(cert_file), str(key_file)


@pytest.fixture
def tls_site(io_loop, tmp_path):
    import ssl

    import tornado.httpserver
    import tornado.testing
    import tornado.web

    class Hello(tornado.web.RequestHandler):
        def get(self):
            self.write("hello over TLS to %s" % self.request.host)

    cert, key = _self_signed(tmp_path, "tls.example.test")
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    sock, port = tornado.testing.bind_unused_port()
    server = tornado.httpserver.HTTPServer(tornado.web.Application([(r"/", Hello)]),
                                           ssl_options=context)
    server.add_sockets([sock])
    yield cert, port
    server.stop()


@pytest.mark.gen_test
async def test_tls_keeps_the_name_while_connecting_to_the_checked_address(tls_site,
                                                                         monkeypatch):
    cert, port = tls_site
    monkeypatch.setattr(safety, "resolve", lambda host, port, allow_private=False:
                        ["127.0.0.1"])
    fetcher = StaticFetcher(allow_private=False, timeout=5)
    try:
        # Not trusted yet: the certificate check runs (through the checked connection).
        with pytest.raises(WebError) as caught:
            await fetcher.get("https://tls.example.test:%d/" % port)
        assert caught.value.code == "network_error" and "self-signed" in caught.value.message
        fetcher.session.verify = cert
        response = await fetcher.get("https://tls.example.test:%d/" % port)
        assert response.body == b"hello over TLS to tls.example.test:%d" % port
        # The certificate names tls.example.test: another name for the same address fails.
        with pytest.raises(WebError) as caught:
            await fetcher.get("https://other.example.test:%d/" % port)
        assert caught.value.code == "network_error" and "mismatch" in caught.value.message
    finally:
        await fetcher.close()
