"""Server-side request forgery: we only ever connect to public addresses of the server named.

Names are made to resolve through a patched `socket.getaddrinfo`; the no_network guard fails any
test that really connects off loopback, so a refusal here is ours, made before connecting.
"""

from __future__ import annotations

import ipaddress
import socket

import pytest
from helpers import page_text
from mastodon.errors import MastodonNetworkError

from webapp.infra.http import RefusedAddress, ServerProblem, is_public, server_session
from webapp.networks.mastodon import client as mastodon_api
from webapp.networks.mastodon import oauth
from webapp.networks.mastodon.servers import parse_server

INSIDE = [
    "10.0.0.1",
    "127.0.0.1",
    "169.254.169.254",
    "::1",
    "fc00::1",
    "fe80::1",
    "::ffff:10.0.0.1",
    "64:ff9b::a00:1",  # NAT64 of 10.0.0.1
    "2002:0a00:0001::",  # 6to4 of 10.0.0.1
    "::a00:1",  # IPv4-compatible 10.0.0.1
    "0.0.0.0",
    "100.64.0.1",
]
PUBLIC = ["93.184.216.34", "2606:4700::1111", "64:ff9b::808:808", "2002:808:808::"]
NAME = "mastodon.example"


def answer(*addresses: str) -> list[tuple]:
    """Build what getaddrinfo returns for these addresses."""
    return [
        (
            socket.AF_INET6 if ":" in address else socket.AF_INET,
            socket.SOCK_STREAM,
            socket.IPPROTO_TCP,
            "",
            (address, 443),
        )
        for address in addresses
    ]


class Resolver:
    """Answers for NAME, one per lookup (the last one repeats), and a count of lookups."""

    def __init__(self) -> None:
        """Start with no answers and no lookups."""
        self.answers: list[list[str]] = []
        self.lookups = 0

    def append(self, addresses: list[str]) -> None:
        """Add the answer for the next lookup."""
        self.answers.append(addresses)

    def extend(self, answers: list[list[str]]) -> None:
        """Add answers for the next lookups, in order."""
        self.answers.extend(answers)

    def next_answer(self) -> list[tuple]:
        """Return the answer for this lookup."""
        self.lookups += 1
        return answer(*self.answers[min(self.lookups, len(self.answers)) - 1])


@pytest.fixture
def resolve(monkeypatch: pytest.MonkeyPatch) -> Resolver:
    """Make NAME resolve to chosen addresses without real DNS; anything else as usual."""
    resolver = Resolver()
    real = socket.getaddrinfo

    def fake_getaddrinfo(host, *args, **kwargs):
        """Answer NAME from the resolver, anything else as the system would."""
        return resolver.next_answer() if host == NAME else real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", fake_getaddrinfo)
    return resolver


@pytest.mark.parametrize("address", INSIDE)
def test_name_resolving_inside_a_network_is_refused_at_sign_in(client, strict, resolve, address):
    """Signing in with a server whose name leads inside a network is refused, plainly."""
    resolve.append([address])
    response = client.post("/login/mastodon", data={"handle": f"alice@{NAME}"})
    assert response.status_code == 422
    assert f"{NAME} isn't a public server" in page_text(response)


@pytest.mark.parametrize("address", INSIDE)
def test_transport_refuses_inside_addresses(strict, resolve, address):
    """The connection itself refuses an inside address, whoever asked for it."""
    resolve.append([address])
    with pytest.raises(RefusedAddress), server_session(f"https://{NAME}") as session:
        session.get(f"https://{NAME}/api/v2/instance", timeout=2)


@pytest.mark.parametrize("address", INSIDE)
def test_api_client_and_oauth_client_refuse_inside_addresses(strict, resolve, address):
    """Mastodon.py and Authlib go through the same guarded transport."""
    resolve.append([address])
    with pytest.raises(MastodonNetworkError):
        mastodon_api.api(f"https://{NAME}", "token").account_verify_credentials()
    with pytest.raises(ServerProblem):
        oauth.exchange_code(
            f"https://{NAME}/oauth/token", "id", "secret", "https://x.test/cb", "code", None
        )
    assert oauth.revoke_token(f"https://{NAME}/oauth/revoke", "id", "secret", "t") is False


def test_one_inside_address_among_public_ones_is_refused(strict, resolve):
    """A name with any inside address is refused, so the connection can't land on it."""
    resolve.append(["93.184.216.34", "10.0.0.1"])
    with pytest.raises(RefusedAddress), server_session(f"https://{NAME}") as session:
        session.get(f"https://{NAME}/", timeout=2)


def test_rebinding_after_the_first_check_is_refused(client, strict, resolve):
    """Public when first checked, inside a network when connecting: the connection is refused."""
    resolve.extend([["93.184.216.34"], ["10.0.0.1"]])
    response = client.post("/login/mastodon", data={"handle": NAME})
    assert response.status_code == 422
    assert f"{NAME} isn't a public server" in page_text(response)
    assert resolve.lookups >= 2  # checked once up front, and again at connect time


@pytest.mark.parametrize("address", PUBLIC)
def test_public_addresses_are_public(address):
    """Public addresses, including NAT64 and 6to4 forms of public IPv4, pass."""
    assert is_public(ipaddress.ip_address(address))


@pytest.mark.parametrize("address", INSIDE)
def test_inside_addresses_are_not_public(address):
    """Every inside address, however it is wrapped, fails."""
    assert not is_public(ipaddress.ip_address(address))


def test_redirect_to_another_host_is_refused(app, fake_mastodon, elsewhere):
    """Even with the development setting on, a redirect never takes us to another host."""
    fake_mastodon.fail_next(
        "GET", "/api/v2/instance", 302, headers={"Location": f"{elsewhere.url}/api/v2/instance"}
    )
    with pytest.raises(MastodonNetworkError):
        mastodon_api.api(fake_mastodon.url).instance_v2()
    fake_mastodon.fail_next(
        "GET", "/api/v2/instance", 302, headers={"Location": f"{elsewhere.url}/api/v2/instance"}
    )
    with pytest.raises(RefusedAddress), server_session(fake_mastodon.url) as session:
        session.get(f"{fake_mastodon.url}/api/v2/instance", timeout=5)
    assert elsewhere.requests == []


def test_redirect_within_the_server_is_followed(app, fake_mastodon):
    """A redirect to another path on the same server still works."""
    fake_mastodon.fail_next(
        "GET", "/api/v1/instance", 302, headers={"Location": f"{fake_mastodon.url}/api/v2/instance"}
    )
    with server_session(fake_mastodon.url) as session:
        response = session.get(f"{fake_mastodon.url}/api/v1/instance", timeout=5)
    assert response.status_code == 200
    assert "configuration" in response.json()


@pytest.mark.parametrize(
    ("entry", "base_url"),
    [
        ("mastodon.social/@alice", "https://mastodon.social"),
        ("@mastodon.social/@alice", "https://mastodon.social"),
        ("https://alice@mastodon.social", "https://mastodon.social"),
        ("https://mastodon.social/@alice", "https://mastodon.social"),
        ("alice@mastodon.social", "https://mastodon.social"),
    ],
)
def test_server_is_read_from_a_profile_address(entry, base_url):
    """A profile address without a scheme names its server, not the person."""
    assert parse_server(entry) == base_url
