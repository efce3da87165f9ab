"""Bluesky, over the AT Protocol: sign-in, posts with facets and link cards, replies by DID."""
