#!/usr/bin/env python3
"""Generates a Python client from openapi/openapi.json with openapi-python-client, fails on
any generator warning but the one expected (the CSV import's `text/csv` body, which the
generator does not support), then drives a short integration with it against the server in
LOYALCAST_BASE_URL, authenticated with LOYALCAST_API_KEY (see harness.py).

The integration uses what an integrator connecting a point-of-sale system would: cards,
customer create / search / update / delete, a live segment count, a saved segment read back
through the rule union, a draft mailing sent with no body, balances and a paged list.
"""

import importlib
import os
import re
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path

HERE = Path(__file__).resolve().parent
DOCUMENT = HERE.parent / "openapi.json"
EXPECTED_WARNINGS = {("POST /api/v1/customers/import", "Unsupported content type text/csv")}
# Literal enums: the time zone enum holds names (GMT0, GMT+0, GMT-0) that one Python enum
# cannot tell apart.
CONFIG = """\
post_hooks: []
literal_enums: true
content_type_overrides:
  image/gif: application/octet-stream
  application/vnd.apple.pkpass: application/octet-stream
  image/svg+xml: application/octet-stream
  image/png: application/octet-stream
"""


def generate(into: Path) -> None:
    config = into / "config.yaml"
    config.write_text(CONFIG)
    generator = Path(sys.executable).with_name("openapi-python-client")
    result = subprocess.run(
        [str(generator), "generate", "--path", str(DOCUMENT), "--output-path",
         str(into / "loyalcast_client"), "--meta", "none", "--config", str(config)],
        capture_output=True, text=True,
    )
    output = result.stdout + result.stderr
    if result.returncode != 0:
        raise SystemExit(f"client: the generator failed:\n{output}")
    # Each warning is a "WARNING parsing METHOD PATH within TAG." line and its reason.
    found = set()
    for match in re.finditer(r"WARNING parsing (\S+ \S+) within \S+\.[^\n]*\n\n([^\n]+)", output):
        found.add((match.group(1), match.group(2).strip()))
    stray = [line for line in output.splitlines() if "WARNING" in line.upper()
             and not line.startswith("Warning(s) encountered")
             and not any(op in line for op, _ in EXPECTED_WARNINGS)]
    unexpected = (found - EXPECTED_WARNINGS)
    if unexpected or stray:
        raise SystemExit(f"client: unexpected generator warnings {sorted(unexpected)} {stray}:\n{output}")
    print(f"client: generated; warnings as expected: {sorted(found)}")


def check(condition: bool, what: str) -> None:
    if not condition:
        raise SystemExit(f"client: {what}")


def integrate(base_url: str, api_key: str) -> None:
    c = importlib.import_module("loyalcast_client")
    m = importlib.import_module("loyalcast_client.models")
    api = lambda name: importlib.import_module(f"loyalcast_client.api.{name}")  # noqa: E731
    client = c.AuthenticatedClient(base_url=base_url, token=api_key, raise_on_unexpected_status=True)

    cards = api("cards.cards_list").sync(client=client, per_page=100)
    check(isinstance(cards, m.PageCard), f"cards_list answered {cards!r}")
    check(len(cards.items) >= 1 and all(isinstance(x, m.Card) for x in cards.items),
          "a page of cards holds Card items")

    tag = f"pos-{uuid.uuid4().hex[:8]}"
    email = f"ada-{uuid.uuid4().hex[:8]}@example.com"
    created = api("customers.customers_create").sync(client=client, body=m.NewCustomer(
        first_name="Ada", last_name="Byron", email=email, tags=[tag], visits=4, points=120))
    check(isinstance(created, m.Customer), f"customers_create answered {created!r}")
    found = api("customers.customers_list").sync(client=client, q="ada byron", per_page=10)
    check(isinstance(found, m.PageCustomer) and any(x.id == created.id for x in found.items),
          "the new customer is found by name")
    patched = api("customers.customers_update").sync(
        created.id, client=client, body=m.CustomerPatch(last_name="Lovelace"))
    check(isinstance(patched, m.Customer) and patched.last_name == "Lovelace",
          f"customers_update answered {patched!r}")
    check(patched.first_name == "Ada", "an absent field stays as it was")

    rule = m.SegmentRuleAnd(type_="and", rules=[
        m.SegmentRuleHasTag(type_="has_tag", tag=tag),
        m.SegmentRuleVisits(type_="visits", cmp="gte", value=3),
    ])
    count = api("segments.segments_count").sync(client=client, body=m.CountRequest(rule=rule))
    check(isinstance(count, m.SegmentCount) and count.customers == 1, f"segments_count answered {count!r}")
    segment = api("segments.segments_create").sync(client=client, body=m.SegmentInput(name=f"POS {tag}", rule=rule))
    check(isinstance(segment, m.Segment) and segment.customers == 1, f"segments_create answered {segment!r}")
    read = api("segments.segments_get").sync(segment.id, client=client)
    check(isinstance(read, m.Segment) and isinstance(read.rule, m.SegmentRuleAnd)
          and isinstance(read.rule.rules[1], m.SegmentRuleVisits), f"segments_get answered {read!r}")

    draft = api("mailings.mailings_create").sync(client=client, body=m.NewMailing(
        name=f"Welcome {tag}",
        audience=m.AudienceSegment(type_="segment", segment_id=segment.id),
        channels=["email"],
        content=m.MailingContent(email=m.EmailContent(subject="Hello {first_name}", body="Welcome back.")),
        draft=True,
    ))
    check(isinstance(draft, m.Mailing) and draft.status == "draft", f"mailings_create answered {draft!r}")
    sent = api("mailings.mailings_send").sync(draft.id, client=client)
    check(isinstance(sent, m.Mailing) and sent.status in ("sending", "completed"),
          f"mailings_send with no body answered {sent!r}")
    history = api("mailings.mailings_list").sync(client=client, q=tag)
    check(isinstance(history, m.PageMailingSummary) and [x.id for x in history.items] == [draft.id],
          "the mailing is in the history")
    balances = api("balances.balances_get").sync(client=client)
    check(isinstance(balances, m.Balances), f"balances_get answered {balances!r}")

    gone = api("customers.customers_delete").sync_detailed(created.id, client=client)
    check(gone.status_code == 204, f"customers_delete answered {gone.status_code}")
    missing = api("customers.customers_get").sync(created.id, client=client)
    check(isinstance(missing, m.Problem) and missing.status == 404, f"a deleted customer is a 404 problem: {missing!r}")
    print("client: the generated client drove the integration")


def main() -> int:
    base_url = os.environ["LOYALCAST_BASE_URL"]
    api_key = os.environ["LOYALCAST_API_KEY"]
    with tempfile.TemporaryDirectory(prefix="loyalcast-client-") as tmp:
        generate(Path(tmp))
        sys.path.insert(0, tmp)
        integrate(base_url, api_key)
    return 0


if __name__ == "__main__":
    sys.exit(main())
