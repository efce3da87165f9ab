"""Passkeys and recovery codes: signing up and in, the checks on the answers, naming and
removing passkeys, the last way in, and one-time codes."""

from __future__ import annotations

import re
import time

import pytest
import sqlalchemy as sa
from conftest import PASSWORD, AuthActions, mastodon_sign_in
from helpers import count, csrf_token, page_text
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from passkey_support import Authenticator, add_passkey, b64url, sign_in, sign_up

from webapp.extensions import db
from webapp.models import MailMessage, Passkey, RecoveryCode, User
from webapp.services import accounts


@pytest.fixture
def device() -> Authenticator:
    """Return a phone that holds passkeys for praisewall.test."""
    return Authenticator()


def signed_in_as(client) -> str | None:
    """Return who the client is signed in as, from the CSRF-token endpoint."""
    user = client.get("/csrf-token").json["user"]
    return db.session.get(User, int(user)).username if user else None


def alice() -> User:
    """Return alice, fresh from the database."""
    db.session.expire_all()
    return db.session.scalars(sa.select(User).where(User.username == "alice")).one()


def codes_on(page) -> list[str]:
    """Return the recovery codes a settings page shows."""
    return re.findall(r"<code>([a-z0-9]{5}-[a-z0-9]{5})</code>", page.text)


# --- Signing up and in ---


def test_signing_up_with_a_passkey_makes_an_account_with_no_password(client, device):
    """The passkey is the way in: signed in at once, sent to write a first post."""
    response = sign_up(client, device, "Alice", name="My phone")
    assert response.status_code == 200
    assert response.json == {"redirect": "/posts/new"}
    assert signed_in_as(client) == "alice"
    assert alice().password_hash is None
    settings = page_text(client.get("/settings"))
    assert "My phone" in settings and "not used yet" in settings


def test_a_passkey_signs_in_without_a_username(client, device):
    """Signed out, the same device signs back in with nothing typed."""
    sign_up(client, device)
    AuthActions(client).logout()
    options = client.post("/login/passkey/options", json={}).json
    assert options["allowCredentials"] == [] and options["userVerification"] == "preferred"
    response = client.post("/login/passkey", json={"credential": device.get(options)})
    assert response.status_code == 200 and response.json == {"redirect": "/"}
    assert signed_in_as(client) == "alice"
    assert "last used" in page_text(client.get("/settings"))


def test_a_username_first_asks_only_for_that_accounts_passkeys(client, device):
    """Typed first, a username narrows the passkeys to its own; an unknown one looks the same."""
    sign_up(client, device)
    AuthActions(client).logout()
    options = client.post("/login/passkey/options", json={"username": "@Alice"}).json
    [allowed] = options["allowCredentials"]
    assert allowed["id"] == db.session.scalars(sa.select(Passkey.credential_id)).one()
    nobody = client.post("/login/passkey/options", json={"username": "nobody"}).json
    assert nobody.keys() == options.keys() and nobody["allowCredentials"] == []
    assert sign_in(client, device, "alice").status_code == 200


def test_a_passkey_named_for_another_account_is_refused(client, device):
    """After naming bob's account, alice's passkey doesn't sign in, even as alice."""
    sign_up(client, device)
    AuthActions(client).logout()
    other = Authenticator()
    sign_up(client, other, "bob")
    AuthActions(client).logout()
    options = client.post("/login/passkey/options", json={"username": "bob"}).json
    alices = next(iter(device.keys))
    response = client.post("/login/passkey", json={"credential": device.get(options, alices)})
    assert response.status_code == 401
    assert signed_in_as(client) is None


def test_sign_in_asks_where_to_go_next(client, device):
    """The page someone was sent to log in from is where a passkey takes them, never away."""
    sign_up(client, device)
    AuthActions(client).logout()
    options = client.post("/login/passkey/options", json={}).json
    response = client.post(
        "/login/passkey?next=/settings", json={"credential": device.get(options)}
    )
    assert response.json == {"redirect": "/settings"}
    AuthActions(client).logout()
    options = client.post("/login/passkey/options", json={}).json
    response = client.post(
        "/login/passkey?next=//evil.example", json={"credential": device.get(options)}
    )
    assert response.json == {"redirect": "/"}


