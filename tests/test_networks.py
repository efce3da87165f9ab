"""Networks: each is found by the name its crossposts store, and a crosspost names its own.

A crosspost names its network and its account there by id, without a foreign key, so removing
a connection must leave no crosspost naming it: not even when a later connection gets its id.
"""

from __future__ import annotations

import pytest
from conftest import AuthActions, business_on, mastodon_sign_in, send

from webapp import networks
from webapp.extensions import db


def test_every_network_is_found_by_the_name_its_crossposts_store():
    """The registry hands out each network under the name it gives itself."""
    assert "mastodon" in networks.names()
    for name in networks.names():
        network = networks.get(name)
        assert network.name == name and network.label


def test_a_network_nobody_knows_is_refused():
    """A name no network goes by is an error, not a guess."""
    with pytest.raises(KeyError):
        networks.get("myspace")


def test_a_sent_status_names_its_network_and_the_account_it_went_out_on(
    client, connected, fake_mastodon, make_business
):
    """The row says Mastodon, and which connected account it went out on."""
    row = send(client, business_on(fake_mastodon, make_business, "bakery"))
    assert row.network == "mastodon"
    assert row.account is connected.mastodon_account


def test_a_removed_connection_is_named_by_no_crosspost_even_when_its_id_returns(
    client, connected, fake_mastodon, make_business, make_user
):
    """After Alice disconnects, her status names no account, not even Bob's new connection."""
    row = send(client, business_on(fake_mastodon, make_business, "bakery"))
    assert client.post("/settings/mastodon/disconnect").status_code == 302
    db.session.expire_all()
    assert row.account_id is None and row.account is None

    AuthActions(client).logout()
    fake_mastodon.add_account("bob")
    bob = make_user("bob")
    AuthActions(client).login("bob")
    assert mastodon_sign_in(client, fake_mastodon, "bob").status_code == 302
    db.session.expire_all()
    assert bob.mastodon_account is not None
    assert row.account_id is None and row.account is None
