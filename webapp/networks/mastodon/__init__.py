"""Everything Mastodon: the network object (network.py), the API client and what its errors
mean (client.py, errors.py), sign-in (oauth.py, signin.py), servers and their limits
(servers.py), counting and status text (text.py), handles (handles.py) and reply proof over
ActivityPub (proof.py). The address-checked transport they share is webapp/infra/http.py."""
