"""A verified business owner's pages: claim, details and featured praise."""
