"""The local AT Protocol network the Bluesky tests stand on, and the faulty way to its PDS.

These tests pin down what the real services do with the requests our delivery will make: a
mention notifies, a reply shows in the thread, a record key is used once only; and that the
fault proxy breaks requests the way a network does, and that nothing leaves loopback.
"""

from __future__ import annotations

import ipaddress
import os
import subprocess
from pathlib import Path

import pytest
import requests

from tests.fault_proxy import FaultProxy
from tests.fixtures.bluesky import ATPROTO, AtprotoNetwork, mention, new_tid, node_binary, now

POST = "app.bsky.feed.post"


def post_record(text: str) -> dict[str, str]:
    """Return a bare post record."""
    return {"$type": POST, "text": text, "createdAt": now()}


def test_a_mention_notifies_and_a_reply_shows_in_the_thread(atproto_network: AtprotoNetwork):
    net = atproto_network
    shop, alice = net.create_account("shop"), net.create_account("alice")
    text = f"Thanks @{shop.handle} for fixing my order 👍🏽"
    praise = net.post(alice, text, facets=[mention(text, f"@{shop.handle}", shop.did)])
    net.process_all()

    # The PDS forwards app.bsky.* reads to its AppView, with or without atproto-proxy.
    for proxy in (False, True):
        answer = net.call(shop, "GET", "app.bsky.notification.listNotifications", proxy=proxy)
        assert answer.status_code == 200, answer.text
        mentions = [n for n in answer.json()["notifications"] if n["reason"] == "mention"]
        assert [(n["uri"], n["author"]["did"]) for n in mentions] == [(praise["uri"], alice.did)]

    reply = net.post(shop, "Glad we could help!", reply_to=praise)
    net.process_all()
    answer = net.call(alice, "GET", "app.bsky.feed.getPostThread", params={"uri": praise["uri"]})
    assert answer.status_code == 200, answer.text
    replies = answer.json()["thread"]["replies"]
    assert [(r["post"]["uri"], r["post"]["author"]["did"]) for r in replies] == [
        (reply["uri"], shop.did)
    ]
    assert replies[0]["post"]["record"]["text"] == "Glad we could help!"
    assert replies[0]["post"]["indexedAt"]


def test_a_record_key_makes_one_post_only(atproto_network: AtprotoNetwork):
    net = atproto_network
    alice = net.create_account("alice")
    rkey = new_tid()

    first = net.create_record(alice, POST, post_record("Great service"), rkey=rkey)
    again = net.create_record(alice, POST, post_record("Great service, again"), rkey=rkey)

    assert first.status_code == 200, first.text
    assert first.json()["uri"] == f"at://{alice.did}/{POST}/{rkey}"
    # Not a clean conflict: the PDS answers 500 InternalServerError. Our delivery therefore
    # reads the key back (getRecord) before retrying, rather than relying on the error.
    assert (again.status_code, again.json()["error"]) == (500, "InternalServerError")
    posts = [(p["uri"], p["value"]["text"]) for p in net.list_records(alice.did, POST)]
    assert posts == [(first.json()["uri"], "Great service")]
    assert net.get_record(alice.did, POST, rkey).json()["value"]["text"] == "Great service"


def test_a_record_key_must_be_a_tid(atproto_network: AtprotoNetwork):
    alice = atproto_network.create_account("alice")
    answer = atproto_network.create_record(alice, POST, post_record("Hi"), rkey="not-a-tid")
    assert answer.status_code == 400
    assert "Invalid TID" in answer.json()["message"]


def test_the_fault_proxy_passes_requests_through(
    atproto_network: AtprotoNetwork, faulty_pds: FaultProxy
):
    alice = atproto_network.create_account("alice")
    created = atproto_network.create_record(
        alice, POST, post_record("Through the proxy"), base_url=faulty_pds.url
    )
    assert created.status_code == 200, created.text  # Authorization went through
    # As an HTTP proxy, the client keeps the PDS's own URL (what a DPoP proof names).
    described = requests.get(
        f"{atproto_network.pds_url}/xrpc/com.atproto.server.describeServer",
        proxies={"http": faulty_pds.url},
        timeout=10,
    )
    assert described.status_code == 200
    assert described.json()["did"].startswith("did:")
    assert [(s.method, s.path, s.fault) for s in faulty_pds.seen] == [
        ("POST", "/xrpc/com.atproto.repo.createRecord", None),
        ("GET", "/xrpc/com.atproto.server.describeServer", None),
    ]


@pytest.mark.parametrize("status", [500, 502, 503])
def test_the_fault_proxy_fails_the_next_requests(
    atproto_network: AtprotoNetwork, faulty_pds: FaultProxy, status: int
):
    net = atproto_network
    alice = net.create_account("alice")
    faulty_pds.fail_next("createRecord", status=status, times=2)

    answers = [
        net.create_record(alice, POST, post_record(f"Try {n}"), base_url=faulty_pds.url)
        for n in range(3)
    ]

    assert [a.status_code for a in answers] == [status, status, 200]
    assert [p["value"]["text"] for p in net.list_records(alice.did, POST)] == ["Try 2"]
    assert [s.fault for s in faulty_pds.seen] == ["fail", "fail", None]


