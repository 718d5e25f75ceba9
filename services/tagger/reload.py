"""The taxonomy file, watched: the tagger picks up a changed file without a restart.

A file that does not load is reported once and the taxonomy in use is kept, so a typo in
the live file never stops tagging.
"""
from __future__ import annotations

import hashlib
import logging
from pathlib import Path

from services.tagger.taxonomy import Taxonomy, TaxonomyError, load_taxonomy

log = logging.getLogger(__name__)


def _fingerprint(path: Path) -> str | None:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return None


class TaxonomyWatcher:
    def __init__(self, path: str | Path):
        self.path = Path(path)
        self._seen = _fingerprint(self.path)
        self.taxonomy: Taxonomy = load_taxonomy(self.path)
        self.error: str | None = None

    def changed(self) -> Taxonomy | None:
        """A new, valid taxonomy when the file changed since the last look; else None."""
        seen = _fingerprint(self.path)
        if seen is None or seen == self._seen:
            return None
        self._seen = seen
        try:
            new = load_taxonomy(self.path)
        except TaxonomyError as exc:
            self.error = str(exc)
            log.error("taxonomy file changed but does not load; keeping version %s: %s", self.taxonomy.version, exc)
            return None
        self.error = None
        if new.version == self.taxonomy.version:
            log.warning(
                "taxonomy file changed but kept version %s: articles tagged before and after cannot be "
                "told apart; bump `version`", new.version,
            )
        return new

    def accept(self, new: Taxonomy) -> None:
        self.taxonomy = new

    def retry(self) -> None:
        """Look at the file again next time (what had to follow a change failed)."""
        self._seen = None
