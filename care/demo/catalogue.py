"""What the demo dealership is made of: its staff, the people and places of its
customers, the cars it sells, the insurers it works with. Data only."""

from __future__ import annotations

from dataclasses import dataclass

DEMO_PASSWORD = "demo1234"  # noqa: S105 - the published password of the demo logins


# --- the staff -------------------------------------------------------------------------


@dataclass(frozen=True)
class DemoUser:
    username: str
    roles: tuple[str, ...]
    display_name: str  # a person's name, as a script reads it out ("我是…的客服专员刘婷")


# Plain names: the role is shown beside a name where it matters, and a script says it in
# its own words (a name with the role in it read "我是…的客服专员客服 刘婷").
DEMO_USERS: tuple[DemoUser, ...] = (
    DemoUser("specialist1", ("specialist",), "刘婷"),
    DemoUser("specialist2", ("specialist",), "陈静"),
    DemoUser("specialist3", ("specialist",), "王雪"),
    DemoUser("insurance1", ("insurance",), "赵敏"),
    DemoUser("insurance2", ("insurance",), "孙丽"),
    DemoUser("care_manager", ("care_manager",), "周红梅"),
    DemoUser("consultant1", ("consultant",), "张伟"),
    DemoUser("consultant2", ("consultant",), "李强"),
    DemoUser("consultant3", ("consultant",), "杨帆"),
    DemoUser("consultant4", ("consultant",), "吴磊"),
    DemoUser("sales_manager", ("sales_manager",), "黄建国"),
    DemoUser("front_desk", ("front_desk",), "何佳"),
    DemoUser("general_manager", ("general_manager",), "郑国华"),
    DemoUser("admin", ("admin",), "马骏"),
)
# The demo dealership's name (the `dealer_name` setting, when nobody set one): a FAW-VW
# store named after the `dealer_city` setting, e.g. 成都锦泰一汽-大众4S店.
DEALER_NAME = "{city}锦泰一汽-大众4S店"
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
