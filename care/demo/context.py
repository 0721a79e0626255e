"""The plan the steps of the demo share: one ``DemoContext`` per run, with the
customers and vehicles planned so far and the counts of what was loaded."""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from care.demo.catalogue import CITIES, DEMO_USERS, City, Model
from care.services import Actor


@dataclass
class CustomerPlan:
    index: int
    since: date  # first purchase (or showroom visit of a prospect)
    klass: str
    company: bool
    city: str
    vehicles: int
    customer_no: str = ""
    id: int | None = None


@dataclass
class VehiclePlan:
    customer: CustomerPlan
    vin: str
    delivery: date
    model: Model
    consultant: str
    daily_km: float  # average
    base_km: int  # at delivery
    swing_km: float  # seasonal swing, small enough to keep the odometer increasing
    phase: float
    plate: str | None = None
    colour: str | None = None
    id: int | None = None

    def odometer(self, day: date) -> int:
        """Kilometres on `day`: steady use with a seasonal swing; strictly increasing."""
        d = (day - self.delivery).days
        w = 2 * math.pi / 365
        seasonal = self.swing_km * (math.sin(w * d + self.phase) - math.sin(self.phase))
        return round(self.base_km + self.daily_km * d + seasonal)


@dataclass
class DemoContext:
    session: Session
    seed: int
    size: int
    today: date
    now: datetime
    actor: Actor
    dealer_city: str
    tz: ZoneInfo
    users: dict[str, int] = field(default_factory=dict)  # user name → id
    customers: list[CustomerPlan] = field(default_factory=list)
    vehicles: list[VehiclePlan] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)

    def rng(self, step: str) -> random.Random:
        """The random stream of one step: the same seed gives the same draws."""
        return random.Random(f"care-demo/{self.seed}/{step}")  # noqa: S311 - demo data

    def usernames(self, role: str) -> list[str]:
        return [u.username for u in DEMO_USERS if role in u.roles]

    def local_utc(self, day: date, hour: int, minute: int) -> datetime:
        """A wall-clock time at the dealer on `day`, as aware UTC."""
        return datetime(day.year, day.month, day.day, hour, minute, tzinfo=self.tz).astimezone(UTC)

    def city(self, name: str) -> City:
        return CITIES.get(name) or City(CITIES["成都"].plate, "028", 8, ("城区",))
