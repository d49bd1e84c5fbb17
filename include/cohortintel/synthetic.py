"""Generate synthetic shop transactions in the UCI Online Retail CSV format, for scale benchmarks.

The output has the header, columns and value formats of the Online Retail CSV
that ``cohortintel.source.load_online_retail`` reads. Each row is one invoice
line. ``InvoiceDate`` is ``YYYY-MM-DD HH:MM:SS`` in UK local time without a
zone, and ``CustomerID`` is an integer or empty. Cancellations are invoices
numbered ``C<number>`` with negative quantities. Descriptions and country
names contain no commas or quotes, so no field is quoted.

The shop is simulated one calendar month at a time with numpy arrays. Each
month is written as soon as it is simulated, so memory depends on the rows of
one month and on the number of customers, not on the total row count.

Usage: ``python -m cohortintel.synthetic --rows 1000000 --out transactions.csv.gz``
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import gzip
import io
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import BinaryIO, TextIO

import numpy as np

from cohortintel.months import add_months, parse_month

HEADER = b"InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country\n"

DEFAULT_SEASONAL_MULTIPLIERS = (
    0.85,  # January
    0.85,
    0.95,
    0.9,
    0.95,
    0.95,
    0.95,
    1.0,
    1.1,
    1.2,
    1.5,  # November
    1.35,  # December
)

DEFAULT_COUNTRIES = (
    ("United Kingdom", 0.85),
    ("Germany", 0.04),
    ("France", 0.035),
    ("EIRE", 0.02),
    ("Spain", 0.015),
    ("Netherlands", 0.015),
    ("Belgium", 0.0125),
    ("Switzerland", 0.0125),
)

# The shop sells in packs, so a line's units before the seasonal multiplier are a pack size.
PACK_SIZES = np.array([1, 2, 3, 4, 6, 8, 10, 12, 24, 48])
PACK_WEIGHTS = np.array([0.2, 0.15, 0.08, 0.1, 0.12, 0.05, 0.05, 0.17, 0.05, 0.03])

# Orders are placed between 07:00 and 19:59, most of them around midday. A
# cancellation on the order's own day can come later, up to 23:59.
OPENING_MINUTE = 7 * 60
CLOSING_MINUTE = 20 * 60
MIDDAY_MINUTE = 12 * 60 + 30
ORDER_MINUTE_STD = 150

SATURDAY = 5  # weekday number with Monday = 0, as in datetime.date.weekday()

# A cancellation comes at most this many days after its order. Because every
# month has at least 28 days, it falls in the order's month or the next one.
MAX_CANCEL_DELAY_DAYS = 26

# Lines formatted at once. The temporary byte matrices of a chunk take a few
# hundred bytes per line.
FORMAT_CHUNK_LINES = 200_000

_COLOURS = (
    "WHITE", "RED", "PINK", "BLUE", "GREEN", "IVORY", "CREAM", "BLACK",
    "SILVER", "GOLD", "VINTAGE", "PASTEL", "RETRO", "NATURAL",
)  # fmt: skip
_MOTIFS = (
    "HEART", "STAR", "FLORAL", "SPOTTY", "STRIPED", "BIRD", "ROSE", "PAISLEY",
    "OWL", "CHRISTMAS", "GINGHAM", "LACE", "DOILY", "CIRCUS",
)  # fmt: skip
_ITEMS = (
    "T-LIGHT HOLDER", "LUNCH BAG", "CAKE CASES", "MUG", "TEA TOWEL", "PHOTO FRAME",
    "CANDLE", "DOORSTOP", "NOTEBOOK", "BUNTING", "LANTERN", "JUMBO BAG", "GIFT WRAP",
    "COASTERS", "CUSHION COVER", "HOT WATER BOTTLE", "PLANT POT", "CLOCK", "PURSE",
    "STORAGE TIN",
)  # fmt: skip


@dataclasses.dataclass(frozen=True)
class SyntheticConfig:
    """Parameters of the simulated shop. The defaults aim at data shaped roughly like Online Retail.

    Attributes:
        rows: target number of invoice lines (default 1,000,000). The number of
            new customers is scaled so that the expected line count equals it.
            The actual count varies with the seed, with a standard deviation
            of about 4% at 30,000 rows, 3% at 120,000 and 0.8% at 1,000,000
            (measured over 40, 40 and 8 seeds with the other defaults).
        first_month: first day of the first simulated month (default 2015-01-01).
        months: number of simulated calendar months (default 36).
        seed: seed of the numpy random generator (default 0). The same seed and
            numpy version give the same bytes.
        new_customer_growth: monthly growth of the mean number of new customers
            (default 0.02, that is 2% more each month). Month ``m`` (from 0)
            has ``base * (1 + growth) ** m`` new customers on average, and
            ``base`` is solved from ``rows``.
        churn_probability: probability that a customer leaves for good in a
            month (default 0.03), drawn every month after the first purchase.
        return_probability: probability that a customer who has not left buys
            in the month right after a purchase (default 0.35).
        return_decay: factor applied to the return probability for each month
            without a purchase (default 0.8), so a customer who last bought
            ``k`` months ago buys with ``return_probability * return_decay ** (k - 1)``.
        extra_orders_mean: mean number of orders beyond the first that a buying
            customer places in the month, Poisson distributed (default 0.3).
        lines_per_order_mean: mean lines per order, geometric with minimum 1
            (default 8.0).
        seasonal_multipliers: twelve factors, January to December, applied to
            the quantity of every line (default peaks at 1.5 in November and
            1.35 in December, with 0.85 to 1.2 in the other months).
        guest_share: share of orders placed without a customer id (default 0.2).
        cancel_share: share of orders cancelled later by a ``C`` invoice with
            the same lines negated (default 0.02).
        cancel_delay_days_mean: mean days from an order to its cancellation
            (default 3.0), capped at 26 days so that the cancellation lands in
            the same or the next month. Cancellations that would fall after the
            last month are left out.
        duplicate_share: share of output lines that are exact copies of the
            line before them (default 0.01), like lines sent twice by the shop.
        products: number of products (default 3000). Popularity follows a
            Zipf-like curve and unit prices are log-normal.
        price_median: median unit price in GBP (default 2.0).
        price_sigma: standard deviation of the log of the unit price (default 0.9).
        countries: pairs of country name and share of customers (default eight
            countries, 85% United Kingdom). A customer keeps the country of
            the first purchase, and guest orders draw a country from the same shares.
        first_invoice_no: invoice number of the first order (default 500000).
        first_customer_id: customer id of the first customer (default 12346).
    """

    rows: int = 1_000_000
    first_month: dt.date = dt.date(2015, 1, 1)
    months: int = 36
    seed: int = 0
    new_customer_growth: float = 0.02
    churn_probability: float = 0.03
    return_probability: float = 0.35
    return_decay: float = 0.8
    extra_orders_mean: float = 0.3
    lines_per_order_mean: float = 8.0
    seasonal_multipliers: tuple[float, ...] = DEFAULT_SEASONAL_MULTIPLIERS
    guest_share: float = 0.2
    cancel_share: float = 0.02
    cancel_delay_days_mean: float = 3.0
    duplicate_share: float = 0.01
    products: int = 3000
    price_median: float = 2.0
    price_sigma: float = 0.9
    countries: tuple[tuple[str, float], ...] = DEFAULT_COUNTRIES
    first_invoice_no: int = 500000
    first_customer_id: int = 12346

    def __post_init__(self) -> None:
        _validate_calendar(self)
        _validate_behaviour(self)
        _validate_catalogue(self)


def _validate_calendar(config: SyntheticConfig) -> None:
    """Raise ValueError unless rows, first_month and months are valid."""
    if config.rows < 1:
        raise ValueError(f"Invalid rows {config.rows}; expected a positive number of lines.")
    if config.months < 1:
        raise ValueError(f"Invalid months {config.months}; expected at least 1.")
    if config.first_month.day != 1:
        raise ValueError(
            f"Invalid first_month {config.first_month}; expected the first day of a month."
        )


def _validate_behaviour(config: SyntheticConfig) -> None:
    """Raise ValueError naming the first invalid probability, share, mean or factor."""
    for name in ("churn_probability", "return_probability"):
        value = getattr(config, name)
        if not 0 <= value <= 1:
            raise ValueError(f"Invalid {name} {value}; expected a probability from 0 to 1.")

    for name in ("guest_share", "cancel_share", "duplicate_share"):
        value = getattr(config, name)
        if not 0 <= value < 1:
            raise ValueError(f"Invalid {name} {value}; expected a share from 0 to below 1.")

    if not 0 < config.return_decay <= 1:
        raise ValueError(f"Invalid return_decay {config.return_decay}; expected 0 < decay <= 1.")
    if config.new_customer_growth <= -1:
        raise ValueError(
            f"Invalid new_customer_growth {config.new_customer_growth}; expected more than -1."
        )

    for name in ("extra_orders_mean", "cancel_delay_days_mean"):
        value = getattr(config, name)
        if value < 0:
            raise ValueError(f"Invalid {name} {value}; expected a value of 0 or more.")

    if config.lines_per_order_mean < 1:
        raise ValueError(
            f"Invalid lines_per_order_mean {config.lines_per_order_mean}; expected at least 1."
        )
    if len(config.seasonal_multipliers) != 12 or min(config.seasonal_multipliers) <= 0:
        raise ValueError(
            f"Invalid seasonal_multipliers {config.seasonal_multipliers}; "
            f"expected 12 positive factors, January to December."
        )


def _validate_catalogue(config: SyntheticConfig) -> None:
    """Raise ValueError naming the first invalid product, price, country or id parameter.

    Country names must be printable ASCII without commas or quotes, because the
    CSV writer neither quotes fields nor keeps NUL bytes.
    """
    if config.products < 1 or config.products > 90_000:
        raise ValueError(f"Invalid products {config.products}; expected 1 to 90000.")
    if config.price_median <= 0 or config.price_sigma < 0:
        raise ValueError(
            f"Invalid price_median {config.price_median} or price_sigma {config.price_sigma}; "
            f"expected a positive median and a sigma of 0 or more."
        )

    if not config.countries:
        raise ValueError("Invalid countries (); expected at least one (name, share) pair.")
    for name, share in config.countries:
        printable = name.isascii() and name.isprintable()
        if not name or not printable or "," in name or '"' in name:
            raise ValueError(
                f"Invalid country name {name!r}; expected non-empty printable ASCII text "
                f"without commas or quotes."
            )
        if share <= 0:
            raise ValueError(f"Invalid share {share} for country {name!r}; expected > 0.")

    if config.first_invoice_no < 100_000:
        raise ValueError(
            f"Invalid first_invoice_no {config.first_invoice_no}; expected 6 digits or more."
        )
    if config.first_customer_id < 1:
        raise ValueError(f"Invalid first_customer_id {config.first_customer_id}; expected > 0.")


# ---------------------------------------------------------------------------
# Expected volume: how many new customers give the requested number of lines


def _buy_probabilities(config: SyntheticConfig) -> np.ndarray:
    """Return the probability of buying, by months since the last purchase from 1 to months."""
    gaps = np.arange(1, config.months + 1)
    return config.return_probability * config.return_decay ** (gaps - 1)


def _return_curve(config: SyntheticConfig) -> np.ndarray:
    """Return the expected share of a cohort that buys at each age 0 .. months - 1.

    Age 0 is the month of the first purchase, so the share there is 1. The
    curve follows the same churn and return draws as the simulation, over the
    distribution of months since the last purchase.
    """
    buy_probability = _buy_probabilities(config)
    # mass[k - 1] is the share of the cohort still present whose last purchase was k months ago.
    mass = np.zeros(config.months)
    mass[0] = 1.0
    curve = np.ones(config.months)
    for age in range(1, config.months):
        mass *= 1 - config.churn_probability
        bought = mass * buy_probability
        curve[age] = bought.sum()
        mass = np.concatenate(([curve[age]], (mass - bought)[:-1]))
    return curve


def expected_new_customers(config: SyntheticConfig) -> np.ndarray:
    """Return the mean number of new customers in each month, scaled to ``config.rows`` lines."""
    growth = (1 + config.new_customer_growth) ** np.arange(config.months)
    purchase_months = np.cumsum(_return_curve(config))
    # A cohort that starts in month m can buy in the months m .. months - 1.
    purchase_months_per_cohort = purchase_months[::-1]
    orders_per_purchase_month = 1 + config.extra_orders_mean
    lines_per_customer_order = (
        config.lines_per_order_mean
        / (1 - config.guest_share)
        * (1 + config.cancel_share)
        / (1 - config.duplicate_share)
    )
    lines_at_base_one = (
        np.sum(growth * purchase_months_per_cohort)
        * orders_per_purchase_month
        * lines_per_customer_order
    )
    return growth * (config.rows / lines_at_base_one)


# ---------------------------------------------------------------------------
# Product catalogue


@dataclasses.dataclass(frozen=True)
class _Catalogue:
    head: np.ndarray  # uint8 (products, width): "StockCode,Description," padded with NUL
    price: np.ndarray  # uint8 (products, width): "UnitPrice," padded with NUL
    popularity_cdf: np.ndarray  # cumulative share of lines per product


def _ascii_table(texts: list[str]) -> np.ndarray:
    """Return the ASCII bytes of ``texts`` as rows of a uint8 matrix, padded with NUL."""
    encoded = np.array([text.encode("ascii") for text in texts])
    return encoded.view(np.uint8).reshape(len(texts), encoded.dtype.itemsize)


def _make_catalogue(config: SyntheticConfig, rng: np.random.Generator) -> _Catalogue:
    count = config.products
    numbers = rng.choice(np.arange(10_000, 100_000), size=count, replace=False)
    suffixes = np.where(rng.random(count) < 0.15, rng.choice(list("ABCDEFGHJKL"), count), "")
    colours = rng.choice(_COLOURS, count)
    motifs = rng.choice(_MOTIFS, count)
    items = rng.choice(_ITEMS, count)
    heads = [
        f"{number}{suffix},{colour} {motif} {item},"
        for number, suffix, colour, motif, item in zip(
            numbers, suffixes, colours, motifs, items, strict=True
        )
    ]

    prices = np.exp(rng.normal(np.log(config.price_median), config.price_sigma, count))
    prices = np.maximum(np.round(prices, 2), 0.01)
    # repr gives the shortest text of the rounded float ("2.1", "3.0"), as in Online Retail.
    price_texts = [f"{float(price)!r}," for price in prices]

    # Zipf-like popularity, shuffled so that it does not follow the stock code.
    weights = 1.0 / (rng.permutation(count) + 10.0)
    cdf = np.cumsum(weights) / weights.sum()
    return _Catalogue(_ascii_table(heads), _ascii_table(price_texts), cdf)


def _draw_products(catalogue: _Catalogue, rng: np.random.Generator, size: int) -> np.ndarray:
    draws = np.searchsorted(catalogue.popularity_cdf, rng.random(size), side="right")
    return np.minimum(draws, len(catalogue.popularity_cdf) - 1)


# ---------------------------------------------------------------------------
# Simulation of one month


@dataclasses.dataclass
class _Orders:
    """Orders and their lines. Lines refer to orders by position."""

    day: np.ndarray  # int64 days since 1970-01-01
    minute: np.ndarray  # int64 minute of the day, UK local time
    customer: np.ndarray  # int64 customer index, -1 for a guest order
    country: np.ndarray  # int64 index into config.countries
    cancellation: np.ndarray  # bool, True for a "C" invoice
    line_order: np.ndarray  # int64 position of each line's order
    product: np.ndarray  # int64 product index
    quantity: np.ndarray  # int64, negative on cancellation lines

    def __len__(self) -> int:
        return len(self.day)

    def take(self, keep: np.ndarray) -> _Orders:
        """Return the orders where the boolean ``keep`` is True, with their lines."""
        new_position = np.cumsum(keep) - 1
        line_keep = keep[self.line_order]
        return _Orders(
            day=self.day[keep],
            minute=self.minute[keep],
            customer=self.customer[keep],
            country=self.country[keep],
            cancellation=self.cancellation[keep],
            line_order=new_position[self.line_order[line_keep]],
            product=self.product[line_keep],
            quantity=self.quantity[line_keep],
        )

    @staticmethod
    def concat(parts: list[_Orders]) -> _Orders:
        offsets = np.cumsum([0] + [len(part) for part in parts[:-1]])
        return _Orders(
            day=np.concatenate([part.day for part in parts]),
            minute=np.concatenate([part.minute for part in parts]),
            customer=np.concatenate([part.customer for part in parts]),
            country=np.concatenate([part.country for part in parts]),
            cancellation=np.concatenate([part.cancellation for part in parts]),
            line_order=np.concatenate(
                [part.line_order + offset for part, offset in zip(parts, offsets, strict=True)]
            ),
            product=np.concatenate([part.product for part in parts]),
            quantity=np.concatenate([part.quantity for part in parts]),
        )


def _empty_orders() -> _Orders:
    empty = np.zeros(0, dtype=np.int64)
    return _Orders(empty, empty, empty, empty, np.zeros(0, bool), empty, empty, empty)


class _Customers:
    """State of every customer seen so far, indexed by customer number from 0."""

    def __init__(self) -> None:
        self.country = np.zeros(0, dtype=np.int64)
        self.last_month = np.zeros(0, dtype=np.int64)
        self.present = np.zeros(0, dtype=bool)  # False once the customer has churned

    def __len__(self) -> int:
        return len(self.country)

    def draw_returning(
        self, month: int, buy_probability: np.ndarray, churn: float, rng: np.random.Generator
    ) -> np.ndarray:
        """Apply this month's churn draws and return the indices of customers who buy again."""
        self.present &= rng.random(len(self)) >= churn
        gap = month - self.last_month
        buys = self.present & (rng.random(len(self)) < buy_probability[gap - 1])
        return np.flatnonzero(buys)

    def add(
        self, count: int, month: int, country_cdf: np.ndarray, rng: np.random.Generator
    ) -> np.ndarray:
        """Add ``count`` new customers who first buy in ``month``; return their indices."""
        first = len(self)
        countries = np.searchsorted(country_cdf, rng.random(count), side="right")
        self.country = np.concatenate([self.country, np.minimum(countries, len(country_cdf) - 1)])
        self.last_month = np.concatenate([self.last_month, np.full(count, month)])
        self.present = np.concatenate([self.present, np.ones(count, dtype=bool)])
        return np.arange(first, first + count)


