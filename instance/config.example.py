# Copy to instance/config.py to change settings on this machine; it is never committed.
# Secrets are generated into instance/ on first run, or come from the environment
# (WEBAPP_SECRET_KEY, DATABASE_URL, REDIS_URL).

# SQLALCHEMY_DATABASE_URI = "postgresql+psycopg://praisewall@127.0.0.1:5432/praisewall"
# LOGIN_RATE_LIMIT = "10 per minute;50 per hour"
# SESSION_COOKIE_SECURE = True   # behind https; also set REMEMBER_COOKIE_SECURE
# MAIL_URL = "smtp://praisewall@mail.example:587?starttls=true"   # password: WEBAPP_MAIL_PASSWORD
# MAIL_FROM = "Praisewall <hello@praisewall.example>"
# SITE_URL = "https://praisewall.example"   # the links in notifications
# WEBAUTHN_RP_ID = "praisewall.example"   # the domain passkeys belong to; don't change it later
# WEBAUTHN_ORIGIN = "https://praisewall.example"
