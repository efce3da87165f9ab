"""The installable app: manifest, service worker, offline page, and sharing."""