@pytest.mark.parametrize(
    ("username", "message"),
    [("", "Choose a username."), ("a", "Use 3 to 30"), ("bob", "That username is taken")],
)
def test_signing_up_refuses_a_bad_or_taken_username_before_asking_for_a_passkey(
    client, make_user, username, message
):
    """The username is checked first, so nobody makes a passkey for an account they can't have."""
    make_user("bob")
    response = client.post("/register/passkey/options", json={"username": username})
    assert response.status_code == 422
    assert message in response.json["error"]


def test_a_username_taken_while_the_passkey_was_made_is_refused(client, device, make_user):
    """Two people racing for one name: the second is told, and no account is made."""
    options = client.post("/register/passkey/options", json={"username": "carol"}).json
    make_user("carol")
    response = client.post("/register/passkey", json={"credential": device.create(options)})
    assert response.status_code == 409 and "taken" in response.json["error"]
    assert count(Passkey) == 0


def test_someone_signed_in_is_not_signed_up_or_in_again(client, device, auth):
    """The JSON steps answer 409 to a signed-in person."""
    auth.register()
    for path in ("/register/passkey/options", "/login/passkey/options"):
        response = client.post(path, json={"username": "carol"})
        assert response.status_code == 409 and "signed in already" in response.json["error"]


# --- The checks on a browser's answer ---


def test_an_answer_without_a_challenge_is_refused(client, device):
    """Nothing was asked: whatever comes back is turned away, and no account is made."""
    options = {"challenge": b64url(b"x" * 32), "user": {"id": b64url(b"h")}}
    response = client.post("/register/passkey", json={"credential": device.create(options)})
    assert response.status_code == 400 and "Try again" in response.json["error"]
    assert client.post("/login/passkey", json={}).status_code == 400
    assert count(User) == 0


def test_a_challenge_answers_once(client, device):
    """The same answer sent twice signs in only the first time."""
    sign_up(client, device)
    AuthActions(client).logout()
    options = client.post("/login/passkey/options", json={}).json
    credential = device.get(options)
    assert client.post("/login/passkey", json={"credential": credential}).status_code == 200
    AuthActions(client).logout()
    again = client.post("/login/passkey", json={"credential": credential})
    assert again.status_code == 400 and signed_in_as(client) is None


def test_an_old_copy_of_the_cookie_does_not_answer_again(client, device):
    """Replaying a captured answer with the cookie that carried its challenge signs no one in."""
    sign_up(client, device)
    AuthActions(client).logout()
    options = client.post("/login/passkey/options", json={}).json
    captured = client.get_cookie("session", domain="praisewall.test")
    credential = device.get(options)
    assert client.post("/login/passkey", json={"credential": credential}).status_code == 200
    AuthActions(client).logout()
    client.set_cookie("session", captured.value, domain=captured.domain, path=captured.path)
    again = client.post("/login/passkey", json={"credential": credential})
    assert again.status_code == 400 and "Try again" in again.json["error"]
    assert signed_in_as(client) is None


def test_a_stale_challenge_is_refused(client, device, monkeypatch):
    """Options left open longer than the browser's timeout can't be answered."""
    sign_up(client, device)
    AuthActions(client).logout()
    options = client.post("/login/passkey/options", json={}).json
    later = time.time() + 301
    monkeypatch.setattr(time, "time", lambda: later)
    response = client.post("/login/passkey", json={"credential": device.get(options)})
    assert response.status_code == 400 and "took too long" in response.json["error"]


def test_a_challenge_for_signing_up_does_not_sign_in(client, device):
    """Each step's challenge is for that step only."""
    sign_up(client, device)
    AuthActions(client).logout()
    client.post("/register/passkey/options", json={"username": "carol"})
    options = {"challenge": b64url(b"y" * 32)}
    response = client.post("/login/passkey", json={"credential": device.get(options)})
    assert response.status_code == 400


