"""HTTP plumbing shared by every area.

Security headers, HTTP caching and the page cache, compression, versioned static URLs, error
pages, the forms' base, pagination, rate limits and the 404 lookups of public URLs.
"""
