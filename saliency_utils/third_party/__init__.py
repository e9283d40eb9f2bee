"""Third-party code vendored into the book's package, each in its own folder with its licence
and a NOTICE of what was changed: ``unisal`` (Apache-2.0, rdroste/unisal)."""