@pytest.mark.parametrize(
    "spoil",
    [
        pytest.param(lambda c: c["response"].update(signature=b64url(b"0" * 70)), id="signature"),
        pytest.param(lambda c: c.update(rawId=b64url(b"unknown"), id="x"), id="unknown passkey"),
        pytest.param(lambda c: c["response"].update(userHandle=b64url(b"other")), id="handle"),
        pytest.param(lambda c: c.update(response="nonsense"), id="malformed"),
        pytest.param(lambda c: c.clear(), id="empty"),
    ],
)
def test_a_spoiled_sign_in_is_refused(client, device, spoil):
    """A bad signature, a passkey we don't know, another's handle or junk: 401, nobody in."""
    sign_up(client, device)
    AuthActions(client).logout()
    options = client.post("/login/passkey/options", json={}).json
    credential = device.get(options)
    spoil(credential)
    response = client.post("/login/passkey", json={"credential": credential})
    assert response.status_code == 401 and response.json["error"]
    assert signed_in_as(client) is None


def test_an_answer_from_another_site_is_refused(client, device):
    """A passkey answer written for another origin doesn't sign up or in here."""
    options = client.post("/register/passkey/options", json={"username": "alice"}).json
    credential = device.create(options, origin="https://evil.example")
    response = client.post("/register/passkey", json={"credential": credential})
    assert response.status_code == 400 and count(User) == 0
    sign_up(client, device)
    AuthActions(client).logout()
    options = client.post("/login/passkey/options", json={}).json
    credential = device.get(options, origin="https://evil.example")
    assert client.post("/login/passkey", json={"credential": credential}).status_code == 401


def test_a_sign_count_that_goes_back_is_refused(client, device):
    """A counter lower than last time means a copied key: refused, and the count stays."""
    sign_up(client, device)
    AuthActions(client).logout()
    assert sign_in(client, device).status_code == 200
    AuthActions(client).logout()
    options = client.post("/login/passkey/options", json={}).json
    response = client.post("/login/passkey", json={"credential": device.get(options, counter=0)})
    assert response.status_code == 401 and "counter went backwards" in response.json["error"]
    db.session.expire_all()
    assert db.session.scalars(sa.select(Passkey.sign_count)).one() == 1


def test_passkey_sign_ins_are_limited_like_password_logins(make_app, device):
    """Failed passkey answers from one address count against the login limit."""
    app = make_app(LOGIN_RATE_LIMIT="2 per minute")
    client = app.test_client()
    with app.app_context():
        for _ in range(2):
            options = client.post("/login/passkey/options", json={}).json
            credential = {"rawId": b64url(b"unknown"), "id": "x", "response": {}}
            response = client.post("/login/passkey", json={"credential": credential})
            assert response.status_code == 401
        client.post("/login/passkey/options", json={})
        assert client.post("/login/passkey", json={"credential": {}}).status_code == 429
    assert options


# --- Passkeys in the settings ---


def notices_to(address: str) -> list[str]:
    """Return the subjects of the messages queued for an address."""
    return list(
        db.session.scalars(
            sa.select(MailMessage.subject)
            .where(MailMessage.to_address == address)
            .order_by(MailMessage.id)
        )
    )


def test_a_new_passkey_or_new_codes_are_told_to_the_confirmed_address(client, auth, device):
    """A borrowed session can't add a way in silently: the account's address hears of each."""
    auth.register()
    user = alice()
    user.email = "alice@example.com"
    db.session.commit()
    assert add_passkey(client, device, "Phone").status_code == 200
    client.post("/settings/recovery-codes")
    assert notices_to("alice@example.com") == ["A new way into your account"] * 2


def test_no_notice_without_a_confirmed_address(client, auth, device):
    """An address still waiting for its link hears nothing of the account."""
    auth.register()
    user = alice()
    user.new_email = "alice@example.com"
    db.session.commit()
    assert add_passkey(client, device).status_code == 200
    assert notices_to("alice@example.com") == []


def test_a_password_account_adds_names_and_removes_passkeys(client, auth, device):
    """Add two, rename one, remove one: the list says so each time."""
    auth.register()
    response = add_passkey(client, device, "  Work   laptop ")
    assert response.status_code == 200
    assert response.json == {"redirect": "/settings#passkeys"}
    assert "Added your passkey “Work laptop”" in page_text(client.get("/settings"))
    assert add_passkey(client, Authenticator()).status_code == 200
    first, second = db.session.scalars(sa.select(Passkey).order_by(Passkey.id)).all()
    assert second.name == "Passkey 2"
    response = client.post(f"/settings/passkeys/{second.id}/rename", data={"name": "Phone"})
    assert response.status_code == 302
    page = page_text(client.get("/settings"))
    assert "Renamed your passkey “Phone”" in page and "Work laptop" in page
    assert client.post(f"/settings/passkeys/{first.id}/remove").status_code == 302
    page = page_text(client.get("/settings"))
    assert "Removed “Work laptop”. It no longer signs you in." in page
    assert count(Passkey) == 1
    auth.logout()
    # The removed passkey's device no longer signs in; the other one does.
    options = client.post("/login/passkey/options", json={}).json
    removed = client.post("/login/passkey", json={"credential": device.get(options)})
    assert removed.status_code == 401


