"""`care demo`: a believable FAW-Volkswagen 4S store around the `dealer_city` setting.

The data set depends only on (seed, number of customers, `today`, the dealer settings):

- every random draw comes from a `random.Random` seeded with the seed *and the step's
  name* (`DemoContext.rng(step)`), so a step added later (past tasks, calls, surveys …)
  draws from its own stream and leaves the data of the earlier steps unchanged;
- every date is derived from the `today` anchor (default: today in the dealer's time
  zone), so the demo stays current: deliveries up to the last few days, first-service
  windows open today, policies expiring within the next two months, lapsed vehicles.

What was loaded is recorded in one audit-log row (action `demo.load`, object `demo`,
detail `{"seed", "customers", "today", "version", "counts"}`), written in the same
transaction as the data. A second run with the same seed and size finds it and changes
nothing; a different seed or size on a database that holds demo data is refused, and so
is a database that already holds customers that did not come from the demo (the demo
never mixes with real data).

History there is today (the tables that exist): deliveries over the past five years,
service visits (first services, maintenance, repairs, warranty claims) along each
vehicle's odometer, and the yearly insurance policies held through the dealer. Later
issues add steps to `STEPS` for care tasks, calls and surveys of the past months.

Rows are inserted in bulk (`session.execute(insert(Model), rows)`); the service flushes
and never commits: the `care demo` command commits once.
"""

from __future__ import annotations

import math
import random
from bisect import bisect
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from itertools import accumulate
from zoneinfo import ZoneInfo

from sqlalchemy import func, insert, select, update
from sqlalchemy.orm import Session

from care.domain.outcomes import Booking, FieldKind, outcomes_for
from care.domain.vin import with_check_digit
from care.models import (
    AuditLog,
    CareTask,
    Customer,
    Delivery,
    InsurancePolicy,
    ServiceVisit,
    TaskOutcome,
    TaskStatus,
    User,
    Vehicle,
)
from care.phones import PhoneError, normalize_phone
from care.services import ServiceError, audit
from care.services.settings import load_settings
from care.services.users import create_user

DEMO_PASSWORD = "demo1234"  # noqa: S105 - the published password of the demo logins
MARKER_ACTION = "demo.load"
FORMAT_VERSION = 1
CONSENT_SOURCE = "demo"
DEFAULT_SEED = 42
DEFAULT_CUSTOMERS = 300
HISTORY_YEARS = 5


# --- the staff -------------------------------------------------------------------------


@dataclass(frozen=True)
class DemoUser:
    username: str
    roles: tuple[str, ...]
    display_name: str


DEMO_USERS: tuple[DemoUser, ...] = (
    DemoUser("specialist1", ("specialist",), "客服 刘婷"),
    DemoUser("specialist2", ("specialist",), "客服 陈静"),
    DemoUser("specialist3", ("specialist",), "客服 王雪"),
    DemoUser("insurance1", ("insurance",), "保险 赵敏"),
    DemoUser("insurance2", ("insurance",), "保险 孙丽"),
    DemoUser("care_manager", ("care_manager",), "客服经理 周红梅"),
    DemoUser("consultant1", ("consultant",), "销售 张伟"),
    DemoUser("consultant2", ("consultant",), "销售 李强"),
    DemoUser("consultant3", ("consultant",), "销售 杨帆"),
    DemoUser("consultant4", ("consultant",), "销售 吴磊"),
    DemoUser("sales_manager", ("sales_manager",), "销售经理 黄建国"),
    DemoUser("front_desk", ("front_desk",), "售后前台 何佳"),
    DemoUser("general_manager", ("general_manager",), "总经理 郑国华"),
    DemoUser("admin", ("admin",), "系统管理员"),
)
FIRST_EXTENSION = 8001


# --- people and places -----------------------------------------------------------------