def test_the_fault_proxy_rate_limits(atproto_network: AtprotoNetwork, faulty_pds: FaultProxy):
    alice = atproto_network.create_account("alice")
    faulty_pds.rate_limit_next("createRecord", reset=2_000_000_000, limit=5000)

    answer = atproto_network.create_record(
        alice, POST, post_record("Too soon"), base_url=faulty_pds.url
    )

    assert answer.status_code == 429
    assert answer.json()["error"] == "RateLimitExceeded"
    assert answer.headers["ratelimit-limit"] == "5000"
    assert answer.headers["ratelimit-remaining"] == "0"
    assert answer.headers["ratelimit-reset"] == "2000000000"
    assert atproto_network.list_records(alice.did, POST) == []


def test_a_slow_answer_times_out_after_the_write(
    atproto_network: AtprotoNetwork, faulty_pds: FaultProxy
):
    alice = atproto_network.create_account("alice")
    rkey = new_tid()
    faulty_pds.delay_next("createRecord", seconds=30)

    with pytest.raises(requests.exceptions.ReadTimeout):
        atproto_network.create_record(
            alice, POST, post_record("Slow"), rkey=rkey, base_url=faulty_pds.url, timeout=0.5
        )

    assert atproto_network.get_record(alice.did, POST, rkey).status_code == 200


def test_a_delay_without_forwarding_never_reaches_the_server(
    atproto_network: AtprotoNetwork, faulty_pds: FaultProxy
):
    alice = atproto_network.create_account("alice")
    faulty_pds.delay_next("createRecord", seconds=30, forward=False)

    with pytest.raises(requests.exceptions.ReadTimeout):
        atproto_network.create_record(
            alice, POST, post_record("Lost"), base_url=faulty_pds.url, timeout=0.5
        )

    assert atproto_network.list_records(alice.did, POST) == []


@pytest.mark.parametrize(
    ("how", "error"),
    [("drop", requests.exceptions.ConnectionError), ("502", None)],
)
def test_a_lost_answer_hides_a_write_that_happened(
    atproto_network: AtprotoNetwork, faulty_pds: FaultProxy, how: str, error
):
    alice = atproto_network.create_account("alice")
    rkey = new_tid()
    faulty_pds.lose_answer_next("createRecord", how=how)

    if error is not None:
        with pytest.raises(error):
            atproto_network.create_record(
                alice, POST, post_record("Made it"), rkey=rkey, base_url=faulty_pds.url
            )
    else:
        answer = atproto_network.create_record(
            alice, POST, post_record("Made it"), rkey=rkey, base_url=faulty_pds.url
        )
        assert answer.status_code == 502

    written = atproto_network.get_record(alice.did, POST, rkey)
    assert written.status_code == 200
    assert written.json()["value"]["text"] == "Made it"
    assert [(s.path, s.fault) for s in faulty_pds.seen] == [
        ("/xrpc/com.atproto.repo.createRecord", "lose_answer")
    ]


def listening_addresses(pid: int) -> set[tuple[str, int]]:
    """Return the (address, port) of every TCP socket process `pid` listens on."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        target = os.readlink(fd)
        if target.startswith("socket:["):
            inodes.add(target[len("socket:[") : -1])
    listening = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            local, state, inode = fields[1], fields[3], fields[9]
            if state != "0A" or inode not in inodes:  # 0A: LISTEN
                continue
            address, port = local.split(":")
            raw = bytes.fromhex(address)
            # /proc prints each 32-bit word in host (little-endian) order.
            raw = b"".join(raw[i : i + 4][::-1] for i in range(0, len(raw), 4))
            listening.add((str(ipaddress.ip_address(raw)), int(port, 16)))
    return listening


def test_the_services_listen_on_loopback_only(atproto_network: AtprotoNetwork):
    listening = listening_addresses(atproto_network.process.pid)

    ports = {port for _, port in listening}
    for url in (atproto_network.plc_url, atproto_network.pds_url, atproto_network.appview_url):
        assert int(url.rsplit(":", 1)[1]) in ports
    assert {address for address, _ in listening} == {"127.0.0.1"}
    assert atproto_network.refusals() == []


def test_the_loopback_guard_refuses_everything_else():
    script = """
        const net = require('node:net'), dns = require('node:dns')
        try { net.connect(443, '192.0.2.1') } catch (err) { console.log(err.code) }
        dns.lookup('example.com', (err) => console.log(err.code))
        fetch('http://example.com/').catch((err) => console.log(err.cause.code))
        const server = net.createServer().listen(0, '0.0.0.0', () => {
          console.log(server.address().address); server.close()
        })
    """
    done = subprocess.run(
        [node_binary(), "--require", str(ATPROTO / "loopback.cjs"), "-e", script],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    assert sorted(done.stdout.split()) == sorted(["ELOOPBACKONLY"] * 3 + ["127.0.0.1"])
    assert 'refused a connection to "192.0.2.1"' in done.stderr
