"""Generate the shop's exports: one orders CSV per day, and the customer list.

Deterministic: the same day always gets the same bytes, so regenerating changes
nothing and the planner sees nothing new. Like a real export, the files are a
little dirty: a few orders appear twice, some were cancelled, a few refunds
come through as negative amounts and some rows lack a customer.

    python -m assets_example.generate                   # 2024-01-01 .. 2024-02-29
    python -m assets_example.generate --days 3          # the first three days
    python -m assets_example.generate --day 2024-01-05 --bump   # a re-export of one day
"""

from __future__ import annotations

import argparse
import csv
import random
from datetime import date, datetime, timedelta
from pathlib import Path

from assets_example.shop import CUSTOMER_COUNT, FIRST_DAY, LAST_DAY, SEED, landing_folder

COUNTRIES = ("DE", "FR", "NL", "SE", "PL", "US")
CHANNELS = ("web", "app", "marketplace")


def write_customers(folder: Path) -> Path:
    rng = random.Random(SEED)
    path = folder / "customers.csv"
    with path.open("w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        writer.writerow(["customer_id", "name", "country", "signup_date"])
        for customer in range(1, CUSTOMER_COUNT + 1):
            signup = FIRST_DAY - timedelta(days=rng.randrange(0, 720))
            writer.writerow([customer, f"customer-{customer:04d}", rng.choice(COUNTRIES), signup])
    return path


def write_orders(folder: Path, day: date, *, revision: int = 0) -> Path:
    """The day's export; a `revision` is a corrected re-export with other numbers."""
    rng = random.Random(SEED * 1000 + day.toordinal() + 7919 * revision)
    weekend = day.weekday() >= 5
    count = rng.randint(260, 420) if weekend else rng.randint(150, 300)
    first_id = (day - FIRST_DAY).days * 1000 + 1
    rows = []
    for order_id in range(first_id, first_id + count):
        amount = round(rng.lognormvariate(3.4, 0.7), 2)
        if rng.random() < 0.01:
            amount = -amount  # a refund, exported as an order
        at = datetime(day.year, day.month, day.day) + timedelta(seconds=rng.randrange(86_400))
        rows.append(
            [
                order_id,
                rng.randrange(1, CUSTOMER_COUNT + 1) if rng.random() > 0.004 else "",
                at.isoformat(),
                amount,
                rng.choice(CHANNELS),
                rng.choices(["paid", "cancelled"], weights=[96, 4])[0],
            ]
        )
    rows += rng.sample(rows, k=max(1, count // 100))  # the export repeats a few rows
    path = folder / f"orders-{day}.csv"
    with path.open("w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        writer.writerow(["order_id", "customer_id", "ordered_at", "amount", "channel", "status"])
        writer.writerows(rows)
    return path


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, help="only the first N days")
    parser.add_argument("--day", type=date.fromisoformat, help="only this day")
    parser.add_argument("--bump", action="store_true", help="a corrected re-export (revision 1)")
    args = parser.parse_args(argv)
    folder = landing_folder()
    folder.mkdir(parents=True, exist_ok=True)
    write_customers(folder)
    if args.day is not None:
        days = [args.day]
    else:
        total = (LAST_DAY - FIRST_DAY).days + 1
        days = [FIRST_DAY + timedelta(days=i) for i in range(min(args.days or total, total))]
    for day in days:
        write_orders(folder, day, revision=int(args.bump))
    print(f"wrote {len(days)} daily order files and customers.csv to {folder}")


if __name__ == "__main__":
    main()