# Common surnames with rough weights (‰ of the population), a few compound ones.
SURNAMES = (
    ("王", 71), ("李", 70), ("张", 67), ("刘", 54), ("陈", 45), ("杨", 31), ("赵", 23),
    ("黄", 22), ("周", 21), ("吴", 20), ("徐", 17), ("孙", 15), ("胡", 13), ("朱", 13),
    ("高", 12), ("林", 12), ("何", 12), ("郭", 12), ("马", 11), ("罗", 10), ("梁", 9),
    ("宋", 8), ("郑", 8), ("谢", 7), ("韩", 7), ("唐", 7), ("冯", 7), ("于", 6), ("董", 6),
    ("肖", 6), ("程", 6), ("曹", 6), ("袁", 6), ("邓", 6), ("许", 6), ("傅", 5), ("沈", 5),
    ("曾", 5), ("彭", 5), ("吕", 5), ("蒋", 5), ("蔡", 5), ("魏", 4), ("叶", 4), ("余", 4),
    ("杜", 4), ("钟", 4), ("田", 4), ("任", 4), ("范", 4), ("谭", 4), ("廖", 4), ("邹", 3),
    ("熊", 3), ("雷", 3), ("苟", 1), ("欧阳", 1), ("司马", 1),
)  # fmt: skip
GIVEN_MALE = "伟强磊军勇杰涛明超刚平辉鹏华飞鑫波斌宇浩凯健俊帆亮林峰建国文志海东晨阳毅龙成"
GIVEN_FEMALE = "芳娜敏静丽艳娟霞秀英玲婷雪琳倩颖洁佳慧燕红梅兰丹萍莉晶欣悦怡雯璐蓉"
COMPANY_CORES = ("蜀通", "天府", "锦程", "华西", "川运", "成渝", "蓉欣", "金沙", "鼎信", "宏达", "恒信", "西岭")
COMPANY_KINDS = ("物流", "建设工程", "科技", "商贸", "汽车租赁", "医药", "餐饮管理", "实业", "环保工程")
NOTES = (
    "偏好下午联系",
    "工作日白天不便接听，晚上联系",
    "车辆主要由家人使用，可联系其配偶",
    "对上次保养等待时间有意见",
    "经常出差，先发短信再致电",
    "老客户，曾介绍朋友购车",
    "请勿在午休时间来电",
)


@dataclass(frozen=True)
class City:
    plate: str  # registration prefix, e.g. 川A
    area_code: str  # landline area code with the trunk 0
    landline_digits: int
    districts: tuple[str, ...]
    roads: tuple[str, ...] = ()


GENERIC_ROADS = ("人民路", "建设路", "解放路", "中山路", "新华路", "滨江路", "朝阳路", "长江路", "文化路", "东风路")
CITIES: dict[str, City] = {
    "成都": City(
        "川A", "028", 8,
        ("锦江区", "青羊区", "金牛区", "武侯区", "成华区", "高新区", "天府新区", "双流区",
         "郫都区", "龙泉驿区", "温江区", "新都区"),
        ("人民南路四段", "蜀汉路", "天府大道中段", "剑南大道", "府城大道", "建设北路", "光华大道",
         "科华北路", "沙湾路", "红星路二段", "玉林北路", "益州大道", "锦城大道", "航空港大道"),
    ),
    "德阳": City("川F", "0838", 7, ("旌阳区", "罗江区", "广汉市", "什邡市")),
    "绵阳": City("川B", "0816", 7, ("涪城区", "游仙区", "安州区", "江油市")),
    "眉山": City("川Z", "028", 8, ("东坡区", "彭山区", "仁寿县")),
    "资阳": City("川M", "028", 8, ("雁江区", "安岳县", "乐至县")),
    "乐山": City("川L", "0833", 7, ("市中区", "五通桥区", "峨眉山市")),
    "雅安": City("川T", "0835", 7, ("雨城区", "名山区")),
    "遂宁": City("川J", "0825", 7, ("船山区", "安居区", "射洪市")),
    "内江": City("川K", "0832", 7, ("市中区", "东兴区", "隆昌市")),
    "自贡": City("川C", "0813", 7, ("自流井区", "贡井区", "大安区", "沿滩区")),
    "重庆": City("渝A", "023", 8, ("渝北区", "江北区", "渝中区", "南岸区")),
    "西安": City("陕A", "029", 8, ("雁塔区", "未央区")),
    "昆明": City("云A", "0871", 8, ("五华区", "盘龙区")),
    "贵阳": City("贵A", "0851", 8, ("南明区", "观山湖区")),
    "北京": City("京N", "010", 8, ("朝阳区", "海淀区")),
    "上海": City("沪B", "021", 8, ("浦东新区", "闵行区")),
    "广州": City("粤A", "020", 8, ("天河区", "番禺区")),
    "深圳": City("粤B", "0755", 8, ("南山区", "福田区")),
}  # fmt: skip
NEARBY = ("成都", "德阳", "绵阳", "眉山", "资阳", "乐山", "雅安", "遂宁", "内江", "自贡")
FAR = ("重庆", "西安", "昆明", "贵阳", "北京", "上海", "广州", "深圳")
LOCAL_SHARE, NEARBY_SHARE = 0.74, 0.19  # the rest live further away

MOBILE_PREFIXES = (
    # China Mobile
    ("139", 9), ("138", 9), ("137", 5), ("136", 5), ("135", 5), ("150", 4), ("151", 4),
    ("152", 4), ("158", 4), ("159", 4), ("182", 4), ("187", 4), ("188", 3), ("178", 2),
    ("198", 2), ("147", 1),
    # China Unicom
    ("186", 6), ("185", 3), ("130", 3), ("131", 3), ("132", 2), ("155", 2), ("156", 2),
    ("176", 2), ("166", 1),
    # China Telecom
    ("189", 4), ("180", 3), ("181", 3), ("133", 3), ("153", 2), ("177", 3), ("173", 2),
    ("199", 2), ("191", 1),
)  # fmt: skip
EMAIL_DOMAINS = ("example.cn", "example.com", "example.net", "example.org")


