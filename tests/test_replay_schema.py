"""What the full verify's replay leaves out of the schema: only derived work, never a check."""

from __future__ import annotations

import re

from provenance.ledger import replaycheck
from provenance.ledger.verify import _statements


def _names(statements: list[str]) -> set[str]:
    found = set()
    for s in statements:
        match = re.match(r'CREATE\s+(?:UNIQUE\s+)?(?:TRIGGER|INDEX)\s+(?:IF\s+NOT\s+EXISTS\s+)?'
                         r'"?(\w+)"?', s, re.IGNORECASE)
        if match:
            found.add(match.group(1))
    return found


def test_only_the_full_text_triggers_are_left_out():
    statements = _statements()
    left_out = _names(replaycheck._search_only(statements))
    assert left_out == {f"{table}_{when}" for table in ("sightings", "custody", "claims",
                                                          "page_text")
                        for when in ("ai", "ad", "au")}
    # The log's and the fixity rows' protections stay (the replay never writes them, but a
    # trigger that refuses something is never taken for derived work).
    triggers = _names([s for s in statements if re.match(r"CREATE\s+TRIGGER", s, re.I)])
    assert {"events_no_update", "events_no_delete", "events_next_seq",
            "fixity_checks_no_update"} <= triggers - left_out


def test_the_indexes_left_out_are_plain_ones_on_registration_tables():
    left_out = replaycheck._deferred(_statements())
    assert left_out and all(not re.match(r"CREATE\s+UNIQUE", s, re.I) for s in left_out)
    assert all(re.search(r'\bON\s+"?(items|hashes|sightings|custody|claims|near_duplicates)\b',
                         s, re.I) for s in left_out)
    assert {"custody_item", "claims_item", "near_duplicates_item",
            "near_duplicates_other"} <= _names(left_out)
