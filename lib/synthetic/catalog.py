"""The simulated shop behind the synthetic REES46 files: catalog, user pool and a day's sessions.

The catalog and the user pool depend only on the seed and their size, never on a date, so every
day file of one generation sees the same products (fixed category and brand) and the same users.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# Category codes of the real October sample with their row counts there, used as the share
# of products per code. Two to four dot-separated levels, as in the real data.
CATEGORY_CODES: tuple[tuple[str, int], ...] = (
    ("electronics.smartphone", 4720), ("electronics.clocks", 562), ("computers.notebook", 558),
    ("electronics.audio.headphone", 403), ("appliances.kitchen.refrigerators", 330),
    ("appliances.environment.vacuum", 274), ("appliances.environment.air_heater", 249),
    ("electronics.video.tv", 246), ("auto.accessories.player", 245), ("apparel.shoes", 228),
    ("appliances.kitchen.washer", 224), ("apparel.shoes.keds", 192), ("electronics.telephone", 174),
    ("furniture.living_room.cabinet", 144), ("auto.accessories.alarm", 134),
    ("appliances.kitchen.meat_grinder", 128), ("furniture.living_room.sofa", 127),
    ("computers.desktop", 117), ("furniture.bedroom.bed", 112), ("accessories.bag", 99),
    ("appliances.kitchen.microwave", 93), ("appliances.environment.water_heater", 90),
    ("electronics.audio.subwoofer", 88), ("appliances.iron", 88), ("appliances.kitchen.blender", 86),
    ("sport.bicycle", 83), ("kids.carriage", 78), ("construction.tools.drill", 77),
    ("auto.accessories.videoregister", 77), ("electronics.tablet", 71),
    ("appliances.environment.air_conditioner", 69), ("construction.tools.saw", 66),
    ("appliances.kitchen.oven", 59), ("computers.components.videocards", 58),
    ("appliances.sewing_machine", 58), ("appliances.kitchen.kettle", 57), ("appliances.kitchen.hood", 55),
    ("computers.peripherals.monitor", 46), ("furniture.kitchen.table", 46), ("appliances.kitchen.grill", 41),
    ("construction.tools.welding", 41), ("furniture.kitchen.chair", 39),
    ("computers.peripherals.printer", 37),
    ("computers.components.hdd", 35), ("appliances.kitchen.dishwasher", 34), ("kids.toys", 32),
    ("apparel.shoes.sandals", 27), ("appliances.personal.hair_cutter", 26), ("kids.skates", 24),
    ("electronics.audio.acoustic", 24), ("computers.components.memory", 23), ("accessories.wallet", 20),
    ("electronics.camera.video", 19), ("stationery.cartrige", 17), ("furniture.bedroom.pillow", 17),
    ("kids.dolls", 17), ("apparel.costume", 16), ("medicine.tools.tonometer", 9),
    ("kids.fmcg.diapers", 11), ("country_yard.furniture.hammok", 5), ("sport.tennis", 2),
    ("electronics.audio.music_tools.piano", 2), ("apparel.shoes.step_ins", 2),
)
# Typical price by top-level category; "" is the products without a category code.
MEDIAN_PRICE_BY_L1: dict[str, float] = {
    "electronics": 320.0, "appliances": 230.0, "computers": 580.0, "apparel": 95.0, "furniture": 230.0,
    "auto": 120.0, "construction": 150.0, "kids": 120.0, "sport": 360.0, "accessories": 60.0,
    "medicine": 65.0, "stationery": 40.0, "country_yard": 250.0, "": 60.0,
}
BRANDS_BY_L1: dict[str, tuple[str, ...]] = {
    "electronics": ("samsung", "apple", "xiaomi", "huawei", "oppo", "nokia", "casio", "vivo", "sony"),
    "appliances": ("samsung", "elenberg", "lg", "redmond", "bosch", "indesit", "dauscher", "artel", "beko"),
    "computers": ("acer", "lenovo", "hp", "asus", "pulser", "apple", "dell", "gigabyte", "kingston", "msi"),
    "apparel": ("respect", "rieker", "salamander", "baden", "shagovita", "asics", "adidas", "nike"),
    "furniture": ("sv", "brw", "bts", "heyner", "lorelli", "zeta", "mantra", "cersanit"),
    "auto": ("starline", "pioneer", "jvc", "sho-me", "kenwood", "tomahawk", "neoline", "prestigio"),
    "construction": ("bosch", "huter", "makita", "alteco", "dewalt", "crown", "stihl", "denzel"),
    "kids": ("belecoo", "chicco", "kugoo", "huggies", "lorelli", "anex", "mattel"),
    "sport": ("giant", "stels", "phoenix", "torrent", "housefit", "haro", "thule"),
    "accessories": ("karya", "baden", "rivacase", "picard", "continent", "coccinelle", "hoco"),
    "medicine": ("omron", "and", "microlife"),
    "stationery": ("hp", "canon", "epson"),
    "country_yard": ("ventara", "huter", "palisad", "viking"),
    "": ("lucente", "cordiant", "triangle", "nokian", "yokohama", "sokolov", "shiseido", "creed", "luminarc"),
}
NULL_CATEGORY_CODE_SHARE = 0.32  # of event rows (real: 32.2%)
NULL_BRAND_SHARE = 0.14  # of event rows (real: 13.9%)
UNCODED_CATEGORY_IDS = 200  # category ids without a code
ZERO_PRICE_SHARE = 0.001  # the real data has a few price-0 rows
USER_IDS = 100_000_000  # user ids are 5xxxxxxxx, as in the real data: at most this many users
POPULARITY_OFFSET = 10.0  # Zipf-like weight 1 / (rank + offset): top product ~1.3% of rows

EVENT_TYPES = ("view", "cart", "remove_from_cart", "purchase")
VIEW, CART, REMOVE, PURCHASE = range(4)
MEAN_SESSION_EVENTS = 3.4  # real data: 3.4 events per session
MAX_SESSION_EVENTS = 100
MEAN_GAP_SECONDS = 55.0  # real sample: mean 55 s between a session's events, median 33 s
MAX_GAP_SECONDS = 600  # with MAX_SESSION_EVENTS, a session always fits in one day
P_CART, P_PURCHASE = 0.05, 0.0162  # per event after a session's first (always a view)
P_BUY_AFTER_CART = 0.15  # share of carts whose next event becomes the purchase
P_REVISIT = 0.3  # a view of the product the session looked at last
P_REMOVE = 0.003  # remove_from_cart, converted from views
# Share of a day's sessions starting in each UTC hour: quiet at night, busiest in the evening.
HOURLY = np.array([2, 1.5, 1.2, 1, 1, 1.2, 1.8, 2.5, 3.2, 3.6, 3.8, 4, 4.1, 4.2, 4.4, 4.8, 5.4, 6.2,
                   6.8, 6.6, 5.6, 4.4, 3.2, 2.4])
HOURLY = HOURLY / HOURLY.sum()


@dataclass(frozen=True)
class Catalog:
    """Products, one array entry each; an empty string is a null code or brand."""

    product_id: np.ndarray
    category_id: np.ndarray
    category_code: np.ndarray
    brand: np.ndarray
    base_price: np.ndarray
    popularity_cdf: np.ndarray


@dataclass(frozen=True)
class UserPool:
    """Users with a skewed activity: a few are active on many days, most on one or two."""

    user_id: np.ndarray
    activity_cdf: np.ndarray


@dataclass(frozen=True)
class DayEvents:
    """A day's clean events sorted by time; arrays index the catalog, user pool and sessions."""

    second: np.ndarray
    event_type: np.ndarray
    product: np.ndarray
    user: np.ndarray
    session: np.ndarray
    session_ids: list[str]