# --- the cars --------------------------------------------------------------------------


@dataclass(frozen=True)
class Model:
    name: str
    vds: str  # VIN positions 4–8
    weight: int
    since: int  # first model year sold
    energy: str = ""  # "D" pure electric, "F" plug-in hybrid: new-energy plates


# One brand family: a FAW-Volkswagen 4S store (WMI LFV).
WMI = "LFV"
MODELS = (
    Model("宝来 1.5L", "2A21J", 14, 2015),
    Model("速腾 300TSI", "2A27K", 18, 2015),
    Model("迈腾 330TSI", "3A23L", 14, 2015),
    Model("迈腾 380TSI", "3A28L", 4, 2015),
    Model("高尔夫 280TSI", "2A15G", 6, 2015),
    Model("CC 380TSI", "3A35C", 3, 2015),
    Model("探歌 280TSI", "2A11R", 6, 2018),
    Model("探影 1.5L", "2A12S", 5, 2020),
    Model("探岳 330TSI", "3A31T", 12, 2018),
    Model("探岳 380TSI 四驱", "3A38T", 4, 2018),
    Model("探岳GTE 插电混动", "3B31T", 2, 2020, "F"),
    Model("揽境 380TSI", "4A38V", 3, 2021),
    Model("ID.4 CROZZ", "6E21B", 5, 2021, "D"),
    Model("ID.6 CROZZ", "6E31B", 2, 2021, "D"),
)
COLOURS = (
    ("白色", 30), ("黑色", 18), ("灰色", 14), ("银色", 8), ("蓝色", 10), ("红色", 6),
    ("珍珠白", 5), ("深灰", 4), ("棕色", 3), ("绿色", 2),
)  # fmt: skip
PLANTS = "346"  # VIN position 11
# VIN position 10: the model year, A = 2010 … (I, O, Q, U, Z and 0 are not used).
YEAR_CODES = "ABCDEFGHJKLMNPRSTVWXY123456789"
PLATE_LETTERS = "ABCDEFGHJKLMNPRSTUVWXYZ"  # no I, O (nor Q) on plates
PLATE_PATTERNS = (("NNNNN", 30), ("LNNNN", 20), ("NLNNN", 15), ("NNNNL", 10), ("LLNNN", 10), ("NLNLN", 8), ("NNLNN", 7))  # fmt: skip
WARRANTY_YEARS, WARRANTY_KM = 3, 100000
INSURERS = (("中国人保", "PDAA", 35), ("平安保险", "1107", 30), ("太平洋保险", "ACDU", 20), ("国寿财险", "8051", 8), ("大地保险", "DDCC", 7))  # fmt: skip


# --- helpers ---------------------------------------------------------------------------


class Weighted:
    """Fast weighted choice from ((value, weight), …)."""

    def __init__(self, pairs):
        pairs = list(pairs)
        self.values = [v for v, _ in pairs]
        self.cum = list(accumulate(w for _, w in pairs))

    def pick(self, rng: random.Random):
        return self.values[bisect(self.cum, rng.random() * self.cum[-1])]


_SURNAMES = Weighted(SURNAMES)
_MOBILES = Weighted(MOBILE_PREFIXES)
_COLOURS = Weighted(COLOURS)
_PLATES = Weighted(PLATE_PATTERNS)
_INSURERS = Weighted(((name, code), w) for name, code, w in INSURERS)


def add_years(d: date, years: int) -> date:
    """Same day `years` later; 29 February → 28 February in a common year."""
    try:
        return d.replace(year=d.year + years)
    except ValueError:
        return d.replace(year=d.year + years, day=28)


def _lunar_birthday(birthday: date) -> str | None:
    from lunardate import LunarDate

    convert = getattr(LunarDate, "from_solar_date", None) or LunarDate.fromSolarDate
    try:
        lunar = convert(birthday.year, birthday.month, birthday.day)
    except ValueError:
        return None
    return f"{lunar.month:02d}-{lunar.day:02d}"


# --- the plan shared by the steps ------------------------------------------------------


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
    actor: str
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


@dataclass
class DemoResult:
    already_loaded: bool
    seed: int
    customers: int
    today: date
    counts: dict[str, int]
    logins: tuple[DemoUser, ...] = DEMO_USERS
    password: str = DEMO_PASSWORD


# --- steps -----------------------------------------------------------------------------


def _users(ctx: DemoContext) -> None:
    for n, spec in enumerate(DEMO_USERS):
        user = create_user(
            ctx.session,
            spec.username,
            roles=list(spec.roles),
            password=DEMO_PASSWORD,
            extension=str(FIRST_EXTENSION + n),
            display_name=spec.display_name,
            actor=ctx.actor,
            now=ctx.now,
        )
        ctx.users[spec.username] = user.id
    ctx.counts["users"] = len(DEMO_USERS)


