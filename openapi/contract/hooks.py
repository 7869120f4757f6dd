"""Schemathesis hooks: generators for the formats the document names but JSON Schema cannot
spell out, so that generated "valid" data is what the server really accepts."""

import schemathesis
from hypothesis import strategies as st

# `format: phone`: a number libphonenumber holds valid, in E.164 or as the demo merchant's
# country (US) writes it nationally. US numbers: an area code in use, an exchange from 2 to 9.
_AREA_CODES = ["201", "206", "212", "305", "312", "415", "503", "617", "646", "702", "718", "917"]
_us = st.tuples(
    st.sampled_from(_AREA_CODES),
    st.integers(min_value=200, max_value=999),
    st.integers(min_value=0, max_value=9999),
)
_e164 = _us.map(lambda t: f"+1{t[0]}{t[1]}{t[2]:04d}")
_national = _us.map(lambda t: f"({t[0]}) {t[1]}-{t[2]:04d}")
schemathesis.openapi.format("phone", st.one_of(_e164, _national))