def _sample(cdf: np.ndarray, size: int, rng: np.random.Generator) -> np.ndarray:
    """Indices drawn with the probabilities of a cumulative distribution."""
    return np.minimum(np.searchsorted(cdf, rng.random(size) * cdf[-1], side="right"), len(cdf) - 1)


def _null_by_row_share(weights: np.ndarray, share: float, rng: np.random.Generator) -> np.ndarray:
    """Mark random products as null until they carry `share` of the expected rows.

    Nulls are per product (a product keeps its code and brand), but the target is a share of
    rows: choosing products by popularity mass hits it whatever the Zipf skew.
    """
    order = rng.permutation(len(weights))
    is_null = np.zeros(len(weights), dtype=bool)
    is_null[order[np.cumsum(weights[order]) <= share]] = True
    return is_null


def _unique_product_ids(blocks: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Product ids like the real ones: a per-category block of 100,000 plus a random offset."""
    ids = blocks * 100_000 + rng.integers(0, 100_000, len(blocks))
    while True:
        _, first = np.unique(ids, return_index=True)
        repeated = np.setdiff1d(np.arange(len(ids)), first)
        if len(repeated) == 0:
            return ids
        ids[repeated] = blocks[repeated] * 100_000 + rng.integers(0, 100_000, len(repeated))


def build_catalog(seed: int, n_products: int) -> Catalog:
    """A seeded catalog: each product has a fixed category id/code, brand and base price."""
    rng = np.random.default_rng([seed, 0, 0])
    weights = 1.0 / (np.arange(n_products) + 1.0 + POPULARITY_OFFSET)
    weights /= weights.sum()
    codes = np.array([code for code, _ in CATEGORY_CODES], dtype=object)
    code_share = np.array([count for _, count in CATEGORY_CODES], dtype=float)
    # One category id per code, a second one for about a third of them (as in the real data).
    code_ids = 2_053_013_550_000_000_000 + rng.integers(0, 17_000_000_000, (len(codes), 2))
    one_id = rng.random(len(codes)) < 0.67
    code_ids[one_id, 1] = code_ids[one_id, 0]
    uncoded_ids = rng.integers(2_053_013_550_000_000_000, 2_180_000_000_000_000_000, UNCODED_CATEGORY_IDS)
    blocks = 10 + rng.permutation(530)
    code_blocks, uncoded_blocks = blocks[: len(codes) * 2].reshape(len(codes), 2), blocks[len(codes) * 2 :]

    no_code = _null_by_row_share(weights, NULL_CATEGORY_CODE_SHARE, rng)
    code_index = rng.choice(len(codes), n_products, p=code_share / code_share.sum())
    half = rng.integers(0, 2, n_products)
    category_code = np.where(no_code, "", codes[code_index])
    category_id = np.where(no_code, uncoded_ids[rng.integers(0, UNCODED_CATEGORY_IDS, n_products)],
                           code_ids[code_index, half])
    block = np.where(no_code, uncoded_blocks[rng.integers(0, 40, n_products)], code_blocks[code_index, half])
    product_id = _unique_product_ids(block.astype(np.int64), rng)

    level1 = [code.split(".")[0] if code else "" for code in category_code]
    brand = np.array([BRANDS_BY_L1[l1][k % len(BRANDS_BY_L1[l1])]
                      for l1, k in zip(level1, rng.integers(0, 1 << 30, n_products))], dtype=object)
    brand[_null_by_row_share(weights, NULL_BRAND_SHARE, rng)] = ""
    code_factor = dict(zip(codes, rng.lognormal(0.0, 0.35, len(codes))))
    median = np.array([MEDIAN_PRICE_BY_L1[l1] * code_factor.get(code, 1.0)
                       for l1, code in zip(level1, category_code)])
    base_price = np.clip(np.round(median * rng.lognormal(0.0, 0.7, n_products), 2), 0.77, 2574.07)
    base_price[rng.random(n_products) < ZERO_PRICE_SHARE] = 0.0
    return Catalog(product_id, category_id.astype(np.int64), category_code.astype(object), brand,
                   base_price, np.cumsum(weights))


def build_user_pool(seed: int, n_users: int) -> UserPool:
    """A seeded pool of user ids 5xxxxxxxx with lognormal activity weights."""
    rng = np.random.default_rng([seed, 0, 1])
    user_id = 500_000_000 + rng.choice(USER_IDS, n_users, replace=False).astype(np.int64)
    activity = rng.lognormal(0.0, 1.3, n_users)
    return UserPool(user_id, np.cumsum(activity / activity.sum()))


def _session_ids(n: int, rng: np.random.Generator) -> list[str]:
    """UUID4-shaped strings from the seeded stream (uuid4 itself is not reproducible)."""
    raw = rng.integers(0, 256, (n, 16), dtype=np.uint8)
    raw[:, 6] = raw[:, 6] & 0x0F | 0x40
    raw[:, 8] = raw[:, 8] & 0x3F | 0x80
    text = raw.tobytes().hex()
    return [f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}" for h in
            (text[i : i + 32] for i in range(0, 32 * n, 32))]


def _event_types(position: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Views, carts and purchases; a session starts with a view, some carts lead to the purchase."""
    u = rng.random(len(position))
    later = position > 0
    kind = np.full(len(position), VIEW, dtype=np.int8)
    kind[later & (u < P_CART)] = CART
    kind[later & (u >= P_CART) & (u < P_CART + P_PURCHASE)] = PURCHASE
    after_cart = np.flatnonzero(kind[:-1] == CART) + 1
    after_cart = after_cart[(position[after_cart] > 0) & (kind[after_cart] == VIEW)]
    kind[after_cart[rng.random(len(after_cart)) < P_BUY_AFTER_CART]] = PURCHASE
    return kind


def simulate_day(n: int, catalog: Catalog, users: UserPool, rng: np.random.Generator) -> DayEvents:
    """A day of sessions: one user each, views then carts/purchases of the products viewed."""
    lengths = np.minimum(rng.geometric(1 / MEAN_SESSION_EVENTS, n), MAX_SESSION_EVENTS)
    ends = np.cumsum(lengths)
    n_sessions = int(np.searchsorted(ends, n)) + 1
    lengths, ends = lengths[:n_sessions], ends[:n_sessions]
    lengths[-1] -= ends[-1] - n
    starts = np.concatenate(([0], ends[:-1]))
    session = np.repeat(np.arange(n_sessions), lengths)
    index = np.arange(n)
    position = index - starts[session]

    gaps = np.minimum(1 + rng.exponential(MEAN_GAP_SECONDS - 1, n).astype(np.int64), MAX_GAP_SECONDS)
    gaps[position == 0] = 0
    elapsed = np.cumsum(gaps)
    offset = elapsed - elapsed[starts][session]
    span = offset[starts + lengths - 1]
    first = rng.choice(24, n_sessions, p=HOURLY) * 3600 + rng.integers(0, 3600, n_sessions)
    second = np.minimum(first, 86_399 - span)[session] + offset

    kind = _event_types(position, rng)
    # Every event shows the product of the session's last view that was not a revisit.
    anchor = (kind == VIEW) & ((position == 0) | (rng.random(n) >= P_REVISIT))
    product = _sample(catalog.popularity_cdf, n, rng)[np.maximum.accumulate(np.where(anchor, index, 0))]
    # remove_from_cart: a session's last event, a view after a cart, becomes the cart's removal.
    is_cart = kind == CART
    carts_so_far = np.cumsum(is_cart)
    carts_before = carts_so_far - is_cart - carts_so_far[starts][session]
    is_last = position == lengths[session] - 1
    eligible = np.flatnonzero(is_last & (kind == VIEW) & (carts_before > 0))
    removed = rng.choice(eligible, min(round(P_REMOVE * n), len(eligible)), replace=False)
    kind[removed] = REMOVE
    product[removed] = product[np.maximum.accumulate(np.where(is_cart, index, 0))[removed]]

    user = _sample(users.activity_cdf, n_sessions, rng)[session]
    order = np.argsort(second, kind="stable")
    return DayEvents(
        second[order], kind[order], product[order], user[order], session[order], _session_ids(n_sessions, rng)
    )
