"""docs/osc.md is the reference: every address the server serves is documented there."""
from pathlib import Path

from bridge.routes import MAX_COUNT, ROUTES

DOC = (Path(__file__).resolve().parent.parent / "docs" / "osc.md").read_text(encoding="utf-8")


def test_every_address_is_documented():
    missing = [a for a in ROUTES if f"`{a}`" not in DOC]
    assert not missing, f"not in docs/osc.md: {missing}"


def test_the_cap_is_documented():
    assert f"The cap on `count` is {MAX_COUNT}" in DOC.replace("**", "")


def test_documented_request_addresses_exist():
    import re

    requests = DOC.split("## Requests", 1)[1].split("## Pushes", 1)[0]
    documented = set(re.findall(r"^\| `(/soundalike/[a-z_/]+)`", requests, re.M))
    assert documented == set(ROUTES)