def test_a_new_passkey_excludes_those_already_held(client, auth, device):
    """The options list the person's passkeys, so a device doesn't make a second one."""
    auth.register()
    add_passkey(client, device)
    options = client.post("/settings/passkeys/options", json={}).json
    assert [c["id"] for c in options["excludeCredentials"]] == [
        db.session.scalars(sa.select(Passkey.credential_id)).one()
    ]
    assert options["authenticatorSelection"]["residentKey"] == "required"
    # One person's passkeys are filed under one name on their devices.
    assert options["user"]["id"] == db.session.scalars(sa.select(Passkey.user_handle)).one()


def test_the_same_passkey_cant_be_added_twice(client, auth, device):
    """A credential already on an account is refused."""
    auth.register()
    options = client.post("/settings/passkeys/options", json={}).json
    credential = device.create(options)
    assert client.post("/settings/passkeys", json={"credential": credential}).status_code == 200
    options = client.post("/settings/passkeys/options", json={}).json
    credential = device.create(options, again=next(iter(device.keys)))
    again = client.post("/settings/passkeys", json={"credential": credential})
    assert again.status_code == 400 and "already on an account" in again.json["error"]


@pytest.mark.parametrize(
    ("name", "message"), [("", "Give the passkey a name"), ("x" * 61, "under")]
)
def test_a_passkey_needs_a_short_name(client, auth, device, name, message):
    """An empty or long name goes back to fix, next to that passkey, and nothing changes."""
    auth.register()
    add_passkey(client, device, "Phone")
    passkey = db.session.scalars(sa.select(Passkey)).one()
    response = client.post(f"/settings/passkeys/{passkey.id}/rename", data={"name": name})
    assert response.status_code == 422 and message in page_text(response)
    db.session.expire_all()
    assert db.session.scalars(sa.select(Passkey.name)).one() == "Phone"


def test_a_long_name_for_a_new_passkey_is_refused(client, auth, device):
    """Naming a passkey as it is made has the same limit."""
    auth.register()
    response = add_passkey(client, device, "x" * 61)
    assert response.status_code == 400 and "under 60" in response.json["error"]
    assert count(Passkey) == 0


def test_nobody_renames_or_removes_anothers_passkey(client, device, make_user):
    """Someone else's passkey number is a 404, and it stays as it was."""
    sign_up(client, device)
    passkey = db.session.scalars(sa.select(Passkey)).one()
    AuthActions(client).logout()
    make_user("bob")
    AuthActions(client).login("bob")
    rename = {"name": "Mine now"}
    assert client.post(f"/settings/passkeys/{passkey.id}/rename", data=rename).status_code == 404
    assert client.post(f"/settings/passkeys/{passkey.id}/remove").status_code == 404
    assert client.post("/settings/passkeys/99999/remove").status_code == 404
    db.session.expire_all()
    assert db.session.get(Passkey, passkey.id).name == "Passkey 1"


def test_the_last_way_in_cant_be_removed(client, device):
    """Only a passkey lets alice in: removing it is refused, with what to do instead."""
    sign_up(client, device)
    passkey = db.session.scalars(sa.select(Passkey)).one()
    response = client.post(f"/settings/passkeys/{passkey.id}/remove", follow_redirects=True)
    assert "That is your only way to sign in, so we kept it." in page_text(response)
    assert count(Passkey) == 1
    data = {"password": PASSWORD, "confirm": PASSWORD}
    assert client.post("/settings/password", data=data).status_code == 302
    assert client.post(f"/settings/passkeys/{passkey.id}/remove").status_code == 302
    assert count(Passkey) == 0


