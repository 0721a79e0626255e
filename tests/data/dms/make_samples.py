"""Writes the sample DMS exports of this folder (run from the project root):

    .venv/bin/python tests/data/dms/make_samples.py

The files are committed; this script documents how they were made and remakes them.
VINs carry correct check digits (tests.factories.vin_for) except where a row is meant
to be rejected for its VIN.
"""

from __future__ import annotations

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