class _Unique:
    """Draw values until one is new."""

    def __init__(self):
        self.seen: set[str] = set()

    def draw(self, make: Callable[[], str | None], tries: int = 50) -> str | None:
        for _ in range(tries):
            value = make()
            if value is not None and value not in self.seen:
                self.seen.add(value)
                return value
        return None


def _customers(ctx: DemoContext) -> None:
    rng = ctx.rng("customers")
    today = ctx.today
    span = HISTORY_YEARS * 365
    local = ctx.dealer_city
    nearby = [c for c in NEARBY if c != local]
    far = [c for c in FAR if c != local]
    mobiles, emails = _Unique(), _Unique()

    def mobile() -> str | None:
        raw = _MOBILES.pick(rng) + f"{rng.randrange(10**8):08d}"
        try:
            return normalize_phone(raw)
        except PhoneError:
            return None

    def landline(city: City) -> str | None:
        first = "86"[rng.randrange(2)] if city.area_code == "028" else str(rng.randint(2, 8))
        rest = "".join(str(rng.randrange(10)) for _ in range(city.landline_digits - 1))
        try:
            return normalize_phone(f"{city.area_code}-{first}{rest}")
        except PhoneError:
            return None

    # Guarantee a few recent deliveries and open first-service windows even when small.
    recent_quota = max(3, ctx.size // 300)
    window_quota = max(5, ctx.size // 150)
    birthday_quota = max(2, ctx.size // 400)
    plans: list[CustomerPlan] = []
    rows: list[dict] = []
    owners = 0
    for i in range(ctx.size):
        r = rng.random()
        klass = "potential" if r < 0.05 else "existing" if r < 0.87 else "vip" if r < 0.97 else "key"
        company = klass == "key"
        r = rng.random()
        city = local if r < LOCAL_SHARE else rng.choice(nearby) if r < LOCAL_SHARE + NEARBY_SHARE else rng.choice(far)
        if klass == "potential":
            n_vehicles = 0
            since = today - timedelta(days=rng.randint(1, 365))
        else:
            if klass == "key":
                n_vehicles = rng.randint(2, 5)
            elif klass == "vip":
                n_vehicles = 1 if rng.random() < 0.5 else 2 if rng.random() < 0.8 else 3
            else:
                n_vehicles = 1 if rng.random() < 0.8 else 2 if rng.random() < 0.85 else 3
            if owners < recent_quota:
                days = rng.randint(1, 7)
            elif owners < recent_quota + window_quota:
                days = rng.randint(62, 88)
            else:
                days = rng.randint(1, span)
            owners += 1
            since = today - timedelta(days=days)
        plans.append(CustomerPlan(i, since, klass, company, city, n_vehicles))

        place = ctx.city(city)
        if company:
            name = f"{'四川' if city in NEARBY else city}{rng.choice(COMPANY_CORES)}{rng.choice(COMPANY_KINDS)}有限公司"
        else:
            chars = GIVEN_MALE if rng.random() < 0.62 else GIVEN_FEMALE
            given = rng.choice(chars) if rng.random() < 0.4 else "".join(rng.sample(chars, 2))
            name = _SURNAMES.pick(rng) + given
        phone2 = None
        if company or rng.random() < 0.15:
            phone2 = landline(place) if company or rng.random() < 0.5 else mobiles.draw(mobile)
        email = None
        if rng.random() < (0.7 if company else 0.4):
            local_part = "office" if company else "u"
            email = emails.draw(lambda lp=local_part: f"{lp}{rng.randint(10000, 99999)}@{rng.choice(EMAIL_DOMAINS)}")
        birthday = lunar = None
        if not company and rng.random() < 0.95:
            year = today.year - rng.randint(22, 68)
            if i < birthday_quota:  # someone to greet today
                birthday = add_years(today, year - today.year)
            elif rng.random() < 0.01:  # born on 29 February
                while year % 4:
                    year -= 1
                birthday = date(year, 2, 29)
            else:
                birthday = date(year, 1, 1) + timedelta(days=rng.randrange(365))
            if rng.random() < 0.10:
                lunar = _lunar_birthday(birthday)
        district = rng.choice(place.districts)
        road = rng.choice(place.roads or GENERIC_ROADS)
        address = f"{city}市{district}{road}{rng.randint(1, 399)}号"
        if not company:
            address += f"{rng.randint(1, 18)}栋{rng.randint(1, 4)}单元{rng.randint(2, 32)}{rng.randint(1, 6):02d}"
        row = {
            "name": name,
            "mobile": mobiles.draw(mobile),
            "phone2": phone2,
            "email": email,
            "birthday": birthday,
            "birthday_lunar": lunar,
            "city": city,
            "address": address,
            "customer_class": klass,
            "notes": rng.choice(NOTES) if rng.random() < 0.06 else None,
            "created_at": ctx.now,
            "updated_at": ctx.now,
        }
        for flag, share in (("no_call", 0.02), ("no_sms", 0.03), ("no_email", 0.04)):
            refused = rng.random() < share
            at = None
            if refused:
                day = since + timedelta(days=rng.randint(0, max(0, (today - since).days)))
                at = ctx.local_utc(day, rng.randint(9, 17), rng.randrange(0, 60, 5))
            row[flag] = refused
            row[f"{flag}_by"] = CONSENT_SOURCE if refused else None
            row[f"{flag}_at"] = at
        rows.append(row)

    # Customer numbers in order of arrival: C<year><number in that year>.
    order = sorted(range(len(plans)), key=lambda k: (plans[k].since, k))
    per_year: dict[int, int] = {}
    for k in order:
        year = plans[k].since.year
        per_year[year] = per_year.get(year, 0) + 1
        plans[k].customer_no = f"C{year}{per_year[year]:05d}"
        rows[k]["customer_no"] = plans[k].customer_no
    ctx.session.execute(insert(Customer), [rows[k] for k in order])
    ids = dict(ctx.session.execute(select(Customer.customer_no, Customer.id)).all())
    for plan in plans:
        plan.id = ids[plan.customer_no]
    ctx.customers = [plans[k] for k in order]
    ctx.counts["customers"] = len(plans)


def _plate(rng: random.Random, prefix: str, energy: str) -> str:
    if energy:  # new-energy plate: D/F, a letter or digit, four digits
        second = rng.choice(PLATE_LETTERS[:8]) if rng.random() < 0.3 else str(rng.randrange(10))
        return f"{prefix}{energy}{second}{rng.randrange(10000):04d}"
    pattern = _PLATES.pick(rng)
    return prefix + "".join(rng.choice(PLATE_LETTERS) if c == "L" else str(rng.randrange(10)) for c in pattern)


def _inspection_due(delivery: date, today: date) -> date:
    """Private cars: exemption sticker at 2 and 4 years, first on-site inspection at 6,
    then every 2 years (every year after 10): the next of these at or after today."""
    years = 2
    while add_years(delivery, years) < today:
        years += 2 if years < 10 else 1
    return add_years(delivery, years)


def _vehicles(ctx: DemoContext) -> None:
    rng = ctx.rng("vehicles")
    today = ctx.today
    consultants = ctx.usernames("consultant")
    vins, plates = _Unique(), _Unique()
    models_by_year: dict[int, Weighted] = {}
    plans: list[VehiclePlan] = []
    for customer in ctx.customers:
        deliveries = []
        for n in range(customer.vehicles):
            if n == 0:
                day = customer.since
            elif customer.company:  # a fleet: bought in a batch
                day = customer.since + timedelta(days=rng.randint(0, 45))
            else:  # a second car for the family, at least four months later
                owned = (today - customer.since).days
                day = customer.since + timedelta(days=rng.randint(120, max(120, owned - 1)))
            if day < today:
                deliveries.append(day)
        for day in deliveries:
            model_year = day.year + (1 if day.month >= 10 and rng.random() < 0.5 else 0)
            if model_year not in models_by_year:
                models_by_year[model_year] = Weighted((m, m.weight) for m in MODELS if m.since <= model_year)
            model = models_by_year[model_year].pick(rng)

            def vin(model=model, model_year=model_year) -> str:
                body = f"{WMI}{model.vds}0{YEAR_CODES[(model_year - 2010) % 30]}{rng.choice(PLANTS)}{rng.randrange(100000, 1000000)}"
                return with_check_digit(body)

            place = CITIES.get(customer.city)
            prefix = place.plate if place and place.plate.startswith("川") else ctx.city(ctx.dealer_city).plate
            daily = rng.triangular(25, 65, 40)
            plans.append(
                VehiclePlan(
                    customer=customer,
                    vin=vins.draw(vin),
                    delivery=day,
                    model=model,
                    consultant=rng.choice(consultants),
                    daily_km=daily,
                    base_km=rng.randint(5, 30),
                    swing_km=daily * rng.uniform(5, 15),
                    phase=rng.uniform(0, 2 * math.pi),
                )
            )
            plans[-1].plate = plates.draw(lambda p=prefix, e=model.energy: _plate(rng, p, e))
            plans[-1].colour = _COLOURS.pick(rng)
    plans.sort(key=lambda v: (v.delivery, v.vin))
    rows = [
        {
            "vin": v.vin,
            "customer_id": v.customer.id,
            "plate": v.plate,
            "model": v.model.name,
            "color": v.colour,
            "delivery_date": v.delivery,
            "consultant_id": ctx.users[v.consultant],
            "warranty_end": add_years(v.delivery, WARRANTY_YEARS),
            "warranty_km": WARRANTY_KM,
            "inspection_due": _inspection_due(v.delivery, today),
            "mileage": v.odometer(today),
            "created_at": ctx.now,
            "updated_at": ctx.now,
        }
        for v in plans
    ]
    ctx.session.execute(insert(Vehicle), rows)
    ids = dict(ctx.session.execute(select(Vehicle.vin, Vehicle.id)).all())
    for v in plans:
        v.id = ids[v.vin]
    ctx.vehicles = plans
    ctx.counts["vehicles"] = len(plans)


def _deliveries(ctx: DemoContext) -> None:
    rng = ctx.rng("deliveries")
    rows = []
    for v in ctx.vehicles:
        hour = rng.choice((10, 11, 14, 15, 15, 16, 16, 17, 18))
        rows.append(
            {
                "vehicle_id": v.id,
                "customer_id": v.customer.id,
                "consultant_id": ctx.users[v.consultant],
                "delivered_at": ctx.local_utc(v.delivery, hour, rng.randrange(0, 60, 5)),
                "created_at": ctx.now,
                "updated_at": ctx.now,
            }
        )
    ctx.session.execute(insert(Delivery), rows)
    ctx.counts["deliveries"] = len(rows)


def _money(rng: random.Random, low: int, high: int, mode: int | None = None) -> Decimal:
    """A price in CNY between low and high (most often near `mode`), in ten-yuan steps."""
    value = rng.triangular(low, high, mode if mode is not None else (low + high) / 2)
    return Decimal(round(value / 10) * 10).quantize(Decimal("0.01"))


def _visit_days(rng: random.Random, v: VehiclePlan, today: date) -> list[tuple[date, str, Decimal]]:
    """A vehicle's repair orders: (day, kind, amount), by date, one a day at most."""
    # How this owner behaves: serviced here throughout, lapsed 90–360 days ago, lost for
    # more than a year, came back after a gap, or never came (serviced elsewhere).
    r = rng.random()
    profile = "elsewhere" if r < 0.08 else "lost" if r < 0.18 else "lapsed" if r < 0.36 else "gap" if r < 0.41 else "loyal"
    if profile == "elsewhere":
        return []
    visits: list[tuple[date, str, Decimal]] = []
    warranty_end = add_years(v.delivery, WARRANTY_YEARS)

    def extras(start: date, end: date) -> None:
        """Unplanned work between two services."""
        span = (end - start).days
        if span < 3:
            return
        for kind, share in (("repair", 0.12), ("warranty", 0.07), ("other", 0.05)):
            if rng.random() >= share:
                continue
            day = start + timedelta(days=rng.randint(1, span - 1))
            if day >= today:
                continue
            if kind == "warranty" and (day > warranty_end or v.odometer(day) > WARRANTY_KM):
                kind = "repair"
            low, high, mode = {"repair": (800, 12000, 1500), "warranty": (300, 6000, 1200), "other": (200, 3000, 600)}[kind]
            visits.append((day, kind, _money(rng, low, high, mode)))

    day = v.delivery + timedelta(days=rng.randint(50, 95))
    number = 0
    while day < today:
        if number == 0:
            visits.append((day, "first_service", Decimal("0.00")))  # the first service is free
        else:
            big = number % 2 == 0
            visits.append((day, "maintenance", _money(rng, 1000, 1500) if big else _money(rng, 400, 800)))
        number += 1
        km_interval = rng.randint(5000, 10000)
        interval = min(rng.randint(165, 195), round(km_interval / v.daily_km)) + rng.randint(-5, 20)
        nxt = day + timedelta(days=max(interval, 60))
        extras(day, min(nxt, today))
        day = nxt
    visits.sort(key=lambda x: x[0])

    if profile == "lapsed":
        candidates = [k for k, (d, _, _) in enumerate(visits) if 90 <= (today - d).days <= 360]
        if candidates:
            visits = visits[: rng.choice(candidates) + 1]
    elif profile == "lost":
        candidates = [k for k, (d, _, _) in enumerate(visits) if (today - d).days > 365]
        if candidates:
            visits = visits[: rng.choice(candidates) + 1]
    elif profile == "gap" and len(visits) > 4:
        k = rng.randint(1, len(visits) - 3)
        visits = visits[:k] + visits[k + 2 :]

    unique: dict[date, tuple[date, str, Decimal]] = {}
    for visit in visits:
        unique.setdefault(visit[0], visit)
    return list(unique.values())


def _visits(ctx: DemoContext) -> None:
    rng = ctx.rng("visits")
    planned = []
    for n, v in enumerate(ctx.vehicles):
        for day, kind, amount in _visit_days(rng, v, ctx.today):
            planned.append((day, n, kind, amount))
    planned.sort(key=lambda p: (p[0], p[1]))
    rows = []
    per_day: dict[date, int] = {}
    for day, n, kind, amount in planned:
        per_day[day] = per_day.get(day, 0) + 1
        v = ctx.vehicles[n]
        rows.append(
            {
                "ro_no": f"RO{day:%Y%m%d}{per_day[day]:04d}",
                "vehicle_id": v.id,
                "date": day,
                "mileage": v.odometer(day),
                "kind": kind,
                "amount": amount,
                "created_at": ctx.now,
                "updated_at": ctx.now,
            }
        )
    if rows:
        ctx.session.execute(insert(ServiceVisit), rows)
    ctx.counts["visits"] = len(rows)


def _policies(ctx: DemoContext) -> None:
    """One policy a year bought through the dealer: with the car, then renewals (most
    owners renew here; some go elsewhere and a few come back). Policies run one year,
    expiring the day before the anniversary."""
    rng = ctx.rng("policies")
    specialists = ctx.usernames("insurance")
    planned = []
    for v in ctx.vehicles:
        specialist = rng.choice(specialists)
        insurer = _INSURERS.pick(rng)
        here = rng.random() < 0.95
        year = 0
        while (start := add_years(v.delivery, year)) <= ctx.today:
            if year:
                here = rng.random() < (0.78 if here else 0.1)
                if rng.random() < 0.2:
                    insurer = _INSURERS.pick(rng)
                if rng.random() < 0.1:
                    specialist = rng.choice(specialists)
            if here:
                expiry = add_years(v.delivery, year + 1) - timedelta(days=1)
                planned.append((start, v.id, insurer, expiry, specialist))
            year += 1
    planned.sort(key=lambda p: (p[0], p[1]))
    rows = []
    for serial, (start, vehicle_id, (insurer, code), expiry, specialist) in enumerate(planned, 1):
        rows.append(
            {
                "policy_no": f"{code}{start.year}{serial:010d}",
                "vehicle_id": vehicle_id,
                "insurer": insurer,
                "expiry": expiry,
                "specialist_id": ctx.users[specialist],
                "created_at": ctx.now,
                "updated_at": ctx.now,
            }
        )
    if rows:
        ctx.session.execute(insert(InsurancePolicy), rows)
    ctx.counts["policies"] = len(rows)


# --- care-task history ------------------------------------------------------------------

HISTORY_DAYS = 90  # days of generated tasks and recorded outcomes before `today`

_DETAIL_VALUES = {
    "shop": ("途虎养车工场店", "小区门口快修店", "天猫养车", "朋友开的修理厂", "其他品牌4S店"),
    "location": ("高新区天府三街", "金牛区营门口路", "双流区东升街道", "武侯区人民南路", "成华区建设路"),
    "reason": ("车开得少，暂时不需要", "刚换了工作，最近很忙", "价格偏高，再考虑", "车准备卖掉了", "自己在外面做过了"),
    "insurer": ("平安保险", "中国人保 PICC", "太平洋保险", "大地保险"),
}
_ISSUE_NOTES = (
    "保养后仪表盘保养提示未复位，已约回店处理",
    "洗车不干净，客户有些不满，已转服务顾问",
    "等待时间比预计长40分钟",
    "交车时未讲解车机互联功能，已安排顾问电话说明",
)


def _detail_for(spec, rng: random.Random) -> dict[str, str]:
    detail: dict[str, str] = {}
    for f in spec.fields:
        if f.kind == FieldKind.MONEY:
            detail[f.name] = f"{rng.randrange(28, 160) * 10}.00"
        elif f.kind == FieldKind.CHOICE:
            plain = [value for value, _label in f.choices if value not in f.note_required_for]
            detail[f.name] = rng.choice(plain or [f.choices[0][0]])
        else:
            detail[f.name] = rng.choice(_DETAIL_VALUES.get(f.name, ("—",)))
    return detail


def _task_history(ctx: DemoContext) -> None:
    """A few months of care work: the generator run for each past day (as the scheduler
    would have), and the outcomes the specialists recorded — most past tasks closed, some
    overdue, today's list partly worked. Default scripts first, so that each outcome
    names the script version that was read."""
    from care.services.generator import generate
    from care.services.message_templates import ensure_default_templates
    from care.services.scripts import current_version, ensure_default_scripts

    session, rng = ctx.session, ctx.rng("task_history")
    ensure_default_scripts(session, now=ctx.now)
    ensure_default_templates(session, now=ctx.now)
    # R12: a few customers whose only number is missing (the number-correction queue).
    for plan in rng.sample(ctx.customers, max(1, len(ctx.customers) // 100)):
        session.execute(
            update(Customer).where(Customer.id == plan.id, Customer.phone2.is_(None)).values(mobile=None)
        )
    first = ctx.today - timedelta(days=HISTORY_DAYS)
    for offset in range(HISTORY_DAYS + 1):
        day = first + timedelta(days=offset)
        generate(session, day, actor="scheduler", now=min(ctx.now, ctx.local_utc(day, 8, 25)))

    versions: dict[str, int | None] = {}
    start_of_today = ctx.local_utc(ctx.today, 0, 0)
    tasks = session.scalars(
        select(CareTask).where(CareTask.status == TaskStatus.OPEN.value).order_by(CareTask.id)
    ).all()
    outcomes = 0
    for task in tasks:
        past = task.due_at < start_of_today
        if task.opens_on >= ctx.today or rng.random() > (0.93 if past else 0.3):
            continue  # still to do (overdue when its deadline has passed)
        specs = outcomes_for(task.type)
        closing = [o for o in specs if o.closes_task and o.booking != Booking.REQUIRED]
        if not closing:
            continue
        if task.type not in versions:
            version = current_version(session, task.type)
            versions[task.type] = version.id if version else None
        last_day = min(task.due_at.astimezone(ctx.tz).date(), ctx.today - timedelta(days=1))
        span = max(0, (last_day - task.opens_on).days)
        when = ctx.local_utc(
            task.opens_on + timedelta(days=rng.randint(0, span)), rng.randint(9, 19), rng.randrange(0, 60, 5)
        )
        if when >= ctx.now:
            continue
        can_miss = any(o.code == "not_reached" for o in specs)
        misses = rng.choice((0, 0, 0, 1, 1, 2)) if can_miss else 0
        for i in range(misses):
            session.add(TaskOutcome(
                task_id=task.id, outcome="not_reached", closes_task=False, source="manual",
                script_version_id=versions[task.type], recorded_by_id=task.assignee_id,
                recorded_at=when - timedelta(days=misses - i, hours=rng.randint(0, 3)),
            ))  # fmt: skip
            outcomes += 1
        # The first closing outcome is the common one (will come, greeted, satisfied …).
        spec = closing[0] if rng.random() < 0.65 else rng.choice(closing)
        session.add(TaskOutcome(
            task_id=task.id, outcome=spec.code, detail=_detail_for(spec, rng) or None,
            note=rng.choice(_ISSUE_NOTES) if spec.note_required else None, closes_task=True, source="manual", script_version_id=versions[task.type],
            recorded_by_id=task.assignee_id, recorded_at=when,
        ))  # fmt: skip
        task.status, task.outcome = TaskStatus.DONE.value, spec.code
        task.closed_at, task.closed_by_id = when, task.assignee_id
        outcomes += 1
    session.flush()
    ctx.counts["tasks"] = session.scalar(select(func.count()).select_from(CareTask))
    ctx.counts["outcomes"] = outcomes


# The steps in order. A later issue adds its own at the end (e.g. ("tasks", _tasks) for
# the past months' care tasks, then calls and surveys); each draws from ctx.rng(name).
Step = Callable[[DemoContext], None]
STEPS: list[tuple[str, Step]] = [
    ("users", _users),
    ("customers", _customers),
    ("vehicles", _vehicles),
    ("deliveries", _deliveries),
    ("visits", _visits),
    ("policies", _policies),
    ("task_history", _task_history),
]


# --- the use case ----------------------------------------------------------------------


def loaded_demo(session: Session) -> dict | None:
    """What `care demo` loaded into this database (the marker's detail), or None."""
    entry = session.scalars(
        select(AuditLog).where(AuditLog.action == MARKER_ACTION).order_by(AuditLog.id)
    ).first()
    return dict(entry.detail or {}) if entry is not None else None


def load_demo(
    session: Session,
    *,
    customers: int = DEFAULT_CUSTOMERS,
    seed: int = DEFAULT_SEED,
    today: date | None = None,
    actor: str,
    now: datetime,
) -> DemoResult:
    """Load the demo dealership, or nothing when the same one is loaded already.

    Raises ServiceError when another demo data set (seed or size) is loaded, when the
    database holds customers of its own, or when a demo user name is taken.
    """
    if customers < 1:
        raise ServiceError("--customers must be at least 1")
    settings = load_settings(session)
    tz = ZoneInfo(settings.timezone)
    if today is None:
        today = now.astimezone(tz).date()

    loaded = loaded_demo(session)
    if loaded is not None:
        if loaded.get("seed") == seed and loaded.get("customers") == customers:
            return DemoResult(
                True, seed, customers, date.fromisoformat(loaded["today"]), dict(loaded.get("counts") or {})
            )
        raise ServiceError(
            f"demo data with seed {loaded.get('seed')} and {loaded.get('customers')} customers is "
            f"already loaded; use a fresh database for seed {seed} and {customers} customers"
        )
    if session.scalar(select(func.count()).select_from(Customer)):
        raise ServiceError("the database already holds customers; load the demo into an empty database")
    taken = session.scalars(
        select(User.username).where(func.lower(User.username).in_([u.username for u in DEMO_USERS]))
    ).all()
    if taken:
        raise ServiceError(f"user {sorted(taken)[0]!r} exists already; load the demo into an empty database")

    ctx = DemoContext(
        session=session,
        seed=seed,
        size=customers,
        today=today,
        now=now,
        actor=actor,
        dealer_city=settings.dealer_city,
        tz=tz,
    )
    for _name, run in STEPS:
        run(ctx)
    detail = {
        "seed": seed,
        "customers": customers,
        "today": today.isoformat(),
        "version": FORMAT_VERSION,
        "counts": ctx.counts,
    }
    audit.record(session, actor=actor, action=MARKER_ACTION, object_type="demo", detail=detail, now=now)
    session.flush()
    return DemoResult(False, seed, customers, today, dict(ctx.counts))