def test_a_mastodon_account_adds_a_passkey_and_may_then_disconnect(client, fake_mastodon):
    """Signed in with Mastodon, alice adds a passkey; with it she may drop Mastodon, and the
    passkey becomes her last way in."""
    mastodon_sign_in(client, fake_mastodon)
    device = Authenticator()
    assert add_passkey(client, device, "Phone").status_code == 200
    page = page_text(client.get("/settings"))
    assert "Disconnect and revoke access" in page
    passkey = db.session.scalars(sa.select(Passkey)).one()
    assert client.post("/settings/mastodon/disconnect").status_code == 302
    assert alice().mastodon_account is None
    response = client.post(f"/settings/passkeys/{passkey.id}/remove", follow_redirects=True)
    assert "only way to sign in" in page_text(response)
    AuthActions(client).logout()
    assert sign_in(client, device).status_code == 200


def test_only_passkeys_and_no_email_is_warned_about(client, device):
    """Losing the device would lose the account: the settings say so until there's a way back."""
    sign_up(client, device)
    warning = "If you lose the device that holds them, you lose your account."
    assert warning in page_text(client.get("/settings"))
    user = alice()
    user.email = "alice@example.com"
    db.session.commit()
    assert warning not in page_text(client.get("/settings"))


def test_a_password_account_is_not_warned(client, auth, device):
    """A password is a way back, so no warning."""
    auth.register()
    add_passkey(client, device)
    assert "you lose your account" not in page_text(client.get("/settings"))


def test_leaving_removes_passkeys_and_codes(client, device):
    """Deleting the account deletes its passkeys and recovery codes; the passkey no longer works."""
    sign_up(client, device)
    client.post("/settings/recovery-codes")
    response = client.post("/settings/delete", data={"password": "alice"})
    assert response.status_code == 302
    assert count(User) == count(Passkey) == count(RecoveryCode) == 0
    options = client.post("/login/passkey/options", json={}).json
    response = client.post("/login/passkey", json={"credential": device.get(options)})
    assert response.status_code == 401


# --- Recovery codes ---


def test_recovery_codes_are_shown_once_and_kept_hashed(client, device):
    """Ten codes on the page that made them, never again, and none of them in the database."""
    sign_up(client, device)
    response = client.post("/settings/recovery-codes")
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    codes = codes_on(response)
    assert len(codes) == len(set(codes)) == 10
    page = client.get("/settings")
    assert codes_on(page) == [] and "You have 10 unused codes." in page_text(page)
    stored = " ".join(db.session.scalars(sa.select(RecoveryCode.code_hash)))
    for code in codes:
        assert code not in stored and code.replace("-", "") not in stored


def test_a_recovery_code_signs_in_once(client, device):
    """Username and code sign in and burn the code; the same code then fails."""
    sign_up(client, device)
    codes = codes_on(client.post("/settings/recovery-codes"))
    AuthActions(client).logout()
    assert "Use a recovery code" in page_text(client.get("/login"))
    data = {"username": "Alice", "code": " " + codes[3].upper().replace("-", " ") + " "}
    response = client.post("/login/recovery", data=data, follow_redirects=True)
    assert signed_in_as(client) == "alice"
    assert "That code is used up; you have 9 left." in page_text(response)
    AuthActions(client).logout()
    again = client.post("/login/recovery", data={"username": "alice", "code": codes[3]})
    assert again.status_code == 401
    assert "That username and recovery code don't match." in page_text(again)
    assert signed_in_as(client) is None


def test_new_codes_replace_the_old(client, device):
    """Making codes again makes every earlier one stop working."""
    sign_up(client, device)
    old = codes_on(client.post("/settings/recovery-codes"))
    new = codes_on(client.post("/settings/recovery-codes"))
    assert set(old).isdisjoint(new) and count(RecoveryCode) == 10
    AuthActions(client).logout()
    data = {"username": "alice", "code": old[0]}
    assert client.post("/login/recovery", data=data).status_code == 401
    data = {"username": "alice", "code": new[0]}
    assert client.post("/login/recovery", data=data).status_code == 302


