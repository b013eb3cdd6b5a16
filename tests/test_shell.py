"""Small formatting rules the pages rely on."""

from dashboard.shell import NO_CURRENCY, card_label, money


def test_money_is_compact_and_exact_in_magnitude():
    assert money(2_733.4) == "2,733"
    assert money(9_999) == "9,999"
    assert money(22_578.7, "USD") == "USD 22.58k"
    assert money(225_787.3) == "225.8k"
    assert money(1_993_264) == "1.99M"
    assert money(-51_200) == "-51.20k"
    assert money(3.2e9, "EUR") == "EUR 3.20B"
    assert money(None) == "—"
    assert money(4_790_000, NO_CURRENCY) == "4.79M (currency not set)"


def test_a_card_names_its_currency_or_stays_short_without_one():
    """Without a currency a card keeps its label short (a narrow card cut "(currency not set)" to
    "(currenc…"); the page's caption says the currency is not set instead."""
    assert card_label("Avg. deal", "USD") == "Avg. deal (USD)"
    assert card_label("Velocity", "£", per="day") == "Velocity (£/day)"
    assert card_label("Avg. deal", NO_CURRENCY) == "Avg. deal"
    assert card_label("Velocity", NO_CURRENCY, per="day") == "Velocity (per day)"


def test_every_money_column_of_a_table_is_shown_to_the_cent():
    """"localized" showed a table's money as 2,575.341 beside 103,618: every money column is
    given to the cent, with thousands separators, and says its currency."""
    from dashboard.components import table

    money = [header for header, kind in table.COLUMNS.values() if kind == "money"]
    assert money and all(table._config(h, "money", "USD")["type_config"]["format"] == "%,.2f" for h in money)
    assert table._config("revenue", "money", "USD")["label"] == "revenue (USD)"
