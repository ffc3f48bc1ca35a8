"""Price elasticity of demand per product family, estimated from the order history.

A log-log regression of the units on an order line on its net unit price, within product x
customer segment (fixed effects), so that the mix of products and the segments' discounts do
not pass for a price response. A regression of monthly family totals on their average price
does not work here: list price rises coincide with growth and the mix moves the average price
more than promotions do (it gives the wrong sign on most demo families).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from companybrain.errors import PolicyDenied
from companybrain.governance.policy import MASK

if TYPE_CHECKING:
    from companybrain.brain import Brain
    from companybrain.governance.principal import Principal

MIN_LINES = 200  # fewer order lines than this: no estimate (the scenario must give the elasticity)


def order_history(brain: Brain, user: str | Principal | None) -> pa.Table:
    """Order lines of orders not cancelled with their family, segment, units and net unit price (governed reads
    of the columns it needs; a line whose order, customer or product the user may not see is left out)."""
    lines = brain.read("OrderLine", where="qty > 0", user=user, columns=["order_id", "product_id", "qty", "net_amount"])
    orders = brain.read("Order", where="status <> 'cancelled'", user=user, columns=["order_id", "customer_id"])
    customers = brain.read("Customer", user=user, columns=["customer_id", "segment"])
    products = brain.read("Product", user=user, columns=["product_id", "family_id"])
    for name, table in (("OrderLine", lines), ("Order", orders), ("Customer", customers), ("Product", products)):
        _unmasked(name, table)
    customer, found_order = _lookup(lines["order_id"], orders, "order_id", "customer_id")
    segment, found_customer = _lookup(customer, customers, "customer_id", "segment")
    family, found_product = _lookup(lines["product_id"], products, "product_id", "family_id")
    joined = lines.append_column("segment", segment).append_column("family_id", family)
    found = pc.and_(pc.and_(found_order, found_customer), found_product)  # an inner join
    return joined.filter(pc.and_(found, pc.is_valid(family)))  # a product of no family has no elasticity


def _unmasked(type_name: str, table: pa.Table) -> None:
    """The estimate needs every column it reads: a masked one (amounts, or a key) denies it."""
    for name in table.column_names:
        column = table[name]
        if column.type == pa.string() and len(column) and column[0].as_py() == MASK:
            raise PolicyDenied(
                f"{type_name}.{name} is masked for this user: the price elasticity cannot be estimated",
                policy="masking",
            )


def _lookup(keys: pa.ChunkedArray | pa.Array, table: pa.Table, key: str, value: str) -> tuple[pa.Array, pa.Array]:
    """`value` of the row of `table` whose `key` each of `keys` is, and whether there is one (a join's lookup)."""
    keys = keys.combine_chunks() if isinstance(keys, pa.ChunkedArray) else keys
    at = pc.index_in(keys, value_set=table[key].combine_chunks())
    return pc.take(table[value].combine_chunks(), at), pc.is_valid(at)


def _codes(column: pa.ChunkedArray) -> tuple[np.ndarray, list[str]]:
    encoded = pc.dictionary_encode(column, null_encoding="encode").combine_chunks()  # no segment: one of its own
    return encoded.indices.to_numpy(zero_copy_only=False), [str(v) for v in encoded.dictionary.to_pylist()]


def estimate_elasticities(history: pa.Table, families: list[str] | None = None) -> dict[str, float]:
    """Elasticity per family_id (only families with at least MIN_LINES order lines)."""
    family, names = _codes(history["family_id"])
    product, _ = _codes(history["product_id"])
    segment, segments = _codes(history["segment"])
    group = product.astype(np.int64) * max(len(segments), 1) + segment
    qty = history["qty"].to_numpy(zero_copy_only=False).astype(float)
    net = history["net_amount"].to_numpy(zero_copy_only=False).astype(float)
    ok = (qty > 0) & (net > 0)
    estimates: dict[str, float] = {}
    for code, fam in enumerate(names):
        if families is not None and fam not in families:
            continue
        rows = ok & (family == code)
        if rows.sum() < MIN_LINES:
            continue
        y, x = np.log(qty[rows]), np.log(net[rows] / qty[rows])
        g = np.unique(group[rows], return_inverse=True)[1]
        n = np.bincount(g).astype(float)
        yd = y - (np.bincount(g, y) / n)[g]
        xd = x - (np.bincount(g, x) / n)[g]
        if float(xd @ xd) <= 1e-12:
            continue
        estimates[fam] = float(xd @ yd / (xd @ xd))
    return dict(sorted(estimates.items()))