def _days_since_epoch(day: dt.date) -> int:
    return (day - dt.date(1970, 1, 1)).days


def _weekday(days: np.ndarray) -> np.ndarray:
    # 1970-01-01 was a Thursday (weekday 3).
    return (days + 3) % 7


def _order_minutes(rng: np.random.Generator, size: int) -> np.ndarray:
    minutes = np.rint(rng.normal(MIDDAY_MINUTE, ORDER_MINUTE_STD, size)).astype(np.int64)
    return np.clip(minutes, OPENING_MINUTE, CLOSING_MINUTE - 1)


def _draw_order_lines(
    order_count: int,
    month_of_year: int,
    config: SyntheticConfig,
    catalogue: _Catalogue,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Draw the lines of ``order_count`` orders; return (line_order, product, quantity)."""
    lines = rng.geometric(1 / config.lines_per_order_mean, order_count)
    line_order = np.repeat(np.arange(order_count), lines)
    product = _draw_products(catalogue, rng, len(line_order))

    # An order lists each product once, so that exact duplicates come only from
    # duplicate_share. Clashes are redrawn a few times and the rare rest is kept.
    for _ in range(10):
        key = line_order * config.products + product
        ordered = np.argsort(key, kind="stable")
        clash = ordered[1:][key[ordered][1:] == key[ordered][:-1]]
        if len(clash) == 0:
            break
        product[clash] = _draw_products(catalogue, rng, len(clash))

    packs = rng.choice(PACK_SIZES, len(line_order), p=PACK_WEIGHTS / PACK_WEIGHTS.sum())
    # Stochastic rounding keeps the mean quantity at pack * multiplier.
    scaled = packs * config.seasonal_multipliers[month_of_year - 1]
    quantity = np.maximum(np.floor(scaled + rng.random(len(line_order))), 1).astype(np.int64)
    return line_order, product, quantity


def _draw_cancellations(
    orders: _Orders, config: SyntheticConfig, rng: np.random.Generator
) -> _Orders:
    """Draw which orders get cancelled and return the cancelling "C" invoices."""
    cancelled = orders.take(rng.random(len(orders)) < config.cancel_share)
    count = len(cancelled)
    delay = rng.geometric(1 / (1 + config.cancel_delay_days_mean), count) - 1
    delay = np.minimum(delay, MAX_CANCEL_DELAY_DAYS)
    day = cancelled.day + delay
    day = day + (_weekday(day) == SATURDAY)
    # On the order's own day the cancellation comes 1 to 120 minutes later.
    same_day_minute = np.minimum(cancelled.minute + rng.integers(1, 121, count), 24 * 60 - 1)
    minute = np.where(delay == 0, same_day_minute, _order_minutes(rng, count))
    cancelled.day = day
    cancelled.minute = minute
    cancelled.cancellation = np.ones(count, dtype=bool)
    cancelled.quantity = -cancelled.quantity
    return cancelled


class _Shop:
    """The simulation state carried from one month to the next."""

    def __init__(self, config: SyntheticConfig) -> None:
        self.config = config
        self.rng = np.random.default_rng(config.seed)
        self.catalogue = _make_catalogue(config, self.rng)
        self.customers = _Customers()
        self.new_customer_means = expected_new_customers(config)
        self.buy_probability = _buy_probabilities(config)
        shares = np.array([share for _, share in config.countries], dtype=float)
        self.country_cdf = np.cumsum(shares) / shares.sum()
        self.pending_cancellations = _empty_orders()

    def simulate_month(self, month: int) -> _Orders:
        """Return the orders and cancellations dated in ``month`` (0 = first month)."""
        config, rng = self.config, self.rng
        start = add_months(config.first_month, month)
        start_day = _days_since_epoch(start)
        end_day = _days_since_epoch(add_months(start, 1))

        returning = self.customers.draw_returning(
            month, self.buy_probability, config.churn_probability, rng
        )
        new_count = int(rng.poisson(self.new_customer_means[month]))
        new = self.customers.add(new_count, month, self.country_cdf, rng)
        buyers = np.concatenate([returning, new])
        self.customers.last_month[buyers] = month

        orders_per_buyer = 1 + rng.poisson(config.extra_orders_mean, len(buyers))
        customer = np.repeat(buyers, orders_per_buyer)
        guest_count = int(
            rng.poisson(len(customer) * config.guest_share / (1 - config.guest_share))
        )
        guest_country = np.searchsorted(self.country_cdf, rng.random(guest_count), side="right")
        country = np.concatenate(
            [
                self.customers.country[customer],
                np.minimum(guest_country, len(self.country_cdf) - 1),
            ]
        )
        customer = np.concatenate([customer, np.full(guest_count, -1)])
        order_count = len(customer)

        trading_days = np.arange(start_day, end_day)
        trading_days = trading_days[_weekday(trading_days) != SATURDAY]
        line_order, product, quantity = _draw_order_lines(
            order_count, start.month, config, self.catalogue, rng
        )
        orders = _Orders(
            day=rng.choice(trading_days, order_count),
            minute=_order_minutes(rng, order_count),
            customer=customer,
            country=country,
            cancellation=np.zeros(order_count, dtype=bool),
            line_order=line_order,
            product=product,
            quantity=quantity,
        )

        cancellations = _draw_cancellations(orders, config, rng)
        in_month = cancellations.day < end_day
        parts = [orders, self.pending_cancellations, cancellations.take(in_month)]
        # Cancellations after the last simulated month are left out.
        self.pending_cancellations = cancellations.take(~in_month)
        return _Orders.concat(parts)


# ---------------------------------------------------------------------------
# CSV formatting: each field becomes a block of NUL-padded ASCII columns, the
# blocks are joined side by side, and dropping every NUL byte leaves the CSV.


def _ascii_digits(values: np.ndarray, width: int) -> np.ndarray:
    """Return the decimal digits of non-negative ``values`` right-aligned in ``width`` columns.

    Leading zeros become NUL bytes, except the last digit, so 0 is written as "0".
    """
    powers = 10 ** np.arange(width - 1, -1, -1, dtype=np.int64)
    column = values.astype(np.int64)[:, None]
    digits = (column // powers % 10 + ord("0")).astype(np.uint8)
    digits[:, :-1][column < powers[:-1]] = 0
    return digits


def _constant_column(size: int, text: bytes) -> np.ndarray:
    return np.tile(np.frombuffer(text, dtype=np.uint8), (size, 1))


def _digit_width(values: np.ndarray) -> int:
    return len(str(int(values.max()))) if len(values) else 1


def _invoice_block(invoice_no: np.ndarray, cancellation: np.ndarray) -> np.ndarray:
    prefix = np.where(cancellation, ord("C"), 0).astype(np.uint8)[:, None]
    digits = _ascii_digits(invoice_no, _digit_width(invoice_no))
    return np.hstack([prefix, digits, _constant_column(len(invoice_no), b",")])


def _date_block(day: np.ndarray, minute: np.ndarray) -> np.ndarray:
    """Return "YYYY-MM-DD HH:MM:00," for each order."""
    dates = day.astype("datetime64[D]").astype("S10").view(np.uint8).reshape(len(day), 10)
    hours = _ascii_digits(minute // 60, 2)
    minutes = _ascii_digits(minute % 60, 2)
    # _ascii_digits blanks leading zeros, but the time keeps them ("08:05").
    hours[hours == 0] = ord("0")
    minutes[minutes == 0] = ord("0")
    size = len(day)
    return np.hstack(
        [
            dates,
            _constant_column(size, b" "),
            hours,
            _constant_column(size, b":"),
            minutes,
            _constant_column(size, b":00,"),
        ]
    )


def _customer_block(
    customer: np.ndarray, country: np.ndarray, config: SyntheticConfig
) -> np.ndarray:
    """Return "CustomerID,Country\\n" for each order, with an empty id for guests."""
    customer_id = np.where(customer >= 0, customer + config.first_customer_id, 0)
    digits = _ascii_digits(customer_id, _digit_width(customer_id))
    digits[customer < 0] = 0
    countries = _ascii_table([f"{name}\n" for name, _ in config.countries])
    return np.hstack([digits, _constant_column(len(customer), b","), countries[country]])


def _quantity_table(max_quantity: int) -> np.ndarray:
    """Return "Quantity," for every quantity from -max_quantity to max_quantity, by row."""
    values = np.arange(-max_quantity, max_quantity + 1)
    sign = np.where(values < 0, ord("-"), 0).astype(np.uint8)[:, None]
    digits = _ascii_digits(np.abs(values), len(str(max_quantity)))
    return np.hstack([sign, digits, _constant_column(len(values), b",")])


def _format_month(
    orders: _Orders, first_invoice_no: int, shop: _Shop
) -> Iterator[tuple[np.ndarray, int]]:
    """Number the invoices in time order and yield the month's CSV rows in chunks.

    Each chunk is a pair of the ASCII bytes as a uint8 array and its row count.

    Exact duplicate lines are added here, right after the line they copy.
    """
    config, rng, catalogue = shop.config, shop.rng, shop.catalogue
    by_time = np.lexsort((orders.minute, orders.day))
    invoice_no = np.empty(len(orders), dtype=np.int64)
    invoice_no[by_time] = first_invoice_no + np.arange(len(orders))

    line_positions = np.argsort(invoice_no[orders.line_order], kind="stable")
    copy_probability = config.duplicate_share / (1 - config.duplicate_share)
    copies = 1 + (rng.random(len(line_positions)) < copy_probability)
    line_positions = np.repeat(line_positions, copies)

    invoice = _invoice_block(invoice_no, orders.cancellation)
    date = _date_block(orders.day, orders.minute)
    customer = _customer_block(orders.customer, orders.country, config)
    max_quantity = int(np.abs(orders.quantity).max()) if len(orders.quantity) else 1
    quantities = _quantity_table(max_quantity)

    for start in range(0, len(line_positions), FORMAT_CHUNK_LINES):
        lines = line_positions[start : start + FORMAT_CHUNK_LINES]
        order = orders.line_order[lines]
        product = orders.product[lines]
        table = np.hstack(
            [
                invoice[order],
                catalogue.head[product],
                quantities[orders.quantity[lines] + max_quantity],
                date[order],
                catalogue.price[product],
                customer[order],
            ]
        )
        flat = table.reshape(-1)
        yield flat[flat != 0], len(lines)


# ---------------------------------------------------------------------------
# Public API


def _writer_for(out: BinaryIO | TextIO) -> Callable[[bytes | np.ndarray], object]:
    if isinstance(out, io.TextIOBase):
        return lambda data: out.write(bytes(data).decode("ascii"))
    return lambda data: out.write(memoryview(data))


def write_transactions(config: SyntheticConfig, out: BinaryIO | TextIO) -> int:
    """Simulate the shop and write its invoice lines as Online Retail CSV to ``out``.

    ``out`` is a binary stream, or a text stream (an ``io.TextIOBase``) that
    receives the same ASCII text. Each month is written as soon as it is
    simulated. Returns the number of rows written, without the header.
    """
    write = _writer_for(out)
    write(HEADER)
    shop = _Shop(config)
    next_invoice_no = config.first_invoice_no
    rows = 0
    for month in range(config.months):
        orders = shop.simulate_month(month)
        for chunk, chunk_rows in _format_month(orders, next_invoice_no, shop):
            write(chunk)
            rows += chunk_rows
        next_invoice_no += len(orders)
    return rows


def write_transactions_file(config: SyntheticConfig, path: Path) -> int:
    """Write the transactions to a ``.csv`` file, or a ``.csv.gz`` file at gzip level 1.

    The gzip header stores no modification time, so a seed always gives the
    same bytes. Returns the number of rows written, without the header.
    """
    path = Path(path)
    _check_output_name(path)
    if path.name.endswith(".csv.gz"):
        with (
            path.open("wb") as raw,
            gzip.GzipFile(
                filename=path.name, mode="wb", compresslevel=1, fileobj=raw, mtime=0
            ) as compressed,
        ):
            return write_transactions(config, compressed)
    with path.open("wb") as handle:
        return write_transactions(config, handle)


def _check_output_name(path: Path) -> None:
    if not path.name.endswith((".csv", ".csv.gz")):
        raise ValueError(
            f"Invalid output file name {path.name!r}; expected a .csv or .csv.gz suffix."
        )


def _month_argument(text: str) -> dt.date:
    try:
        return parse_month(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def main(argv: list[str] | None = None) -> int:
    """Parse the command line and write synthetic transactions to --out; return the exit status."""
    defaults = SyntheticConfig()
    parser = argparse.ArgumentParser(
        prog="python -m cohortintel.synthetic",
        description=(
            "Write synthetic shop transactions in the UCI Online Retail CSV format, "
            "for scale benchmarks of the pipeline."
        ),
    )
    parser.add_argument(
        "--rows",
        type=int,
        default=defaults.rows,
        metavar="N",
        help=f"target number of invoice lines (default {defaults.rows}); the actual count "
        f"varies with the seed, with a standard deviation of about 1%% at 1000000 lines",
    )
    parser.add_argument(
        "--out",
        type=Path,
        required=True,
        metavar="PATH",
        help="output file ending in .csv, or in .csv.gz for gzip level 1 compression",
    )
    parser.add_argument(
        "--first-month",
        type=_month_argument,
        default=defaults.first_month,
        metavar="YYYY-MM",
        help=f"first simulated month (default {defaults.first_month:%Y-%m})",
    )
    parser.add_argument(
        "--months",
        type=int,
        default=defaults.months,
        metavar="N",
        help=f"number of simulated calendar months (default {defaults.months})",
    )
    parser.add_argument(
        "--seed",
        type=int,
        default=defaults.seed,
        help=f"seed of the random generator (default {defaults.seed})",
    )
    args = parser.parse_args(argv)

    try:
        config = SyntheticConfig(
            rows=args.rows, first_month=args.first_month, months=args.months, seed=args.seed
        )
        _check_output_name(args.out)
    except ValueError as error:
        parser.error(str(error))

    started = time.perf_counter()
    try:
        rows = write_transactions_file(config, args.out)
    except OSError as error:
        print(
            f"Failed to write {args.out}: {error}. Check that its folder exists and is writable.",
            file=sys.stderr,
        )
        return 1
    seconds = time.perf_counter() - started
    print(f"Wrote {rows} rows (target {config.rows}) to {args.out} in {seconds:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