def test_a_code_works_only_for_its_own_account(client, device, make_user):
    """Alice's code doesn't sign in as bob, nor as nobody."""
    make_user("bob")
    sign_up(client, device)
    [code, *_] = codes_on(client.post("/settings/recovery-codes"))
    AuthActions(client).logout()
    for name in ("bob", "nobody"):
        response = client.post("/login/recovery", data={"username": name, "code": code})
        assert response.status_code == 401
    assert count(RecoveryCode) == 10


def test_an_empty_recovery_form_goes_back_to_fix(client):
    """Both fields are needed."""
    response = client.post("/login/recovery", data={})
    assert response.status_code == 422
    assert "Enter one of your recovery codes." in page_text(response)


def test_recovery_codes_are_limited_like_password_logins(make_app, device):
    """Wrong codes for one account from one address run into the login limit, then a right
    one waits too."""
    app = make_app(LOGIN_ADDRESS_ACCOUNT_RATE_LIMIT="3 per minute")
    client = app.test_client()
    with app.app_context():
        sign_up(client, device)
        [code, *_] = codes_on(client.post("/settings/recovery-codes"))
        AuthActions(client).logout()
        for _ in range(3):
            wrong = {"username": "alice", "code": "aaaaa-aaaaa"}
            assert client.post("/login/recovery", data=wrong).status_code == 401
        right = {"username": "alice", "code": code}
        response = client.post("/login/recovery", data=right)
        assert response.status_code == 429 and "Too many tries" in response.text
        assert count(RecoveryCode) == 10


def test_the_json_steps_need_the_csrf_token_in_a_header(csrf_app):
    """A script's request without the page's token is refused; with it in X-CSRFToken, it works."""
    client = csrf_app.test_client()
    token = csrf_token(client.get("/login").text)
    refused = client.post("/login/passkey/options", json={})
    assert refused.status_code == 400
    answered = client.post("/login/passkey/options", json={}, headers={"X-CSRFToken": token})
    assert answered.status_code == 200 and answered.json["challenge"]


JSON_STEPS = [
    "/register/passkey/options",
    "/register/passkey",
    "/login/passkey/options",
    "/login/passkey",
    "/settings/passkeys/options",
    "/settings/passkeys",
]


def nested(inner: st.SearchStrategy) -> st.SearchStrategy:
    """Wrap JSON values in lists and objects."""
    return st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=20), inner)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=50),
    nested,
    max_leaves=20,
)
credential_like = st.fixed_dictionaries(
    {},
    optional={
        "id": json_values,
        "rawId": st.text(max_size=60) | json_values,
        "type": st.just("public-key") | json_values,
        "response": st.dictionaries(
            st.sampled_from(
                [
                    "clientDataJSON",
                    "attestationObject",
                    "authenticatorData",
                    "signature",
                    "userHandle",
                ]
            ),
            st.text(max_size=80) | json_values,
        )
        | json_values,
    },
)


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    step=st.sampled_from(JSON_STEPS),
    body=st.fixed_dictionaries(
        {}, optional={"username": json_values, "name": json_values, "credential": credential_like}
    )
    | json_values,
)
def test_hostile_json_never_breaks_a_step(app, client, step, body):
    """Any JSON at any step, with a challenge waiting: an answer, never a 5xx, and no passkey."""
    app.config["REGISTER_RATE_LIMIT"] = "1000 per minute"
    if not count(User):
        make_alice()
    AuthActions(client).logout()
    if step.startswith("/settings"):
        AuthActions(client).login()
        client.post("/settings/passkeys/options", json={})
    else:
        client.post(step.removesuffix("/options") + "/options", json={"username": "newcomer"})
    response = client.post(step, json=body)
    assert response.status_code < 500, response.text
    assert count(Passkey) == 0


def make_alice() -> None:
    """Make alice an account with a password."""
    accounts.create_user("alice", PASSWORD)
    db.session.commit()


def test_passkey_sign_ups_are_limited_like_the_sign_up_form(make_app):
    """Asking whether names are free counts against the sign-up limit, per address."""
    app = make_app(REGISTER_RATE_LIMIT="2 per minute")
    client = app.test_client()
    with app.app_context():
        for name in ("carol", "dave"):
            response = client.post("/register/passkey/options", json={"username": name})
            assert response.status_code == 200
        response = client.post("/register/passkey/options", json={"username": "erin"})
        assert response.status_code == 429
