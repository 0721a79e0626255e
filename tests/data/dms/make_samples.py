"""Writes the sample DMS exports of this folder (run from the project root):

    .venv/bin/python tests/data/dms/make_samples.py

The files are committed; this script documents how they were made and remakes them.
VINs carry correct check digits (tests.factories.vin_for) except where a row is meant
to be rejected for its VIN.
"""

from __future__ import annotations

import csv
import io
import sys
from datetime import datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[2]))

import openpyxl  # noqa: E402

from tests.factories import vin_for  # noqa: E402

V = [None] + [vin_for(n, wmi="LFV") for n in range(1, 10)]
BAD_CHECK = V[2][:8] + ("0" if V[2][8] != "0" else "1") + V[2][9:]


def write(name: str, lines: list[str], encoding: str) -> None:
    (HERE / name).write_bytes(("\r\n".join(lines) + "\r\n").encode(encoding))


def main() -> None:
    # Chinese headers with odd spaces, GB18030 as Chinese Excel saves "CSV (逗号分隔)".
    write(
        "customers_gb18030.csv",
        [
            " 客户编号 ,姓名, 手机,其他电话,邮箱,生日,农历生日,城市,地址,客户类别,拒绝电话,拒绝短信,拒绝邮件,备注",
            "C001,张伟,138 0013 8000,028 8888 1234,zhangwei@example.com,1985-03-12,02-15,成都,高新区天府大道100号,VIP,否,否,否,老客户",
            "C002,王芳,+86 139-0013-8001,,wangfang@example.com,1990/7/1,,成都,,保有,是,否,否,",
            "C003,李娜,0086 13700137002,,,1978年11月5日,8-3,绵阳,,潜在,否,是,否,",
            "C004,刘洋,13600136003,,,,,成都,,大客户,N,N,Y,",
        ],
        "gb18030",
    )
    # English headers in odd case and spacing, UTF-8 with BOM, and rows to reject.
    write(
        "customers_utf8_bom.csv",
        [
            " Customer_No ,NAME, Mobile,PHONE2,E-Mail,Birthday,Birthday Lunar,CITY,Class,No_Call,no sms,NO_EMAIL,Shoe size",
            "C101,Alice Chen,13900139000,,alice@example.com,1980-01-31,,Chengdu,potential,Y,N,false,42",
            "C102,Bob Li,12345,,bob@example.com,1981-02-01,,Chengdu,existing,N,N,N,43",
            "C103,Carol Wu,13900139001,,not-an-email,2026-02-30,13-01,Chengdu,vip,maybe,1,0,38",
            "C101,Alice Again,13900139009,,,,,,,,,,",
            "C105,Dan Zhou,13900139002,,,,,,key,TRUE,0,1,",
        ],
        "utf-8-sig",
    )
    # Vehicles: plain UTF-8 with a bad check digit, an unknown customer and an unknown user.
    write(
        "vehicles.csv",
        [
            "vin,customer_no,plate,model,color,delivery_date,consultant,warranty_end,warranty_km,inspection_due,mileage",
            f"{V[1]},C001,川A·12345,Sagitar 1.4T,白,2026-01-15,sales1,2029-01-15,\"100,000\",2028-01-15,1200",
            f"{BAD_CHECK},C001,川A22222,Lavida,黑,2026-01-16,,,,,",
            f"{V[3]},C999,川A33333,Lavida,黑,2026-01-16,,,,,",
            f"{V[4]},C002,川A44444,Tiguan L,灰,2026-01-17,Nobody,,,,",
            f"{V[5]},C003,川b 55555,Tiguan L,红,2026/01/18,销售一,2029/01/18,100000,2028/01/18,800",
        ],
        "utf-8",
    )
    # Visits with Chinese headers and kinds, GB18030.
    write(
        "visits_gb18030.csv",
        [
            "工单号,VIN,进厂日期,里程,类型,金额",
            f"RO0001,{V[1]},2026-03-15,3000,首保,0",
            f"RO0002,{V[1]},2026/09/20,8000,定保,\"1,234.50\"",
            f"RO0003,{V[5]},2026年10月2日,9500,维修,¥880",
            f"RO0004,{V[5]},2026-10-20,9700,索赔,0",
            f"RO0005,{V[5]},2026-11-01,9900,其他,50",
            f"RO0006,{V[1]},2026-11-02,10000,repair,300.5",
            f"RO0007,{V[1]},2026-11-03,abc,tuning,-5",
        ],
        "gb18030",
    )
    write(
        "policies.csv",
        [
            "policy_no,vin,insurer,expiry,specialist",
            f"P0001,{V[1]},PICC,2027-01-14,ins1",
            f"P0002,{V[5]},平安,2027年1月17日,",
            f"P0003,{V[9]},平安,2027-01-17,",
        ],
        "utf-8",
    )
    write(
        "deliveries.csv",
        [
            "VIN,客户编号,销售顾问,交车时间",
            f"{V[1]},C001,sales1,2026-01-15 10:30",
            f"{V[5]},C003,销售一,2026年1月18日 14时05分",
        ],
        "utf-8-sig",
    )
    write("deliveries_empty.csv", ["vin,customer_no,consultant,delivered_at"], "utf-8")

    # Phone numbers and e-mail addresses at the edges of the fast paths (care/phones.py,
    # care/emails.py): the import's results on it are pinned (tests/services/test_imports_identity.py).
    tricky = [
        ("T01", "甲", "13800138000", "", "a@example.com"),
        ("T02", "乙", " +86 138 0013 8001 ", "028-8888-1234", "A.B@Example.COM"),
        ("T03", "丙", "8613800138002", "+86-28-8888-1235", "Postmaster@example.com"),
        ("T04", "丁", "0086 13800138003", "(028)88881236", "user+tag@sub.example.org"),
        ("T05", "戊", "+8613800138004", "02888881237", "x..y@example.com"),
        ("T06", "己", "138-0013-8005", "12345", "x@localhost"),
        ("T07", "庚", "13800138006.0", "1380013800", ".x@example.com"),
        ("T08", "辛", "14000000000", "10086", "张@example.com"),
        ("T09", "壬", "19212345678", "+1 650 253 0000", "a@xn--fsqu00a.xn--55qx5d"),
        ("T10", "癸", "16212345678", "+852 6123 4567", "a@b.c"),
        ("T11", "子", "1991234567８", "+86 10 1234 5678", '"a"@example.com'),
        ("T12", "丑", "86 138 0013 8007", "138·0013·8008", "a@例子.公司"),
        ("T13", "寅", "+86 13800138009", "001 650 253 0000", "ABUSE@EXAMPLE.COM"),
        ("T14", "卯", "１３８００１３８０１０", "+86 (138) 0013-8013", "a@example"),
        ("T15", "辰", "13800138011x", "17012345678", "a@123.com"),
        ("T16", "巳", "+86138001380", "19812345678", "a@example.com."),
        ("T17", "午", "1 3 8 0 0 1 3 8 0 1 2", "15412345678", "a@-example.com"),
        ("T18", "未", "14512345678", "+8613800138000", "a@exa_mple.com"),
        ("T19", "申", "8613800138024", "86-138-0013-8025", "a@example..com"),
        ("T20", "酉", "0086-138-0013-8026", "+86 0138 0013 8027", "x" * 65 + "@example.com"),
        ("T21", "戌", "10013800138", "13800138", "a b@example.com"),
        ("T22", "亥", "138001380001", "+86 13800138000 ext 5", "a@[127.0.0.1]"),
        ("T23", "一", "19912345678", "11012345678", "Name <a@example.com>"),
        ("T24", "二", "13012345678", "17912345678", "a@example.invalid"),
        ("T25", "三", "19012345678", "+86 19112345678", "a@test"),
        ("T26", "四", "18612345678", "８６13800138029", "a@example.local"),
        ("T27", "五", "+86 13800138030", "tel:13800138031", "user.name+tag@gmail.com"),
        ("T28", "六", "13800138032 ", "  ", "o'brien@example.com"),
        ("T29", "七", "+86-13800138033", "+86 138.0013.8034", "a@EXAMPLE.com"),
        ("T30", "八", "86 1380013803", "0086-010-12345678", "info@qq.com"),
        ("T31", "九", "+861380013803", "(+86)13800138035", "a" * 64 + "@" + "b" * 60 + ".com"),
        ("T32", "十", "+86 138 0013 8036", "+86 13800138037", "a@" + ("b" * 63 + ".") * 3 + "com"),
    ]
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\r\n").writerows([("customer_no", "name", "mobile", "phone2", "email"), *tricky])
    (HERE / "customers_tricky.csv").write_bytes(buffer.getvalue().encode("utf-8"))

    # An Excel workbook: Chinese headers, date cells, a number cell for the mileage.
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "车辆"
    ws.append(["车架号", "客户编号", "车牌", "交车日期", "保修到期", "年检到期", "里程", "销售顾问"])
    ws.append([V[6], "C004", "川A66666", datetime(2025, 12, 1), datetime(2028, 12, 1), datetime(2027, 12, 1), 15000, "sales1"])
    ws.append([V[7], "C004", "川A77777", "2025/12/02", "2028年12月2日", None, 12000.0, None])
    ws.append([V[8], "C404", "川A88888", datetime(2025, 12, 3), None, None, None, None])
    for row in ws.iter_rows(min_row=2, min_col=4, max_col=6):
        for cell in row:
            if isinstance(cell.value, datetime):
                cell.number_format = "yyyy-mm-dd"
    wb.save(HERE / "vehicles.xlsx")


if __name__ == "__main__":
    main()
