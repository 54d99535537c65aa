from __future__ import annotations

import pytest

from airflow_provider_blip.utils.privacy import mask_identities, mask_phone


@pytest.mark.parametrize(
    ("raw", "masked"),
    [
        ("+5531988889999", "+5531*****9999"),
        ("5531988889999@wa.gw.msging.net", "5531*****9999@wa.gw.msging.net"),
        (
            "/contexts/553188889999%40wa.gw.msging.net/master-state",
            "/contexts/5531****9999%40wa.gw.msging.net/master-state",
        ),
        (
            "lime://wa.gw.msging.net/accounts/%2B5531988889999",
            "lime://wa.gw.msging.net/accounts/%2B5531*****9999",
        ),
    ],
)
def test_masks_numbers_in_identities_and_uris(raw, masked):
    assert mask_identities(raw) == masked
    if "/" not in raw:
        assert mask_phone(raw) == masked


@pytest.mark.parametrize(
    ("raw", "masked"),
    [
        ("(31) 98888-7777", "(31) 98***-7777"),
        ("31 9888", "** **88"),
        ("", ""),
        (None, ""),
        ("not a number", "not a number"),
    ],
)
def test_masks_raw_formats_across_separators(raw, masked):
    assert mask_phone(raw) == masked


def test_short_numbers_stay_readable():
    assert mask_identities("attempt 3 of 6, HTTP 429, 2026-11-21, port 8080") == (
        "attempt 3 of 6, HTTP 429, 2026-11-21, port 8080"
    )
