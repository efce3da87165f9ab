"""Shared fixtures, loaded from tests/fixtures/: the app, people, businesses, Mastodon, browsers.

Test modules import the plain helpers (PASSWORD, AuthActions, send, ...) from here.
"""

from __future__ import annotations

import pytest

# The helpers below are imported before pytest loads the modules as plugins; their asserts
# should still explain themselves when they fail.
pytest.register_assert_rewrite("tests.fixtures")

from tests.fixtures.app import (  # noqa: E402
    FAR_FUTURE,
    ON_CI,
    TEST_DATABASE_URL,
    TEST_FERNET_KEY,
    base_config,
    empty_tables,
    run_queued_tasks,
)
from tests.fixtures.browser import add_business, add_user  # noqa: E402
from tests.fixtures.businesses import BAKERY_HANDLE  # noqa: E402
from tests.fixtures.mastodon import (  # noqa: E402
    BAKERY_ACCT,
    business_on,
    compose_form,
    localhost,
    mastodon_sign_in,
    send,
    submit,
)
from tests.fixtures.people import PASSWORD, AuthActions  # noqa: E402

pytest_plugins = [
    "tests.fixtures.app",
    "tests.fixtures.people",
    "tests.fixtures.businesses",
    "tests.fixtures.mastodon",
    "tests.fixtures.browser",
    "tests.fixtures.bluesky",
]

__all__ = [
    "BAKERY_ACCT",
    "BAKERY_HANDLE",
    "FAR_FUTURE",
    "ON_CI",
    "PASSWORD",
    "TEST_DATABASE_URL",
    "TEST_FERNET_KEY",
    "AuthActions",
    "add_business",
    "add_user",
    "base_config",
    "business_on",
    "compose_form",
    "empty_tables",
    "localhost",
    "mastodon_sign_in",
    "run_queued_tasks",
    "send",
    "submit",
]
