"""Safe defaults for every setting; secrets come from instance/ or the environment."""

from __future__ import annotations


class DefaultConfig:
    """Settings that suit a laptop: SQLite in instance/, memory rate limits."""

    SQLALCHEMY_DATABASE_URI = "sqlite:///praisewall.db"
    RATELIMIT_STORAGE_URI = "memory://"
    # Stated, not left out: Flask-Limiter otherwise carries the last app's choice over to the next.
    RATELIMIT_ENABLED = True
    RATELIMIT_HEADERS_ENABLED = True
    # Failed logins: per address, per address and account, and per account from devices that
    # have never signed in to it (the owner's own devices are never held back by others' guesses).
    # One address alone can't use up an account's allowance, so it can't lock the owner out.
    LOGIN_RATE_LIMIT = "10 per minute;50 per hour"
    LOGIN_ADDRESS_ACCOUNT_RATE_LIMIT = "5 per minute;20 per hour;50 per day"
    LOGIN_ACCOUNT_RATE_LIMIT = "30 per minute;100 per hour;300 per day"
    # Every sign-up attempt from one address counts, so names can't be probed at speed either.
    REGISTER_RATE_LIMIT = "10 per hour;30 per day"
    # Per person: only posts and reports that went through count, not forms sent back to fix.
    # Posts made with the form and through the API count together.
    POST_RATE_LIMIT = "30 per hour;100 per day"
    REPORT_RATE_LIMIT = "20 per hour;50 per day"
    # JSON API: reads are counted per address, writes per person, all their tokens together
    # (and per address too).
    API_RATE_LIMIT = "120 per minute;2000 per hour"
    API_WRITE_RATE_LIMIT = "20 per minute;200 per day"
    API_MAX_PAGE = 50
    # Searching businesses on the page, per address, like the API's reads.
    SEARCH_RATE_LIMIT = "120 per minute;2000 per hour"
    # A post is at most a few kilobytes; anything near this is abuse.
    MAX_CONTENT_LENGTH = 256 * 1024
    MAX_FORM_MEMORY_SIZE = 256 * 1024
    SESSION_COOKIE_HTTPONLY = True
    SESSION_COOKIE_SAMESITE = "Lax"
    SESSION_COOKIE_SECURE = False
    REMEMBER_COOKIE_HTTPONLY = True
    REMEMBER_COOKIE_SAMESITE = "Lax"
    REMEMBER_COOKIE_SECURE = False
    WTF_CSRF_TIME_LIMIT = None
    PASSWORD_HASH_METHOD = "scrypt"  # nosec B105 # a hashing method's name, not a password
    # How many proxies in front of the app set X-Forwarded-*; 0 trusts none.
    PROXY_FIX_HOPS = 0
    # Development only: allow http:// and loopback Mastodon servers (e.g. http://127.0.0.1:3000).
    MASTODON_ALLOW_INSECURE = False
    # Bluesky: the PLC directory that holds did:plc documents, the AppView reads are proxied
    # to (a service DID and fragment, for the atproto-proxy header), and the entryway: the
    # server people of bsky.social sign in at when they type no handle.
    BLUESKY_PLC_URL = "https://plc.directory"
    BLUESKY_APPVIEW = "did:web:api.bsky.app#bsky_appview"
    BLUESKY_ENTRYWAY = "https://bsky.social"
    # Development only (with MASTODON_ALLOW_INSECURE): a local PDS, like http://localhost:2583,
    # that vouches for handles ending in .test through its /.well-known/atproto-did, since
    # those names are in no DNS. Unset, .test handles don't resolve.
    BLUESKY_DEV_HANDLE_SERVER = ""
    DELIVERY_MAX_ATTEMPTS = 8
    # Seconds to wait on a Mastodon API call; None means the built-in 10.
    MASTODON_TIMEOUT: float | None = None
    # Seconds a document fetched from another site (WebFinger, a website proof, a reply) may
    # take in all: a server trickling a byte at a time must not hold a request for long.
    FETCH_DEADLINE = 15.0
    # Claiming a wall fetches from the business's server or website: per person.
    CLAIM_RATE_LIMIT = "10 per minute;60 per hour"
    PER_PAGE = 20
    # Seconds each web process repeats a public page to visitors without a cookie; 0 is off.
    PAGE_CACHE_SECONDS = 5
    # Seconds a rendered part of a page is kept at most (webapp/infra/fragments.py); 0 is off.
    # Shared through Redis (REDIS_URL); without it, kept only where one process serves
    # the site (`flask serve` sets ONE_PROCESS), since no other process could tell of a change.
    FRAGMENT_CACHE_SECONDS = 60
    FRAGMENT_CACHE_REDIS_URL = ""
    ONE_PROCESS = False
    REPORTS_TO_HIDE = 3
    # Mail: WEBAPP_MAIL_URL like smtp://user@host:587?starttls=true or smtps://user@host, the
    # password in WEBAPP_MAIL_PASSWORD. Unset, messages are written to instance/outbox/.
    MAIL_URL = ""
    MAIL_FROM = "Praisewall <praisewall@localhost>"
    MAIL_TIMEOUT = 10
    # The site's address, like https://praisewall.example: notifications are written by the
    # worker, outside any request, and their links must name the site.
    SITE_URL = ""
    # Asking for a password reset link, per address and per account; a confirmation link again,
    # per person. Every request counts, found or not, so the limits tell nothing either.
    RESET_RATE_LIMIT = "5 per hour;20 per day"
    RESET_ACCOUNT_RATE_LIMIT = "3 per hour;10 per day"
    EMAIL_RESEND_RATE_LIMIT = "3 per hour;10 per day"
    # Passkeys: the site's name for them (the domain, no scheme or port) and the origin pages
    # are served from. Unset, both come from SERVER_NAME, or else from each request's host.
    WEBAUTHN_RP_ID = ""
    WEBAUTHN_ORIGIN = ""
    WEBAUTHN_RP_NAME = "Praisewall"
