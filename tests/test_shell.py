"""Small formatting rules the pages rely on."""

from dashboard.shell import money


def test_money_is_compact_and_exact_in_magnitude():
    assert money(2_733.4) == "2,733"
    assert money(9_999) == "9,999"
    assert money(22_578.7, "USD") == "USD 22.58k"
    assert money(225_787.3) == "225.8k"
    assert money(1_993_264) == "1.99M"
    assert money(-51_200) == "-51.20k"
    assert money(3.2e9, "EUR") == "EUR 3.20B"
    assert money(None) == "—"
