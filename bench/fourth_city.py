"""Fourth city: an independent, blind test-data generator for ring detection (重庆市, one year).

The city
--------
重庆市 (Chongqing) as a pooling area of 6-digit district codes: the urban core (渝中 500103, 江北 500105,
沙坪坝 500106, 九龙坡 500107, 南岸 500108, 北碚 500109, 渝北 500112, 巴南 500113), the semi-urban districts
(万州 500101, 江津 500116, 合川 500117, 永川 500118) and the mountain counties of the Three Gorges and the
south-east (开州 500154, 丰都 500230, 垫江 500231, 忠县 500233, 云阳 500235, 奉节 500236, 巫山 500237,
彭水 500243). Urban addresses are Chongqing style (``…路12号锦绣华庭3栋2单元5-2``), rural ones are
``…镇…村十二组35号``. The settlement year runs 2025-07-01 .. 2026-06-30, so drug trace codes (药品追溯码)
are patchy in the first half (pharmacies adopt them at different dates) and always present from
2026-01-01. Ids follow the national style: persons ``<region><8 digits>`` (参保人编号), hospitals, clinics and
homes ``H<region><5>``, pharmacies ``P<region><5>``, prescribers ``D<region><5>``, cards ``K…``/e-vouchers
``EV…``, intermediaries ``DB…`` (registered agents) and ``XS…`` (from tips).

The background population is households (three generations, left-behind elderly in the counties, young
migrants in rented flats) with seasonal outpatient, pharmacy and inpatient care at the institutions near
them. Big level-3 hospitals take many same-day admissions, big estates give shared address prefixes,
popular pharmacies serve whole neighbourhoods, and some elderly die during the year.

What is planted (``<out>-truth.json`` lists every ring with its persons)
-----------------------------------------------------------------------
* black_intermediary: a broker (sometimes an insured person, sometimes only a tip in intermediaries.csv,
  sometimes neither) recruits elderly from a few villages of one county; van loads admitted to one or
  two private hospitals over several days, 1-4 rounds; broker phones (1-3 SIMs) as contact on a varying
  share of stays, broker as agent or payee on a varying share, bait "free check-ups" before admission.
* professional_gang: 3-16 unrelated adults doing group stays (结队住院), rotating over 3-8 hospitals, never
  the same hospital twice in a row, admissions staggered by days, some stays alone.
* card_collector: a 卡贩子 holding 6-70 cards: physical cards and e-vouchers re-bound to his phones and
  devices, swiped in sessions over several complicit pharmacies and days, minutes apart; resale drugs
  whose trace codes come back through other pharmacies (回流药) sold to innocent buyers.
* prescriber_pharmacy_collusion: one doctor's prescriptions filled at one pharmacy (sometimes two
  branches) for patients he mostly never saw, with some real visits mixed in, and some honest scripts.
* care_home_collusion: a private nursing home sends residents to a hospital in staggered waves.
* identity_misuse: cards of the dead (death_date in persons.csv) used weeks later, cards of people
  demonstrably elsewhere (in a county hospital bed, or buying with their own phone in another
  district the same hour), small family cases (a son using his dead parents' cards).

Hard cases: rings sharing infrastructure (two brokers at one hot private hospital in the same months, a
gang rotating through it too, two collectors at one hot pharmacy) stay separate rings in the truth; the
hot hospital may also write its own account as payee on every stay.

Look-alikes (truth ``lookalikes``): legit care homes (monthly round on one day, chance admissions),
dialysis cohorts (three times a week), chemotherapy cohorts and dual-channel (双通道) pharmacy buyers,
company check-up days, school vaccination days, group-rental flats, registered claim agents (village
health workers and a city 代办 service) filing one claim each for many households, families managing
parents' e-vouchers on one phone (家庭共济/亲情账户), a building's elderly at the community clinic's
follow-up day, a village minibus driver reported in a tip, a hospital writing its own payee account,
patients who died in hospital, trace-code double scans.

Messy export: phones with +86/0086/dashes/spaces/full-width digits, one household's address written
several ways, lower-case x in ID numbers, accounts in groups of four, blank optional cells, a BOM,
two time formats, an unknown extra column, repeated identical rows, one person with two 参保人编号 under
one ID number (``duplicate_persons`` pairs the first id with the second), and a handful of rows that break
the contract (bad time, bad amount, unknown person, missing institution, conflicting duplicate keys)
which ingest must reject.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import random
import sys
import time
from datetime import date, timedelta
from pathlib import Path
from typing import Any

__all__ = ["generate_fourth_city"]

START = date(2025, 7, 1)
NDAYS = 365
OFF = 1200  # day index offset in the date table (days before the period for deaths and issue dates)
DATES = [(START + timedelta(d - OFF)).isoformat() for d in range(NDAYS + OFF + 90)]
WEEKDAY = [(START + timedelta(d - OFF)).weekday() for d in range(NDAYS + OFF + 90)]
TRACE_MANDATORY = (date(2026, 1, 1) - START).days

# code, name, tier, weight, streets (街道, urban style), towns (镇, villages)
REGIONS: list[tuple[str, str, str, float, list[str], list[str]]] = [
    ("500103", "渝中区", "core", 0.05, ["解放碑街道", "七星岗街道", "大坪街道", "化龙桥街道", "上清寺街道"], []),
    ("500105", "江北区", "core", 0.08, ["观音桥街道", "五里店街道", "大石坝街道", "石马河街道"], []),
    ("500106", "沙坪坝区", "core", 0.08, ["小龙坎街道", "磁器口街道", "天星桥街道", "陈家桥街道"], []),
    ("500107", "九龙坡区", "core", 0.09, ["杨家坪街道", "石桥铺街道", "谢家湾街道", "二郎街道"], []),
    ("500108", "南岸区", "core", 0.07, ["南坪街道", "弹子石街道", "铜元局街道", "花园路街道"], []),
    ("500109", "北碚区", "core", 0.04, ["天生街道", "北温泉街道", "龙凤桥街道"], []),
    ("500112", "渝北区", "core", 0.12, ["龙溪街道", "龙山街道", "回兴街道", "两路街道", "双龙湖街道"], []),
    ("500113", "巴南区", "core", 0.05, ["鱼洞街道", "李家沱街道", "龙洲湾街道"], []),
    ("500101", "万州区", "semi", 0.06, ["高笋塘街道", "牌楼街道", "陈家坝街道"], ["分水镇", "龙沙镇", "长岭镇"]),
    ("500116", "江津区", "semi", 0.04, ["几江街道", "德感街道"], ["白沙镇", "石门镇", "李市镇"]),
    ("500117", "合川区", "semi", 0.04, ["合阳城街道", "南津街街道"], ["太和镇", "钱塘镇", "龙市镇"]),
    ("500118", "永川区", "semi", 0.03, ["中山路街道", "胜利路街道"], ["来苏镇", "仙龙镇"]),
    ("500154", "开州区", "rural", 0.04, ["汉丰街道"], ["临江镇", "温泉镇", "郭家镇", "中和镇", "竹溪镇"]),
    ("500235", "云阳县", "rural", 0.035, ["双江街道"], ["南溪镇", "江口镇", "凤鸣镇", "龙角镇", "故陵镇"]),
    ("500236", "奉节县", "rural", 0.03, ["永安街道"], ["白帝镇", "草堂镇", "吐祥镇", "康乐镇"]),
    ("500233", "忠县", "rural", 0.025, ["忠州街道"], ["拔山镇", "新立镇", "石宝镇", "任家镇"]),
    ("500230", "丰都县", "rural", 0.025, ["三合街道"], ["高家镇", "社坛镇", "十直镇", "包鸾镇"]),
    ("500231", "垫江县", "rural", 0.025, ["桂溪街道"], ["澄溪镇", "高安镇", "沙坪镇"]),
    ("500237", "巫山县", "rural", 0.02, ["高唐街道"], ["大昌镇", "庙宇镇", "官渡镇"]),
    ("500243", "彭水苗族土家族自治县", "rural", 0.02, ["汉葭街道"], ["郁山镇", "保家镇", "黄家镇"]),
]
ROADS = ["建新北路", "红锦大道", "金开大道", "龙山路", "杨家坪正街", "南坪西路", "小龙坎正街", "民族路", "渝州路",
         "石杨路", "江南大道", "天生路", "鱼洞新市街", "宝环路", "双龙大道", "腾龙大道", "汉渝路", "科园一路",
         "沙坪正街", "五红路", "人民路", "滨江路", "新华路", "北城路", "白岩路", "太白路", "学府大道"]
ESTATE_A = ["锦绣", "翠湖", "滨江", "山水", "嘉陵", "阳光", "东方", "华宇", "融汇", "天骄", "渝通", "新港",
            "橡树", "中央", "金域", "龙庭", "蓝湖", "御景", "南山", "鸿恩"]
ESTATE_B = ["花园", "小区", "名都", "华庭", "丽景", "公馆", "上城", "新村", "家园", "苑", "国际社区", "雅居"]
OLD_COMPOUNDS = ["长安厂宿舍", "建设厂家属区", "重钢家属区", "嘉陵厂宿舍", "望江厂家属院", "空压厂宿舍", "铁路新村",
                 "电力局宿舍"]
VILLAGES = ["长江", "石龙", "双河", "黄桷", "新华", "青龙", "白果", "大坪", "柏树", "桂花", "龙井", "红岩", "团结",
            "水井", "三星", "高峰", "凉水", "观音", "马鞍", "河坝", "杨柳", "枫香", "金竹", "松林", "狮子", "龙滩"]
OTHER_PROV = ["510107", "511621", "511602", "522121", "520102", "430602", "513701", "421022"]

SURNAMES = ("王李张刘陈杨黄赵周吴徐孙胡朱高林何郭马罗梁宋郑谢韩唐冯邓许傅曾彭蒋蔡余潘杜戴夏钟汪田任姜范方石"
            "姚谭廖邹熊金陆秦向冉牟龚文易雷贺黎汤尹段万龙代游")
GIVEN_OLD_F = ["秀英", "桂芬", "淑珍", "玉兰", "素华", "德芳", "明英", "春兰", "光碧", "文秀", "远琼", "泽芬", "国珍"]
GIVEN_OLD_M = ["建国", "德明", "国富", "光荣", "树清", "永福", "世平", "家贵", "仁和", "朝贵", "正清", "开明", "治国"]
GIVEN_MID = ["伟", "静", "敏", "勇", "丽", "军", "燕", "强", "洪", "霞", "斌", "琴", "波", "英", "平", "红", "亮",
             "娟", "涛", "梅", "海", "利", "杰", "渝", "川"]
GIVEN_YOUNG = ["子涵", "浩然", "欣怡", "梓萱", "宇轩", "诗琪", "俊杰", "雨桐", "思远", "嘉怡", "博文", "一诺", "语嫣",
               "皓轩", "沐阳", "若曦", "天佑", "可馨"]

# name, box price low, high, resale-attractive, chronic
DRUGS: list[tuple[str, float, float, bool, bool]] = [
    ("苯磺酸氨氯地平片", 12, 35, False, True), ("二甲双胍缓释片", 15, 40, False, True),
    ("阿托伐他汀钙片", 20, 60, False, True), ("硝苯地平控释片", 25, 45, False, True),
    ("厄贝沙坦片", 18, 40, False, True), ("阿司匹林肠溶片", 8, 20, False, True),
    ("瑞舒伐他汀钙片", 20, 50, False, True), ("达格列净片", 60, 130, False, True),
    ("门冬胰岛素30注射液", 60, 90, False, True), ("复方丹参滴丸", 25, 45, False, True),
    ("脑心通胶囊", 40, 70, False, True), ("百令胶囊", 50, 110, True, True),
    ("金水宝胶囊", 40, 90, True, True), ("六味地黄丸", 15, 30, False, True),
    ("连花清瘟胶囊", 15, 30, False, False), ("蒲地蓝消炎口服液", 25, 45, False, False),
    ("布洛芬缓释胶囊", 10, 25, False, False), ("阿莫西林胶囊", 8, 20, False, False),
    ("奥美拉唑肠溶胶囊", 10, 30, False, False), ("强力枇杷露", 15, 30, False, False),
    ("甘精胰岛素注射液", 150, 200, True, True), ("人血白蛋白", 350, 480, True, False),
    ("甲磺酸奥希替尼片", 4800, 5600, False, False), ("氯吡格雷片", 30, 90, True, True),
    ("安宫牛黄丸", 300, 800, True, False), ("阿胶", 120, 400, True, False),
    ("三七粉", 80, 200, True, False), ("西洋参", 100, 300, True, False),
]
CHRONIC = [i for i, d in enumerate(DRUGS) if d[4] and i != 22]
ACUTE = [i for i, d in enumerate(DRUGS) if not d[4] and not d[3] and i != 22]
RESALE = [i for i, d in enumerate(DRUGS) if d[3]]
OSIMERTINIB = 22
TESTS = ["血常规", "尿常规", "肝功能", "肾功能", "血糖测定", "心电图", "胸部DR", "彩超", "CT平扫", "血脂四项"]
INPATIENT = [
    ("肺部感染", "抗感染治疗;静脉输液;胸部CT;血常规"), ("腰椎间盘突出", "中频脉冲电治疗;针灸;推拿;腰椎MRI"),
    ("脑供血不足", "银杏叶提取物注射液;静脉输液;颈部血管彩超;头颅CT"),
    ("慢性支气管炎急性发作", "雾化吸入;静脉输液;胸部DR;血气分析"), ("冠心病", "冠脉造影;心电监护;阿托伐他汀钙片"),
    ("2型糖尿病", "胰岛素泵治疗;血糖监测;糖化血红蛋白"), ("骨折", "骨科手术;内固定材料;X线"),
    ("慢性胃炎", "胃镜检查;奥美拉唑;静脉输液"), ("高血压", "动态血压监测;心脏彩超"),
    ("膝骨关节炎", "关节腔注射;理疗;针灸"),
]
FAKE_STAY = [
    ("腰椎间盘突出", "中频脉冲电治疗;针灸;推拿;红外线治疗"), ("脑供血不足", "银杏叶提取物注射液;静脉输液;经颅多普勒"),
    ("慢性胃炎", "静脉输液;奥美拉唑;胃肠动力检测"), ("颈椎病", "颈椎牵引;针灸;中频脉冲电治疗;拔罐"),
    ("高血压", "静脉输液;动态血压监测;心电图"), ("膝骨关节炎", "关节腔注射;理疗;艾灸;蜡疗"),
]
STAY_FEES = ";住院诊查费;床位费;护理费"
FW = str.maketrans("0123456789", "０１２３４５６７８９")
CN_NUM = "零一二三四五六七八九"
IDW = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]
IDC = "10X98765432"

SETTLE_COLS = ["settlement_id", "kind", "start_time", "person_id", "card_id", "institution_id", "prescriber_id",
               "end_time", "total_amount", "fund_amount", "items", "contact_phone", "agent_id", "payee_account",
               "device_id", "operator_id", "trace_codes", "export_batch"]


def _cn(n: int) -> str:
    """Chinese numeral for 1..99 (十二, 二十三)."""
    if n < 10:
        return CN_NUM[n]
    t, u = divmod(n, 10)
    return ("" if t == 1 else CN_NUM[t]) + "十" + (CN_NUM[u] if u else "")


def _pois(rng: random.Random, lam: float) -> int:
    if lam <= 0:
        return 0
    if lam > 30:
        return max(0, int(rng.gauss(lam, math.sqrt(lam)) + 0.5))
    lim = math.exp(-lam)
    k, p = 0, rng.random()
    while p > lim:
        k += 1
        p *= rng.random()
    return k


def _logu(rng: random.Random, lo: float, hi: float) -> int:
    return int(round(math.exp(rng.uniform(math.log(lo), math.log(hi)))))


class _City:
    def __init__(self, persons: int, seed: int) -> None:
        self.rng = random.Random(seed)
        self.n_target = max(500, persons)
        self.s = self.n_target / 20000
        self.seed = seed
        self.buffer: list[list[str]] = []
        self.rings: list[dict[str, Any]] = []
        self.lookalikes: list[dict[str, Any]] = []
        self.duplicates: dict[str, str] = {}
        self.extra_cards: list[list[str]] = []
        self.intermediaries: list[list[str]] = []
        self.trace_counter = self.rng.randrange(10**6, 10**7)
        self.trace_prefix = [f"8{i:02d}{self.rng.randrange(10**5):05d}" for i in range(len(DRUGS))]
        self.phones_used: set[int] = set()
        self._pidset: set[str] = set()
        self.ring_idx: set[int] = set()
        self.dup_of: dict[int, str] = {}
        self.dup_clinic: dict[int, int] = {}
        day_w = []
        for d in range(NDAYS):
            dt = START + timedelta(d)
            w = 1.25 if dt.month in (12, 1, 2) else (0.9 if dt.month in (7, 8) else 1.0)
            if date(2026, 2, 14) <= dt <= date(2026, 2, 22):
                w *= 0.35
            self_w = w * (0.55 if dt.weekday() == 6 else 0.75 if dt.weekday() == 5 else 1.0)
            day_w.append((self_w, w))
        acc = 0.0
        self.cw_out: list[float] = []
        for a, _ in day_w:
            acc += a
            self.cw_out.append(acc)
        acc = 0.0
        self.cw_ph: list[float] = []
        for _, b in day_w:
            acc += b
            self.cw_ph.append(acc)
        self.days = list(range(NDAYS))

    # ------------------------------------------------------------------ small helpers
    def phone(self) -> str:
        rng = self.rng
        while True:
            p = rng.choice(("13", "15", "17", "18", "19", "13", "15", "18")) + str(rng.randrange(10)) + \
                f"{rng.randrange(10**8):08d}"
            k = int(p)
            if k not in self.phones_used:
                self.phones_used.add(k)
                return p

    def landline(self) -> str:
        return "023" + str(self.rng.choice((6, 6, 8, 4, 5))) + f"{self.rng.randrange(10**7):07d}"

    def fmt_phone(self, p: str, style: int = -1) -> str:
        rng = self.rng
        if not p:
            return ""
        if style < 0:
            r = rng.random()
            style = 0 if r < 0.8 else rng.randrange(1, 8)
        if p.startswith("023"):  # landline
            if style in (0, 7):
                return p[:3] + "-" + p[3:]
            return ("(023)" + p[3:], p[3:], "023 " + p[3:7] + " " + p[7:], p, "023-" + p[3:], "(023)" + p[3:])[style - 1]
        if style == 0:
            return p
        if style == 1:
            return "+86 " + p
        if style == 2:
            return "0086" + p
        if style == 3:
            return p[:3] + "-" + p[3:7] + "-" + p[7:]
        if style == 4:
            return p[:3] + " " + p[3:7] + " " + p[7:]
        if style == 5:
            return "+86-" + p
        if style == 6:
            return p.translate(FW)
        return " " + p + " "

    def account(self) -> str:
        return self.rng.choice(("6217", "6228", "6230", "6222", "6214")) + f"{self.rng.randrange(10**15):015d}"

    def fmt_account(self, a: str) -> str:
        if not a:
            return ""
        if self.rng.random() < 0.2:
            return " ".join(a[i:i + 4] for i in range(0, len(a), 4))
        return a

    def device(self) -> str:
        if self.rng.random() < 0.5:
            return "86" + f"{self.rng.randrange(10**13):013d}"
        return f"{self.rng.getrandbits(64):016x}"

    def name(self, age: int, g: str) -> str:
        rng = self.rng
        s = rng.choice(SURNAMES[:20]) if rng.random() < 0.6 else rng.choice(SURNAMES)
        if age >= 58:
            return s + rng.choice(GIVEN_OLD_F if g == "F" else GIVEN_OLD_M)
        if age >= 25:
            return s + rng.choice(GIVEN_MID) + (rng.choice(GIVEN_MID) if rng.random() < 0.6 else "")
        return s + rng.choice(GIVEN_YOUNG)

    def idnum(self, prefix: str, birth: str, g: str) -> str:
        seq = self.rng.randrange(0, 500) * 2 + (1 if g == "M" else 0)
        body = prefix + birth.replace("-", "") + f"{seq:03d}"
        return body + IDC[sum(int(a) * w for a, w in zip(body, IDW)) % 11]

    def render_addr(self, a: tuple[Any, ...], variant: bool) -> str:
        rng = self.rng
        reg = REGIONS[a[1]]
        city, dist = "重庆市", reg[1]
        if a[0] == "u":
            _, _, street, road, no, estate, bld, unit, fl, room = a
            if not variant:
                return f"{city}{dist}{street}{road}{no}号{estate}{bld}栋{unit}单元{fl}-{room}"
            r = rng.random()
            head = rng.choice(("", "重庆", "重庆市", "重庆市 ")) + (dist if rng.random() < 0.75 else "")
            mid = (street if rng.random() < 0.4 else "") + (f"{road}{no}号" if rng.random() < 0.7 else "")
            b = _cn(bld) if r < 0.2 and bld < 100 else str(bld)
            tail = f"{estate}{b}栋" + (f"{unit}单元{fl}-{room}" if rng.random() < 0.85 else "")
            if rng.random() < 0.25:
                tail = f"{estate}{bld}-{unit}-{fl}-{room}"
            s = head + mid + tail
        else:
            _, _, town, village, grp, no = a
            if not variant:
                return f"{city}{dist}{town}{village}村{_cn(grp)}组{no}号"
            head = rng.choice(("", "重庆", "重庆市", "重庆市 ")) + (dist if rng.random() < 0.6 else "")
            g = str(grp) if rng.random() < 0.6 else _cn(grp)
            s = f"{head}{town}{village}村{g}组" + (f"{no}号" if rng.random() < 0.8 else "")
        if rng.random() < 0.15:
            s = s.translate(FW)
        if rng.random() < 0.1:
            k = rng.randrange(1, len(s))
            s = s[:k] + " " + s[k:]
        return s

    # ------------------------------------------------------------------ institutions
    def build_institutions(self) -> None:
        rng, s = self.rng, self.s
        self.inst: list[dict[str, Any]] = []
        self.by_kind_reg: dict[tuple[str, int], list[int]] = {}
        self.level3: list[int] = []
        self.private_hosp: list[int] = []
        self.clinic_of: dict[tuple[int, str], int] = {}
        self.pharm_of: dict[tuple[int, str], list[int]] = {}
        self.homes: list[int] = []
        self.presc: list[list[str]] = []
        self.presc_of: dict[int, list[str]] = {}
        seqs: dict[str, int] = {}

        def add(kind: str, reg: int, name: str, level: str, own: str, weight: float, area: str = "") -> int:
            code = REGIONS[reg][0]
            seqs[code] = seqs.get(code, 0) + rng.randrange(1, 40)
            iid = ("P" if kind == "pharmacy" else "H") + code + f"{seqs[code]:05d}"
            addr = ("重庆市" if rng.random() < 0.7 else "") + REGIONS[reg][1] + area + rng.choice(ROADS) + \
                f"{rng.randrange(1, 400)}号"
            trace_from = TRACE_MANDATORY
            if kind == "pharmacy":
                trace_from = rng.choice((-400, -100, 30, 90, 150, TRACE_MANDATORY, TRACE_MANDATORY))
            elif rng.random() < 0.5:
                trace_from = rng.choice((0, 60, 120, TRACE_MANDATORY))
            d = {"id": iid, "name": name, "kind": kind, "level": level, "own": own, "addr": addr,
                 "phone": self.landline(), "reg": reg, "sep": "T" if rng.random() < 0.55 else " ",
                 "trim": rng.random() < 0.3, "pstyle": rng.choice((0, 0, 0, 3, 1, 4)), "w": weight,
                 "account": self.account(), "own_payee": False, "ops": rng.randrange(2, 9),
                 "trace_from": trace_from, "area": area}
            self.inst.append(d)
            idx = len(self.inst) - 1
            self.by_kind_reg.setdefault((kind, reg), []).append(idx)
            if kind in ("hospital", "clinic", "nursing_home"):
                n_doc = {"hospital": {"3": rng.randrange(20, 60), "2": rng.randrange(8, 25)}.get(level, rng.randrange(3, 9)),
                         "clinic": rng.randrange(1, 5), "nursing_home": rng.randrange(1, 3)}[kind]
                ids = []
                for _ in range(n_doc):
                    seqs["D" + code] = seqs.get("D" + code, 0) + rng.randrange(1, 9)
                    pid = "D" + code + f"{seqs['D' + code]:05d}"
                    age = rng.randrange(28, 64)
                    self.presc.append([pid, self.name(age, rng.choice("MF")), iid,
                                       self.fmt_phone(self.phone()) if rng.random() < 0.6 else ""])
                    ids.append(pid)
                self.presc_of[idx] = ids
            return idx

        n_l3 = max(3, round(3 * s ** 0.6))
        core = [i for i, r in enumerate(REGIONS) if r[2] == "core"]
        l3_names = ["重庆市第一人民医院", "重庆市第三人民医院", "重庆市第五人民医院", "重庆市第七人民医院",
                    "重庆市第九人民医院", "重庆市中医院", "重庆市急救医疗中心", "重庆市肿瘤医院", "重庆市人民医院",
                    "重庆市红十字会医院", "重庆市第四人民医院", "重庆市第六人民医院", "陆军特色医学中心(合作)",
                    "重庆市老年病医院", "重庆市职业病防治院"]
        for k in range(n_l3):
            nm = l3_names[k] if k < len(l3_names) else f"重庆市第{_cn(k + 2)}人民医院{k}院区"
            i = add("hospital", rng.choice(core), nm, "3", "public", rng.uniform(3, 8))
            self.level3.append(i)
        priv_a = ["渝康", "仁济", "华康", "福寿", "同心", "博爱", "协和", "康华", "民生", "安康", "惠民", "德仁",
                  "永安", "佳和", "嘉禾", "济民", "怡康", "长寿", "益寿", "万家"]
        priv_b = ["医院", "骨科医院", "中医医院", "康复医院", "老年病医院", "综合医院", "中西医结合医院"]
        for ri, reg in enumerate(REGIONS):
            tier = reg[2]
            dname = reg[1].replace("苗族土家族自治", "")
            lvl = "3" if tier != "rural" or rng.random() < 0.4 else "2"
            add("hospital", ri, f"重庆市{dname}人民医院" if tier != "rural" else f"{dname}人民医院", lvl, "public",
                rng.uniform(2, 4))
            add("hospital", ri, f"{dname}中医院", "2", "public", rng.uniform(1, 2))
            n_priv = max(1, round(rng.uniform(1.0, 2.5) * s ** 0.75))
            for _ in range(n_priv):
                i = add("hospital", ri, f"{dname}{rng.choice(priv_a)}{rng.choice(priv_b)}",
                        rng.choice(("1", "2", "2", "")), "private", rng.uniform(0.3, 1.0))
                self.private_hosp.append(i)
            areas = [(st, "u") for st in reg[4]] + [(tw, "r") for tw in reg[5]]
            for area, kindc in areas:
                cname = f"{area.replace('街道', '')}社区卫生服务中心" if kindc == "u" else f"{area}卫生院"
                self.clinic_of[(ri, area)] = add("clinic", ri, cname, "1", "public", 1.0, area)
                n_ph = max(1, round(rng.uniform(0.6, 1.8) * s ** 0.8))
                chains = ["渝和堂大药房", "康健大药房", "百姓缘药房", "仁心药房", "众康大药房", "益丰源药房", "万和堂药房",
                          "鑫康大药房", "同济堂药房", "惠康药房"]
                lst = []
                for _ in range(n_ph):
                    nm = f"{rng.choice(chains)}({area.replace('街道', '').replace('镇', '')}{rng.choice(('', '二', '三', '中心'))}店)"
                    lst.append(add("pharmacy", ri, nm, "", "private", rng.paretovariate(1.3), area))
                self.pharm_of[(ri, area)] = lst
            n_home = round(rng.uniform(0.2, 1.1) * s ** 0.7) + (1 if tier == "rural" or ri == 0 else 0)
            for _ in range(n_home):
                nm = rng.choice(("{d}{a}养老院", "{d}{a}康养中心", "{d}{a}敬老院", "{d}{a}颐养院")).format(
                    d=dname, a=rng.choice(priv_a))
                self.homes.append(add("nursing_home", ri, nm, "", rng.choice(("private", "private", "public")), 1.0))
        self.hospitals = [i for i, d in enumerate(self.inst) if d["kind"] == "hospital"]
        self.pharmacies = [i for i, d in enumerate(self.inst) if d["kind"] == "pharmacy"]
        self.village_clinic: dict[tuple[int, str, str], int] = {}

    # ------------------------------------------------------------------ persons
    def build_persons(self) -> None:
        rng = self.rng
        n = self.n_target
        self.pid: list[str] = []
        self.nm: list[str] = []
        self.gender: list[str] = []
        self.birth: list[str] = []
        self.age: list[int] = []
        self.reg: list[int] = []
        self.area: list[str] = []
        self.addr: list[tuple[Any, ...]] = []
        self.hh: list[int] = []
        self.own_phone: list[str] = []
        self.contact: list[str] = []
        self.ins: list[str] = []
        self.death: list[int | None] = []
        self.idn: list[str] = []
        self.acct: list[str] = []
        self.card: list[str] = []
        self.ev: list[str] = []
        self.evdev: list[str] = []
        self.evphone: list[str] = []
        self.frail: list[float] = []
        self.taken: list[int] = []
        self.pref_clinic: list[int] = []
        self.pref_hosp: list[int] = []
        self.pref_pharm: list[tuple[int, ...]] = []
        self.by_reg: list[list[int]] = [[] for _ in REGIONS]
        self.by_village: dict[tuple[int, str, str], list[int]] = {}
        self.persons_phone_blank: list[bool] = []
        weights = [r[3] for r in REGIONS]
        estates: dict[tuple[int, str], list[tuple[str, str, int, int]]] = {}
        villages: dict[tuple[int, str], list[str]] = {}
        n_vil = max(3, min(14, round(n / 4000)))
        pseq: dict[str, int] = {}
        hh_id = 0
        while len(self.pid) < n:
            ri = rng.choices(range(len(REGIONS)), weights=weights)[0]
            reg = REGIONS[ri]
            rural_area = reg[5] and rng.random() < (0.75 if reg[2] == "rural" else 0.4)
            if rural_area:
                town = rng.choice(reg[5])
                vl = villages.setdefault((ri, town), rng.sample(VILLAGES, n_vil))
                vil = rng.choice(vl[: rng.randrange(1, len(vl) + 1)])
                addr: tuple[Any, ...] = ("r", ri, town, vil, rng.randrange(1, 16), rng.randrange(1, 120))
                area = town
                htype = rng.choices(("left", "elderly2", "three", "family", "single"), (0.3, 0.2, 0.25, 0.15, 0.1))[0]
            else:
                street = rng.choice(reg[4])
                es = estates.setdefault((ri, street), [])
                if not es or rng.random() < 0.08 / max(1, len(es)) * 6:
                    est = rng.choice(OLD_COMPOUNDS) if rng.random() < 0.15 else rng.choice(ESTATE_A) + rng.choice(ESTATE_B)
                    es.append((est, rng.choice(ROADS), rng.randrange(1, 300), rng.choice((6, 12, 25, 40, 60))))
                est, road, no, nb = es[min(len(es) - 1, int(rng.paretovariate(1.1)) - 1)]
                addr = ("u", ri, street, road, no, est, rng.randrange(1, nb + 1), rng.randrange(1, 4),
                        rng.randrange(1, 33), rng.randrange(1, 9))
                area = street
                htype = rng.choices(("single", "couple", "family", "three", "elderly2"), (0.22, 0.2, 0.3, 0.13, 0.15))[0]
            if htype == "left":
                ages = [rng.randrange(62, 92)] + ([rng.randrange(60, 90)] if rng.random() < 0.5 else [])
                ages += [rng.randrange(4, 15)] if rng.random() < 0.35 else []
            elif htype == "elderly2":
                a = rng.randrange(58, 90)
                ages = [a, max(55, a + rng.randrange(-5, 5))][: rng.choice((1, 2, 2))]
            elif htype == "three":
                ga = rng.randrange(58, 88)
                p = rng.randrange(30, 56)
                ages = [ga] + ([ga - rng.randrange(0, 5)] if rng.random() < 0.6 else []) + [p, p + rng.randrange(-3, 4)]
                ages += [rng.randrange(0, 18) for _ in range(rng.choice((1, 1, 2)))]
            elif htype == "family":
                p = rng.randrange(26, 52)
                ages = [p, p + rng.randrange(-4, 5)] + [rng.randrange(0, 22) for _ in range(rng.choice((0, 1, 1, 2)))]
            elif htype == "couple":
                p = rng.randrange(22, 80)
                ages = [p, max(18, p + rng.randrange(-5, 5))]
            else:
                ages = [rng.randrange(18, 85)]
            hphone = ""
            members = []
            for k, a in enumerate(ages):
                if len(self.pid) >= n:
                    break
                i = len(self.pid)
                g = rng.choice("MF") if k % 2 == 0 else ("F" if self.gender[-1] == "M" else "M")
                code = reg[0]
                pseq[code] = pseq.get(code, 0) + rng.randrange(1, 30)
                self.pid.append(code + f"{pseq[code]:08d}")
                self.nm.append(self.name(a, g))
                self.gender.append(g)
                bd = date(2025 - a, 1, 1) + timedelta(rng.randrange(0, 365) - 181)
                self.birth.append(bd.isoformat())
                self.age.append(a)
                self.reg.append(ri)
                self.area.append(area)
                self.addr.append(addr)
                self.hh.append(hh_id)
                pref = code if rng.random() < 0.85 else rng.choice(OTHER_PROV)
                self.idn.append(self.idnum(pref, bd.isoformat(), g))
                has_phone = 16 <= a < 75 and rng.random() < 0.96 or a >= 75 and rng.random() < 0.35
                ph = self.phone() if has_phone else ""
                if ph and not hphone and a >= 25:
                    hphone = ph
                self.own_phone.append(ph)
                self.contact.append(ph)
                working = 20 <= a < 60 and not rural_area
                self.ins.append("employee" if (working and rng.random() < 0.7) or (a >= 60 and not rural_area and
                                                                                  rng.random() < 0.5) else "resident")
                self.death.append(None)
                self.acct.append(self.account() if a >= 18 else "")
                self.card.append("")
                self.ev.append("")
                self.evdev.append("")
                self.evphone.append("")
                self.frail.append(rng.gammavariate(1.6, 1 / 1.6))
                self.taken.append(0)
                self.persons_phone_blank.append(False)
                self.by_reg[ri].append(i)
                if rural_area:
                    self.by_village.setdefault((ri, addr[2], addr[3]), []).append(i)
                members.append(i)
            for i in members:
                if not self.contact[i]:
                    self.contact[i] = hphone
            hh_id += 1
        # cards, e-vouchers, preferences
        cseq = rng.randrange(10**6, 10**7)
        for i in range(len(self.pid)):
            cseq += rng.randrange(1, 50)
            self.card[i] = f"K{REGIONS[self.reg[i]][0][:4]}{cseq:09d}" if rng.random() < 0.97 else ""
            a = self.age[i]
            if self.own_phone[i] and rng.random() < (0.78 if a < 60 else 0.45):
                self.ev[i] = f"EV{rng.getrandbits(56):014X}"
                self.evdev[i] = self.device()
                self.evphone[i] = self.own_phone[i]
            ri, area = self.reg[i], self.area[i]
            self.pref_clinic.append(self.clinic_of[(ri, area)])
            r = rng.random()
            loc = self.by_kind_reg[("hospital", ri)]
            if r < 0.6:
                h = loc[0]
            elif r < 0.85 or REGIONS[ri][2] == "core":
                h = rng.choices(self.level3, weights=[self.inst[x]["w"] for x in self.level3])[0] if r < 0.85 else \
                    rng.choice(loc)
            else:
                h = rng.choice(loc)
            self.pref_hosp.append(h)
            phl = self.pharm_of[(ri, area)]
            w = [self.inst[x]["w"] for x in phl]
            k = 1 if rng.random() < 0.6 else 2
            self.pref_pharm.append(tuple(rng.choices(phl, weights=w, k=k)))
        # background deaths of the old
        for i in range(len(self.pid)):
            a = self.age[i]
            if a >= 70 and rng.random() < (0.02 if a < 80 else 0.06):
                self.death[i] = rng.randrange(0, NDAYS)

    # ------------------------------------------------------------------ row emission
    def row(self, kind: str, i: int, inst: int, day: int, minute: int, *, card: str | None = None,
            presc: str = "", end: tuple[int, int] | None = None, total: float = 0.0, ratio: float = 0.6,
            items: str = "", contact: str | None = None, agent: str = "", payee: str = "", device: str | None = None,
            operator: str | None = None, trace: str = "", pid: str | None = None) -> list[str]:
        rng = self.rng
        d = self.inst[inst]
        sep = d["sep"]
        st = f"{DATES[day + OFF]}{sep}{minute // 60 % 24:02d}:{minute % 60:02d}:{rng.randrange(60) if sep == 'T' else 0:02d}"
        en = ""
        if end is not None:
            en = f"{DATES[end[0] + OFF]}{sep}{end[1] // 60 % 24:02d}:{end[1] % 60:02d}:00"
        if card is None:
            if self.ev[i] and rng.random() < 0.6:
                card, dev = self.ev[i], self.evdev[i]
            else:
                card, dev = self.card[i], ""
            if device is None:
                device = dev
        if device is None:
            device = ""
        if contact is None:
            c = self.contact[i]
            contact = self.fmt_phone(c, d["pstyle"] if rng.random() < 0.9 else -1) if c and rng.random() < 0.75 else ""
        if operator is None:
            operator = f"{d['id']}-{rng.randrange(d['ops']):02d}"
        if not payee and d["own_payee"] and kind == "inpatient":
            payee = d["account"]
        fund = total * ratio
        if d["trim"]:
            tot_s = f"{total:.2f}".rstrip("0").rstrip(".")
            fund_s = f"{fund:.2f}".rstrip("0").rstrip(".")
        else:
            tot_s, fund_s = f"{total:.2f}", f"{fund:.2f}"
        if rng.random() < 0.01:
            fund_s = ""
        return ["", kind, st, pid or self.pid[i], card if rng.random() > 0.02 else "", d["id"], presc, en, tot_s,
                fund_s, items, contact, agent, payee, device, operator, trace, "B" + DATES[day + OFF][2:7].replace("-", "")]

    def traces(self, drug: int, boxes: int) -> list[str]:
        out = []
        for _ in range(boxes):
            self.trace_counter += 1
            out.append(self.trace_prefix[drug] + f"{(self.trace_counter * 7919 + 13) % 10**12:012d}")
        return out

    def drug_sale(self, drugs: list[int], boxes_hi: int = 3) -> tuple[str, float, list[str], list[tuple[int, int]]]:
        rng = self.rng
        names, total, parts = [], 0.0, []
        for dr in drugs:
            b = rng.randrange(1, boxes_hi + 1)
            names.append(DRUGS[dr][0])
            total += b * rng.uniform(DRUGS[dr][1], DRUGS[dr][2])
            parts.append((dr, b))
        return ";".join(names), round(total, 2), [], parts

    def ratio(self, i: int, kind: str) -> float:
        emp = self.ins[i] == "employee"
        if kind == "inpatient":
            return self.rng.uniform(0.8, 0.9) if emp else self.rng.uniform(0.58, 0.75)
        if kind == "outpatient":
            return self.rng.uniform(0.5, 0.75) if emp else self.rng.uniform(0.4, 0.6)
        return self.rng.uniform(0.7, 1.0) if emp else self.rng.uniform(0.3, 0.55)

    def pharmacy_row(self, i: int, ph: int, day: int, minute: int, drugs: list[int], boxes_hi: int = 3,
                     force_trace: bool | None = None, **kw: Any) -> tuple[list[str], list[str]]:
        items, total, _, parts = self.drug_sale(drugs, boxes_hi)
        rec = self.inst[ph]["trace_from"] <= day if force_trace is None else force_trace
        codes: list[str] = []
        if rec:
            for dr, b in parts:
                codes += self.traces(dr, b)
        r = self.row("pharmacy", i, ph, day, minute, total=total, ratio=self.ratio(i, "pharmacy"), items=items,
                     trace=";".join(codes), **kw)
        return r, codes

    def stay(self, i: int, h: int, day: int, los: int, diag: tuple[str, str], per_day: float, **kw: Any) -> list[str]:
        rng = self.rng
        total = round(per_day * max(1, los) * rng.uniform(0.75, 1.35), 2)
        return self.row("inpatient", i, h, day, rng.randrange(480, 1200), end=(day + los, rng.randrange(540, 960)),
                        total=total, ratio=self.ratio(i, "inpatient"), items=diag[0] + ";" + diag[1] + STAY_FEES,
                        presc=rng.choice(self.presc_of[h]), **kw)

    def take(self, cands: list[int], k: int, tag: int, pred: Any = None) -> list[int]:
        pool = [c for c in cands if not self.taken[c] and (pred is None or pred(c))]
        if len(pool) <= k:
            got = pool
        else:
            got = self.rng.sample(pool, k)
        for c in got:
            self.taken[c] = tag
        return got

    def alive(self, i: int, day: int) -> bool:
        dd = self.death[i]
        return dd is None or day < dd

    def new_person_like(self, ri: int, age: int) -> int:
        """A fresh insured person (brokers, collectors who are insured) appended to the population."""
        rng = self.rng
        i = len(self.pid)
        g = rng.choice("MF")
        code = REGIONS[ri][0]
        self.pid.append(code + f"9{rng.randrange(10**7):07d}")
        while self.pid[-1] in self._pidset:
            self.pid[-1] = code + f"9{rng.randrange(10**7):07d}"
        self._pidset.add(self.pid[-1])
        self.nm.append(self.name(age, g))
        self.gender.append(g)
        bd = date(2025 - age, 1, 1) + timedelta(rng.randrange(0, 365) - 181)
        self.birth.append(bd.isoformat())
        self.age.append(age)
        self.reg.append(ri)
        area = rng.choice(REGIONS[ri][4])
        self.area.append(area)
        self.addr.append(("u", ri, area, rng.choice(ROADS), rng.randrange(1, 300), rng.choice(ESTATE_A) + rng.choice(ESTATE_B),
                          rng.randrange(1, 30), rng.randrange(1, 4), rng.randrange(1, 33), rng.randrange(1, 9)))
        self.hh.append(-1 - i)
        self.idn.append(self.idnum(code, bd.isoformat(), g))
        ph = self.phone()
        self.own_phone.append(ph)
        self.contact.append(ph)
        self.ins.append(rng.choice(("employee", "resident")))
        self.death.append(None)
        self.acct.append(self.account())
        self.card.append(f"K{code[:4]}8{rng.randrange(10**8):08d}")
        self.ev.append(f"EV{rng.getrandbits(56):014X}")
        self.evdev.append(self.device())
        self.evphone.append(ph)
        self.frail.append(1.0)
        self.taken.append(-1)
        self.persons_phone_blank.append(False)
        self.pref_clinic.append(self.clinic_of[(ri, area)])
        self.pref_hosp.append(self.by_kind_reg[("hospital", ri)][0])
        self.pref_pharm.append((rng.choice(self.pharm_of[(ri, area)]),))
        self.by_reg[ri].append(i)
        return i

    def add_card(self, holder: int, kind: str, issued: int, phone: str, dev: str) -> str:
        cid = (f"EV{self.rng.getrandbits(56):014X}" if kind == "evoucher" else
               f"K{REGIONS[self.reg[holder]][0][:4]}7{self.rng.randrange(10**8):08d}")
        self.extra_cards.append([cid, self.pid[holder], kind, DATES[issued + OFF], self.fmt_phone(phone), dev])
        return cid

    def add_intermediary(self, prefix: str, name: str, phone: str, addr: str, idn: str, source: str) -> str:
        iid = f"{prefix}{len(self.intermediaries) + 1:04d}{self.rng.randrange(10):d}"
        self.intermediaries.append([iid, name, self.fmt_phone(phone), addr, idn, source])
        return iid

    # ------------------------------------------------------------------ look-alikes
    def plan_lookalikes(self) -> None:
        rng, s = self.rng, self.s
        buf = self.buffer
        tag = 10**6

        def look(kind: str, persons: list[int]) -> None:
            if len(persons) >= 2:
                self.lookalikes.append({"kind": kind, "persons": sorted(self.pid[p] for p in persons)})

        # legit care homes: residents move to the home's address, caregiver contact, monthly round on one day
        legit_homes = [h for h in self.homes]
        rng.shuffle(legit_homes)
        n_legit = max(2, round(len(legit_homes) * 0.35))
        self.colluding_pool = legit_homes[n_legit:]
        for h in legit_homes[:n_legit]:
            tag += 1
            ri = self.inst[h]["reg"]
            k = _logu(rng, 12, 30 + 120 * min(1.0, s))
            other = self.by_reg[rng.randrange(len(REGIONS))]
            res = self.take(self.by_reg[ri] + rng.sample(other, min(50, len(other))), k, tag,
                            lambda c: self.age[c] >= 68)
            self.move_to_home(res, h)
            day0 = rng.randrange(0, 28)
            doc = self.presc_of[h][0]
            near = self.by_kind_reg[("hospital", ri)][0]
            for m in range(12):
                dd = day0 + 30 * m + rng.randrange(-2, 3)
                for j, p in enumerate(res):
                    if 0 <= dd < NDAYS and self.alive(p, dd) and rng.random() < 0.85:
                        buf.append(self.row("outpatient", p, h, dd + (j > 40), 540 + (j % 40) * 6, presc=doc,
                                            total=rng.uniform(40, 160), ratio=self.ratio(p, "outpatient"),
                                            items="巡诊;血压测量;血糖测定"))
            for p in res:
                for _ in range(_pois(rng, 1.3)):
                    dd = rng.randrange(0, NDAYS - 20)
                    if self.alive(p, dd + 15):
                        buf.append(self.stay(p, near if rng.random() < 0.8 else rng.choice(self.level3), dd,
                                             rng.randrange(4, 16), rng.choice(INPATIENT), 900))
            look("care_home", res)
        # dialysis cohorts
        for _ in range(max(1, round(1.5 * s ** 0.7))):
            tag += 1
            h = rng.choice(self.level3 + [self.by_kind_reg[("hospital", r)][0] for r in range(len(REGIONS))])
            ri = self.inst[h]["reg"]
            pats = self.take(self.by_reg[ri] + self.level3_catch(), round(rng.uniform(8, 20 + 25 * min(1.0, s))), tag,
                             lambda c: 35 <= self.age[c] <= 85 and self.death[c] is None)
            for j, p in enumerate(pats):
                days = (0, 2, 4) if j % 2 == 0 else (1, 3, 5)
                slot = 450 if j % 3 else 780
                st = rng.randrange(0, 60) if rng.random() < 0.3 else 0
                for d in range(st, NDAYS):
                    if WEEKDAY[d + OFF] in days and rng.random() < 0.95:
                        buf.append(self.row("outpatient", p, h, d, slot + rng.randrange(0, 25), total=rng.uniform(390, 460),
                                            ratio=0.9, items="血液透析;血液透析器;血液透析滤过器;肝素钠注射液",
                                            presc=self.presc_of[h][j % 3]))
            look("dialysis_cohort", pats)
        # chemotherapy cohorts + dual-channel osimertinib buyers
        onc = [x for x in self.level3 if "肿瘤" in self.inst[x]["name"]] or self.level3[:1]
        for h in onc:
            tag += 1
            pats = self.take(self.level3_catch() * 2 + self.by_reg[self.inst[h]["reg"]], round(rng.uniform(10, 20 + 30 * min(1.0, s))),
                             tag, lambda c: 40 <= self.age[c] <= 80 and self.death[c] is None)
            dual = rng.choice(self.pharmacies)
            self.inst[dual]["trace_from"] = -400
            oncs = self.presc_of[h][:3]
            buyers = []
            for j, p in enumerate(pats):
                d = rng.randrange(0, 120)
                for _ in range(6):
                    if d + 3 >= NDAYS:
                        break
                    buf.append(self.stay(p, h, d, rng.choice((1, 2, 3)), ("恶性肿瘤维持性化学治疗", "化疗药物;止吐;血常规;肝功能"), 3500))
                    d += 21 + rng.randrange(0, 4)
                if j % 3 == 0:
                    buyers.append(p)
                    for m in range(rng.randrange(3, 12)):
                        dd = rng.randrange(0, 20) + 30 * m
                        if dd < NDAYS:
                            r, _ = self.pharmacy_row(p, dual, dd, rng.randrange(540, 1080), [OSIMERTINIB], 1,
                                                     presc=oncs[j % len(oncs)])
                            buf.append(r)
            look("chemotherapy_cohort", pats)
            look("dual_channel_pharmacy", buyers)
        # company check-up days and worker dormitories
        for _ in range(max(2, round(rng.uniform(2, 4) * s ** 0.8))):
            tag += 1
            ri = rng.choice([i for i, r in enumerate(REGIONS) if r[2] != "rural"])
            staff = self.take(self.by_reg[ri] + self.by_reg[rng.randrange(8)], round(_logu(rng, 25, 90 + 250 * min(1.0, s))),
                              tag, lambda c: 20 <= self.age[c] < 58)
            h = rng.choice(self.by_kind_reg[("hospital", ri)] + self.level3)
            hr = self.phone()
            d0 = rng.randrange(30, NDAYS - 10)
            ndays = rng.randrange(1, 4)
            for j, p in enumerate(staff):
                self.ins[p] = "employee"
                buf.append(self.row("outpatient", p, h, d0 + j % ndays, 480 + (j * 3) % 240,
                                    total=rng.uniform(180, 420), ratio=0.0 if rng.random() < 0.3 else 0.5,
                                    items="健康体检;血常规;肝功能;胸部DR;心电图;彩超",
                                    contact=self.fmt_phone(hr) if rng.random() < 0.6 else None))
            if rng.random() < 0.5:
                dorm = ("u", ri, rng.choice(REGIONS[ri][4]), rng.choice(ROADS), rng.randrange(1, 300), "员工宿舍",
                        rng.randrange(1, 5), 1, rng.randrange(1, 6), rng.randrange(1, 20))
                for p in staff[: rng.randrange(8, 40)]:
                    self.addr[p] = dorm
                    self.hh[p] = -10**7 - tag
            look("company_checkup", staff)
        # school vaccination / check-up days
        for _ in range(max(1, round(rng.uniform(1, 3) * s ** 0.8))):
            tag += 1
            ri = rng.randrange(len(REGIONS))
            kids = self.take(self.by_reg[ri], round(rng.uniform(20, 60 + 150 * min(1.0, s))), tag, lambda c: 6 <= self.age[c] <= 16)
            cl = self.pref_clinic[kids[0]] if kids else self.clinic_of[(ri, REGIONS[ri][4][0])]
            d0 = rng.choice([d for d in range(60, 330) if WEEKDAY[d + OFF] < 5])
            for j, p in enumerate(kids):
                buf.append(self.row("outpatient", p, cl, d0 + (j >= 120), 510 + (j % 120) * 2, total=rng.uniform(20, 80),
                                    ratio=0.7, items="疫苗接种;学生体检"))
            look("school_vaccination_day", kids)
        # group-rental flats
        for _ in range(max(2, round(rng.uniform(3, 6) * s ** 0.85))):
            tag += 1
            ri = rng.choice([i for i, r in enumerate(REGIONS) if r[2] == "core"])
            k = rng.randrange(5, 15)
            cand = [c for c in rng.sample(range(len(self.pid)), min(len(self.pid), 400)) if 19 <= self.age[c] <= 40]
            ten = self.take(cand, k, tag)
            flat = ("u", ri, rng.choice(REGIONS[ri][4]), rng.choice(ROADS), rng.randrange(1, 300),
                    rng.choice(ESTATE_A) + rng.choice(ESTATE_B), rng.randrange(1, 30), rng.randrange(1, 4),
                    rng.randrange(1, 33), rng.randrange(1, 9))
            landlord = self.phone()
            for p in ten:
                self.addr[p] = flat
                self.hh[p] = -2 * 10**7 - tag
                if rng.random() < 0.25:
                    self.contact[p] = landlord
            look("group_rental_flat", ten)
        # registered claim agents: village health workers and a city agency
        for kind_agent in ["village"] * max(1, round(rng.uniform(1, 3) * s ** 0.8)) + ["city"] * max(1, round(s ** 0.7)):
            tag += 1
            if kind_agent == "village":
                ri = rng.choice([i for i, r in enumerate(REGIONS) if r[5]])
                town = rng.choice(REGIONS[ri][5])
                cands = [c for (r2, t2, _), lst in self.by_village.items() if r2 == ri and t2 == town for c in lst]
                k = round(rng.uniform(25, 60 + 120 * min(1.0, s)))
                name = rng.choice(SURNAMES) + rng.choice(GIVEN_MID) + rng.choice(GIVEN_MID)
                src = "医保经办机构备案代办员(村卫生室)"
                addr = f"重庆市{REGIONS[ri][1]}{town}{rng.choice(VILLAGES)}村卫生室"
            else:
                ri = rng.choice([i for i, r in enumerate(REGIONS) if r[2] == "core"])
                cands = rng.sample(range(len(self.pid)), min(len(self.pid), 3000))
                k = round(rng.uniform(40, 80 + 220 * min(1.0, s)))
                name = rng.choice(("渝快", "安心", "便民", "惠通")) + "医保代办服务部"
                src = "医保经办机构备案代办机构"
                addr = f"重庆市{REGIONS[ri][1]}{rng.choice(ROADS)}{rng.randrange(1, 200)}号"
            clients = self.take(cands, k, tag)
            ph = self.phone()
            aid = self.add_intermediary("DB", name, ph, addr, "", src)
            for p in clients:
                d = rng.randrange(0, NDAYS - 20)
                if not self.alive(p, d + 15):
                    continue
                kw: dict[str, Any] = {"agent": aid, "payee": self.fmt_account(self.acct[p] or self.acct[p - 1]),
                                      "contact": self.fmt_phone(ph) if rng.random() < 0.65 else None}
                if rng.random() < 0.35:
                    buf.append(self.stay(p, self.pref_hosp[p], d, rng.randrange(3, 12), rng.choice(INPATIENT), 1100, **kw))
                else:
                    h = self.pref_hosp[p] if rng.random() < 0.5 else self.pref_clinic[p]
                    buf.append(self.row("outpatient", p, h, d, rng.randrange(480, 1020), total=rng.uniform(150, 1800),
                                        ratio=self.ratio(p, "outpatient"), items="门诊慢特病;" + rng.choice(TESTS),
                                        presc=rng.choice(self.presc_of[h]), **kw))
            look("registered_claim_agent", clients)
        # family mutual aid: one adult child manages several parents' e-vouchers on their phone
        managers = [c for c in rng.sample(range(len(self.pid)), min(len(self.pid), 4000))
                    if 28 <= self.age[c] <= 55 and self.own_phone[c] and not self.taken[c]]
        elders = [c for c in range(len(self.pid)) if self.age[c] >= 62 and not self.ev[c] and not self.taken[c]]
        rng.shuffle(elders)
        want = max(5, round(60 * s))
        for fam_groups, m in enumerate(managers):
            if fam_groups >= want or len(elders) < 4:
                break
            tag += 1
            k = rng.choice((1, 1, 2, 2, 2, 3, 4))
            par = [elders.pop() for _ in range(k)]
            if not self.evdev[m]:
                self.evdev[m] = self.device()
            for p in par:
                self.taken[p] = tag
                self.ev[p] = f"EV{rng.getrandbits(56):014X}"
                self.evdev[p] = self.evdev[m]
                self.evphone[p] = self.own_phone[m]
                self.contact[p] = self.own_phone[m]
                for _ in range(rng.randrange(2, 10)):
                    d = rng.randrange(0, NDAYS)
                    if self.alive(p, d):
                        r, _ = self.pharmacy_row(p, self.pref_pharm[m][0], d, rng.randrange(600, 1260),
                                                 rng.sample(CHRONIC, rng.randrange(1, 3)),
                                                 card=self.ev[p], device=self.evdev[m],
                                                 agent=self.pid[m] if rng.random() < 0.5 else "")
                        buf.append(r)
            self.taken[m] = tag
            if k >= 2:
                look("family_mutual_aid", [m] + par)
        # a building's elderly at the community clinic's monthly follow-up day
        for _ in range(max(1, round(rng.uniform(1, 3) * s ** 0.7))):
            tag += 1
            ri = rng.choice([i for i, r in enumerate(REGIONS) if r[2] == "core"])
            street = rng.choice(REGIONS[ri][4])
            olds = self.take(self.by_reg[ri], rng.randrange(8, 30), tag, lambda c: self.age[c] >= 60)
            base = ("u", ri, street, rng.choice(ROADS), rng.randrange(1, 300), rng.choice(OLD_COMPOUNDS), rng.randrange(1, 12))
            cl = self.clinic_of[(ri, street)]
            doc = self.presc_of[cl][0]
            for j, p in enumerate(olds):
                self.addr[p] = base + (1 + j % 3, 1 + j // 3 % 7, 1 + j % 4)
                self.area[p] = street
            dd = rng.randrange(0, 7)
            for m in range(12):
                d = dd + 30 * m
                while WEEKDAY[d + OFF] != 1:
                    d += 1
                for j, p in enumerate(olds):
                    if d < NDAYS and self.alive(p, d) and rng.random() < 0.8:
                        buf.append(self.row("outpatient", p, cl, d, 510 + j * rng.randrange(3, 9), presc=doc,
                                            total=rng.uniform(60, 260), ratio=self.ratio(p, "outpatient"),
                                            items="慢病随访;血压测量;" + DRUGS[rng.choice(CHRONIC)][0]))
            look("community_clinic_followup_day", olds)
        # a village minibus driver reported in a tip: his phone on villagers' county-hospital stays
        for _ in range(max(1, round(s ** 0.6))):
            tag += 1
            keys = [k for k in self.by_village if len(self.by_village[k]) >= 8]
            key = rng.choice(keys)
            vill = self.take(self.by_village[key], rng.randrange(5, 16), tag, lambda c: self.age[c] >= 50)
            dph = self.phone()
            self.add_intermediary("XS", rng.choice(SURNAMES) + rng.choice(GIVEN_MID), dph,
                                  f"重庆市{REGIONS[key[0]][1]}{key[1]}{key[2]}村", "", "举报线索(未查实)")
            h = self.by_kind_reg[("hospital", key[0])][0]
            for p in vill:
                for _ in range(rng.randrange(1, 3)):
                    d = rng.randrange(0, NDAYS - 20)
                    if self.alive(p, d + 15):
                        buf.append(self.stay(p, h, d, rng.randrange(4, 12), rng.choice(INPATIENT), 800,
                                             contact=self.fmt_phone(dph)))
            look("village_driver_tip", vill)
        # patients who died in hospital
        died: list[int] = []
        for p in rng.sample(range(len(self.pid)), min(len(self.pid), 2000)):
            if len(died) >= max(3, round(12 * s)):
                break
            if self.age[p] >= 70 and not self.taken[p] and self.death[p] is None:
                tag += 1
                self.taken[p] = tag
                d = rng.randrange(10, NDAYS - 20)
                los = rng.randrange(2, 20)
                self.death[p] = d + los
                buf.append(self.stay(p, self.pref_hosp[p], d, los, rng.choice(INPATIENT[:5]), 2500))
                died.append(p)
        look("died_in_hospital", died)
        # trace-code double scans: the cashier scans one box twice, for two customers minutes apart
        for _ in range(max(1, round(2 * s ** 0.7))):
            tag += 1
            shop = rng.choice(self.pharmacies)
            ri = self.inst[shop]["reg"]
            two = self.take(self.by_reg[ri], 2, tag)
            if len(two) < 2:
                continue
            d = rng.randrange(TRACE_MANDATORY, NDAYS)
            m = rng.randrange(540, 1200)
            r1, codes = self.pharmacy_row(two[0], shop, d, m, [rng.choice(CHRONIC)], 1, force_trace=True)
            r2, _ = self.pharmacy_row(two[1], shop, d, m + rng.randrange(1, 6), [rng.choice(CHRONIC)], 1, force_trace=True)
            r2[16] = codes[0]
            buf += [r1, r2]
            look("trace_code_double_scan", two)
        self.tag = tag

    def level3_catch(self) -> list[int]:
        return self.rng.sample(range(len(self.pid)), min(len(self.pid), 600))

    def move_to_home(self, res: list[int], h: int) -> None:
        d = self.inst[h]
        ri = d["reg"]
        area = d["area"] or REGIONS[ri][4][0]
        home_addr = ("u", ri, area, rng_road(self.rng), self.rng.randrange(1, 300),
                     d["name"], 1, 1, 1, 1)
        d["home_addr"] = home_addr
        caregiver = self.phone()
        d["caregiver"] = caregiver
        for j, p in enumerate(res):
            self.addr[p] = home_addr[:6] + (1 + j // 40, 1, 1 + j % 40 // 10, 1 + j % 10)
            self.hh[p] = -3 * 10**7 - h
            self.pref_clinic[p] = h
            self.reg[p] = ri
            self.area[p] = area
            r = self.rng.random()
            self.contact[p] = caregiver if r < 0.4 else (d["phone"] if r < 0.7 else self.contact[p])

    # ------------------------------------------------------------------ rings
    def plan_rings(self) -> None:
        rng, s = self.rng, self.s
        n = max(6, round(rng.uniform(10, 19) * s ** 0.9))
        pats = ["black_intermediary", "professional_gang", "card_collector", "prescriber_pharmacy_collusion",
                "care_home_collusion", "identity_misuse"]
        w = [0.26, 0.19, 0.2, 0.12, 0.09, 0.14]
        order = pats + ["black_intermediary", "card_collector", "professional_gang"]
        order += rng.choices(pats, weights=w, k=max(0, n - len(order)))
        head, tail = order[:9], order[9:]
        rng.shuffle(tail)
        order = head + tail
        n_hot = 1 + n // 15
        self.hot_hosp = [(h, rng.randrange(0, 200), rng.randrange(60, 160)) for h in rng.sample(self.private_hosp, n_hot)]
        self.hot_pharm = rng.sample(self.pharmacies, n_hot)
        for hh, _, _ in self.hot_hosp[:1]:
            if rng.random() < 0.6:
                self.inst[hh]["own_payee"] = True
        if not any(self.inst[h]["own_payee"] for h, _, _ in self.hot_hosp):
            self.inst[rng.choice(self.hospitals)]["own_payee"] = True
        counts: dict[str, int] = {}
        big_done = False
        for k, pat in enumerate(order):
            counts[pat] = counts.get(pat, 0) + 1
            first = counts[pat] <= 2
            self.tag += 1
            rid = f"CQ4-{self.seed}-R{k + 1:03d}"
            big = not big_done and pat in ("black_intermediary", "card_collector")
            if big:
                big_done = True
            fn = getattr(self, "ring_" + pat)
            persons, variant = fn(self.tag, first, big)
            self.ring_idx.update(persons)
            if len(persons) >= 3 or (len(persons) >= 2 and pat == "identity_misuse"):
                self.rings.append({"id": rid, "pattern": pat, "persons": sorted(self.pid[p] for p in persons),
                                   "variant": variant})

    def window(self, hot: tuple[int, int, int] | None, lo: int = 45, hi: int = 300) -> tuple[int, int]:
        rng = self.rng
        if hot is not None:
            a = max(0, hot[1] + rng.randrange(-30, 30))
            return a, min(NDAYS - 30, a + hot[2] + rng.randrange(-20, 40))
        ln = rng.randrange(lo, hi)
        a = rng.randrange(0, max(1, NDAYS - 30 - ln))
        return a, a + ln

    def ring_black_intermediary(self, tag: int, first: bool, big: bool) -> tuple[list[int], str]:
        rng = self.rng
        size = rng.randrange(60, 78) if big else _logu(rng, 4, 55)
        regs = [i for i, r in enumerate(REGIONS) if r[5]]
        ri = rng.choice(regs)
        keys = [k for k in self.by_village if k[0] == ri]
        rng.shuffle(keys)
        keys.sort(key=lambda k: -len(self.by_village[k]) * rng.random())
        cands: list[int] = []
        used_v = 0
        for key in keys:
            cands += [c for c in self.by_village[key] if self.age[c] >= 55 and not self.taken[c]]
            used_v += 1
            if len(cands) >= size * 1.4 or used_v >= 8:
                break
        rec = self.take(cands, size, tag)
        if len(rec) < size:
            rec += self.take(self.by_reg[ri], size - len(rec), tag, lambda c: self.age[c] >= 48)
        hot = self.hot_hosp[0] if first else (rng.choice(self.hot_hosp) if rng.random() < 0.35 else None)
        hosps = [hot[0]] if hot else [rng.choice(self.private_hosp)]
        if rng.random() < 0.4:
            hosps.append(rng.choice(self.private_hosp))
        a, b = self.window(hot)
        broker_person = -1
        members = list(rec)
        phones = [self.phone() for _ in range(rng.randrange(1, 4))]
        if rng.random() < 0.55:
            broker_person = self.new_person_like(ri, rng.randrange(35, 63))
            phones[0] = self.own_phone[broker_person]
            members.append(broker_person)
        bname = self.nm[broker_person] if broker_person >= 0 else rng.choice(SURNAMES) + rng.choice(GIVEN_MID)
        agent = self.pid[broker_person] if broker_person >= 0 else ""
        listed = rng.random() < 0.45
        if listed:
            agent = self.add_intermediary("XS", bname if rng.random() < 0.8 else bname[0] + "某", phones[-1],
                                          f"重庆市{REGIONS[ri][1]}", self.idn[broker_person] if broker_person >= 0 and
                                          rng.random() < 0.5 else "", rng.choice(("举报线索", "公安通报", "飞行检查移交")))
        p_contact, p_agent = rng.uniform(0.15, 0.95), (rng.uniform(0.0, 0.7) if agent else 0.0)
        p_payee, p_bait = rng.uniform(0.0, 0.5), rng.uniform(0.0, 0.6)
        b_acct = self.account()
        rounds = rng.randrange(1, 5)
        stagger = rng.randrange(0, 5)
        span = max(1, (b - a) // rounds)
        for r in range(rounds):
            part = [p for p in rec if rng.random() < 0.85]
            rng.shuffle(part)
            pos = 0
            d = a + r * span + rng.randrange(0, max(1, span // 3))
            while pos < len(part):
                van = part[pos: pos + rng.randrange(3, 13)]
                pos += len(van)
                h = rng.choice(hosps)
                diag = rng.choice(FAKE_STAY)
                for p in van:
                    dd = d + rng.randrange(0, stagger + 1)
                    if dd >= NDAYS - 16 or not self.alive(p, dd + 15):
                        continue
                    los = rng.randrange(5, 15)
                    if rng.random() < p_bait:
                        self.buffer.append(self.row("outpatient", p, h, max(0, dd - rng.randrange(1, 6)), rng.randrange(480, 660),
                                                    total=rng.uniform(80, 260), ratio=self.ratio(p, "outpatient"),
                                                    items="健康体检;血常规;心电图;骨密度"))
                    self.buffer.append(self.stay(
                        p, h, dd, los, diag, rng.uniform(450, 800),
                        contact=self.fmt_phone(rng.choice(phones)) if rng.random() < p_contact else None,
                        agent=agent if rng.random() < p_agent else "",
                        payee=self.fmt_account(b_acct) if rng.random() < p_payee else ""))
                d += rng.randrange(1, 9)
        v = (f"broker {'insured' if broker_person >= 0 else 'uninsured'}{', listed in tips' if listed else ''}; "
             f"{len(rec)} recruits from ~{used_v} villages of {REGIONS[ri][1]}; {len(hosps)} private hospital(s)"
             f"{' (shared hot hospital)' if hot else ''}; {rounds} rounds, stagger {stagger}d; {len(phones)} phones, "
             f"contact {p_contact:.0%}, agent {p_agent:.0%}, broker payee {p_payee:.0%}")
        return members, v

    def ring_professional_gang(self, tag: int, first: bool, big: bool) -> tuple[list[int], str]:
        rng = self.rng
        size = _logu(rng, 3, 17)
        cand = [c for c in rng.sample(range(len(self.pid)), min(len(self.pid), 3000)) if 30 <= self.age[c] <= 63
                and REGIONS[self.reg[c]][2] != "rural"]
        mem: list[int] = []
        seen_hh: list[int] = []
        for c in cand:
            if len(mem) >= size:
                break
            if not self.taken[c] and self.hh[c] not in seen_hh:
                self.taken[c] = tag
                mem.append(c)
                seen_hh.append(self.hh[c])
        hot = self.hot_hosp[0] if first else (rng.choice(self.hot_hosp) if rng.random() < 0.4 else None)
        pool = rng.sample(self.private_hosp, min(len(self.private_hosp), rng.randrange(2, 6)))
        lv2 = [h for h in self.hospitals if self.inst[h]["level"] == "2"]
        pool += rng.sample(lv2, min(len(lv2), rng.randrange(0, 3)))
        if hot and hot[0] not in pool:
            pool.append(hot[0])
        pool = list(dict.fromkeys(pool))
        if len(pool) < 2:
            pool.append(rng.choice(self.hospitals))
        a, b = self.window(None, 150, 340)
        n_ep = rng.randrange(4, 15)
        p_solo, stagger = rng.uniform(0.05, 0.35), rng.randrange(0, 6)
        leader = mem[0] if mem else 0
        p_lead_phone, p_lead_dev = rng.uniform(0.0, 0.35), rng.uniform(0.0, 0.3)
        prev = -1
        d = a
        step = max(8, (b - a) // n_ep)
        for e in range(n_ep):
            h = rng.choice([x for x in pool if x != prev])
            if hot and e == n_ep // 2:
                h = hot[0] if hot[0] != prev else h
                d = max(d, hot[1])
            prev = h
            if rng.random() < p_solo:
                part = [rng.choice(mem)]
            else:
                part = [p for p in mem if rng.random() < rng.uniform(0.5, 1.0)] or mem[:2]
            diag = rng.choice(FAKE_STAY)
            for p in part:
                dd = d + rng.randrange(0, stagger + 1)
                if dd >= NDAYS - 15:
                    continue
                kw: dict[str, Any] = {}
                if p != leader and rng.random() < p_lead_phone:
                    kw["contact"] = self.fmt_phone(self.own_phone[leader] or self.phone())
                if p != leader and self.ev[p] and rng.random() < p_lead_dev and self.evdev[leader]:
                    kw["card"], kw["device"] = self.ev[p], self.evdev[leader]
                self.buffer.append(self.stay(p, h, dd, rng.randrange(4, 13), diag, rng.uniform(500, 900), **kw))
            d += step + rng.randrange(-step // 3, step // 3 + 1)
        v = (f"{len(mem)} unrelated members; {n_ep} episodes over {len(pool)} hospitals, no hospital twice in a row"
             f"{', one stay at the shared hot hospital' if hot else ''}; solo {p_solo:.0%}, stagger {stagger}d; "
             f"leader phone {p_lead_phone:.0%}, leader device {p_lead_dev:.0%}")
        return mem, v

    def ring_card_collector(self, tag: int, first: bool, big: bool) -> tuple[list[int], str]:
        rng = self.rng
        size = rng.randrange(60, 75) if big else _logu(rng, 6, 60)
        cand = rng.sample(range(len(self.pid)), min(len(self.pid), 5000))
        n_old = round(size * rng.uniform(0.3, 0.8))
        holders = self.take(cand, n_old, tag, lambda c: self.age[c] >= 58)
        holders += self.take(cand, size - len(holders), tag, lambda c: 18 <= self.age[c] < 58)
        hot = self.hot_pharm[0] if first else (rng.choice(self.hot_pharm) if rng.random() < 0.35 else None)
        home_reg = self.inst[hot]["reg"] if hot is not None else rng.randrange(len(REGIONS))
        near = [x for x in self.pharmacies if self.inst[x]["reg"] == home_reg]
        pharms = ([hot] if hot is not None else []) + rng.sample(near, min(len(near), rng.randrange(1, 4)))
        pharms = list(dict.fromkeys(pharms))
        members = list(holders)
        coll = -1
        if rng.random() < 0.45:
            coll = self.new_person_like(home_reg if REGIONS[home_reg][4] else 0, rng.randrange(28, 58))
            members.append(coll)
        phones = [self.own_phone[coll] if coll >= 0 else self.phone()] + [self.phone() for _ in range(rng.randrange(0, 2))]
        devs = [self.device() for _ in range(rng.randrange(1, 5))]
        a, b = self.window(None, 90, 330)
        p_bind = rng.uniform(0.2, 1.0)
        use: dict[int, tuple[str, str]] = {}
        for j, p in enumerate(holders):
            if rng.random() < p_bind:
                ph = phones[j % len(phones)]
                dv = devs[j % len(devs)]
                use[p] = (self.add_card(p, "evoucher", a - rng.randrange(5, 90), ph, dv), dv)
            else:
                use[p] = (self.card[p] or self.add_card(p, "card", a - 200, "", ""), "")
        cashier = {ph: f"{self.inst[ph]['id']}-{rng.randrange(self.inst[ph]['ops']):02d}" for ph in pharms}
        p_same_op, p_contact = rng.uniform(0.4, 0.95), rng.uniform(0.0, 0.6)
        p_resale = rng.uniform(0.15, 0.6)
        evade_trace = rng.random() < 0.5
        next_use = {p: a + rng.randrange(0, 30) for p in holders}
        resale: list[tuple[int, str, int]] = []
        d = a
        while d < b:
            due = [p for p in holders if next_use[p] <= d and self.alive(p, d)]
            if due:
                rng.shuffle(due)
                due = due[: rng.randrange(2, 13)]
                shop = rng.choice(pharms)
                m = rng.randrange(540, 1230)
                for p in due:
                    cid, dv = use[p]
                    ft = False if (evade_trace and d < TRACE_MANDATORY) else None
                    r, codes = self.pharmacy_row(p, shop, d, m, rng.sample(RESALE, rng.randrange(1, 3)), 4, force_trace=ft,
                                                 card=cid, device=dv,
                                                 operator=cashier[shop] if rng.random() < p_same_op else None,
                                                 contact=self.fmt_phone(rng.choice(phones)) if rng.random() < p_contact else "")
                    self.buffer.append(r)
                    for c in codes:
                        if rng.random() < p_resale:
                            resale.append((d, c, shop))
                    m += rng.randrange(1, 21)
                    next_use[p] = d + rng.randrange(12, 46)
            d += rng.randrange(1, 6)
        # 回流药: boxes come back through other pharmacies, sold on insurance to innocent buyers
        sinks = rng.sample(self.pharmacies, min(len(self.pharmacies), rng.randrange(1, 4)))
        for d0, code, _ in resale:
            d2 = d0 + rng.randrange(4, 60)
            if d2 >= NDAYS:
                continue
            sink = rng.choice(sinks)
            ri = self.inst[sink]["reg"]
            buyer = rng.choice(self.by_reg[ri])
            if not self.alive(buyer, d2) or self.taken[buyer]:
                continue
            dr = int(code[1:3])
            r = self.row("pharmacy", buyer, sink, d2, rng.randrange(540, 1230),
                         total=round(rng.uniform(DRUGS[dr][1], DRUGS[dr][2]), 2), ratio=self.ratio(buyer, "pharmacy"),
                         items=DRUGS[dr][0], trace=code)
            self.buffer.append(r)
        v = (f"{len(holders)} cards ({p_bind:.0%} e-vouchers re-bound to {len(devs)} devices/{len(phones)} phones); "
             f"collector {'insured' if coll >= 0 else 'not in persons'}; {len(pharms)} pharmacies"
             f"{' incl. shared hot pharmacy' if hot is not None else ''}; same cashier {p_same_op:.0%}; "
             f"{len(resale)} boxes resold (回流){'; no trace codes before 2026' if evade_trace else ''}")
        return members, v

    def ring_prescriber_pharmacy_collusion(self, tag: int, first: bool, big: bool) -> tuple[list[int], str]:
        rng = self.rng
        size = _logu(rng, 4, 45)
        cands = [h for h in self.inst_idx("clinic") + self.private_hosp if self.presc_of.get(h)]
        inst = rng.choice(cands)
        doc = rng.choice(self.presc_of[inst])
        ri = self.inst[inst]["reg"]
        near = [x for x in self.pharmacies if self.inst[x]["reg"] == ri]
        ph = rng.choice(near) if not (first and rng.random() < 0.5) else self.hot_pharm[-1]
        pharms = [ph] + ([rng.choice(near)] if rng.random() < 0.3 else [])
        pats = self.take(self.by_reg[ri] + rng.sample(range(len(self.pid)), min(300, len(self.pid))), size, tag,
                         lambda c: self.age[c] >= 40)
        a, b = self.window(None, 90, 340)
        p_real = rng.uniform(0.1, 0.4)
        drugs = rng.sample(CHRONIC + RESALE, rng.randrange(2, 6))
        for p in pats:
            real = rng.random() < p_real
            for _ in range(rng.randrange(2, 11)):
                d = rng.randrange(a, b)
                if not self.alive(p, d):
                    continue
                if real and rng.random() < 0.6:
                    self.buffer.append(self.row("outpatient", p, inst, d, rng.randrange(480, 660), presc=doc,
                                                total=rng.uniform(30, 120), ratio=self.ratio(p, "outpatient"),
                                                items="普通门诊诊查费;" + rng.choice(TESTS)))
                r, _ = self.pharmacy_row(p, rng.choice(pharms), d + (1 if rng.random() < 0.2 else 0), rng.randrange(600, 1260),
                                         rng.sample(drugs, rng.randrange(1, min(3, len(drugs)) + 1)), 4, presc=doc)
                self.buffer.append(r)
        # honest scripts of the same doctor going elsewhere
        for _ in range(rng.randrange(5, 25)):
            p = rng.choice(self.by_reg[ri])
            if self.taken[p]:
                continue
            d = rng.randrange(0, NDAYS)
            r, _ = self.pharmacy_row(p, rng.choice(self.pref_pharm[p]), d, rng.randrange(600, 1200),
                                     [rng.choice(CHRONIC)], 2, presc=doc)
            self.buffer.append(r)
        v = (f"doctor {doc} at {self.inst[inst]['kind']} -> {len(pharms)} pharmacy branch(es); {len(pats)} patients, "
             f"{p_real:.0%} with some real visits; honest scripts elsewhere too")
        return pats, v

    def inst_idx(self, kind: str) -> list[int]:
        return [i for i, d in enumerate(self.inst) if d["kind"] == kind]

    def ring_care_home_collusion(self, tag: int, first: bool, big: bool) -> tuple[list[int], str]:
        rng = self.rng
        home = self.colluding_pool.pop() if self.colluding_pool else rng.choice(self.homes)
        ri = self.inst[home]["reg"]
        n_res = round(rng.uniform(20, 50 + 100 * min(1.0, self.s)))
        res = self.take(self.by_reg[ri] + rng.sample(range(len(self.pid)), min(400, len(self.pid))), n_res, tag,
                        lambda c: self.age[c] >= 65)
        if "home_addr" not in self.inst[home]:
            self.move_to_home(res, home)
        else:
            for p in res:
                self.addr[p] = self.inst[home]["home_addr"]
                self.pref_clinic[p] = home
                self.reg[p] = ri
                self.area[p] = self.inst[home]["home_addr"][2]
        size = min(len(res), _logu(rng, 6, 60))
        ring = res[:size]
        # res[size:] are ordinary residents of the same home: background care and the monthly round only
        hot = rng.choice(self.hot_hosp) if rng.random() < 0.4 else None
        h = hot[0] if hot else rng.choice([x for x in self.private_hosp if self.inst[x]["reg"] == ri] or self.private_hosp)
        a, b = self.window(hot, 120, 340)
        waves = rng.randrange(2, 7)
        p_home_phone, p_payee = rng.uniform(0.3, 1.0), rng.uniform(0.0, 0.5)
        hphone = self.inst[home]["phone"]
        hacct = self.inst[home]["account"]
        spread = rng.randrange(1, 11)
        for w in range(waves):
            d = a + (b - a) * w // waves + rng.randrange(0, 10)
            part = rng.sample(ring, min(len(ring), rng.randrange(3, 21)))
            for p in part:
                dd = d + rng.randrange(0, spread + 1)
                if dd < NDAYS - 25 and self.alive(p, dd + 25):
                    self.buffer.append(self.stay(
                        p, h, dd, rng.randrange(7, 22), rng.choice(FAKE_STAY), rng.uniform(500, 850),
                        contact=self.fmt_phone(hphone) if rng.random() < p_home_phone else None,
                        payee=self.fmt_account(hacct) if rng.random() < p_payee else ""))
        # every resident has the home clinic's monthly round (legit-looking)
        doc = self.presc_of[home][0]
        for m in range(12):
            d = rng.randrange(0, 28) + 30 * m
            for p in res:
                if d < NDAYS and self.alive(p, d) and rng.random() < 0.7:
                    self.buffer.append(self.row("outpatient", p, home, d, rng.randrange(540, 700), presc=doc,
                                                total=rng.uniform(40, 150), ratio=self.ratio(p, "outpatient"),
                                                items="巡诊;血压测量"))
        v = (f"home {self.inst[home]['name']} ({len(res)} residents), {len(ring)} sent in {waves} waves staggered over "
             f"{spread}d to {'shared hot ' if hot else ''}hospital; home phone {p_home_phone:.0%}, home payee {p_payee:.0%}")
        return ring, v

    def ring_identity_misuse(self, tag: int, first: bool, big: bool) -> tuple[list[int], str]:
        rng = self.rng
        variant = rng.choices(("dead_cards", "elsewhere", "mixed", "family_after_death"), (0.35, 0.25, 0.25, 0.15))[0]
        cand = rng.sample(range(len(self.pid)), min(len(self.pid), 4000))
        users = self.take(cand, 1 if variant == "family_after_death" else rng.randrange(1, 4), tag,
                          lambda c: 28 <= self.age[c] <= 58 and REGIONS[self.reg[c]][2] != "rural")
        if not users:
            return [], ""
        k = rng.randrange(2, 4) if variant == "family_after_death" else _logu(rng, 3, 24)
        if variant == "family_after_death":
            u = users[0]
            holders = self.take(self.by_reg[self.reg[u]], k, tag, lambda c: self.age[c] >= 72 and self.death[c] is None)
            for p in holders:
                self.addr[p] = self.addr[u]
        else:
            holders = self.take(cand, k, tag, lambda c: self.age[c] >= 55 and self.death[c] is None)
        p_dead = {"dead_cards": 1.0, "elsewhere": 0.0, "mixed": 0.5, "family_after_death": 1.0}[variant]
        pr = [x for x in self.pharmacies if self.inst[x]["reg"] == self.reg[users[0]]] or self.pharmacies
        pharms = rng.sample(pr, min(len(pr), rng.randrange(2, 6)))
        p_stay = rng.uniform(0.0, 0.3) if variant != "family_after_death" else 0.0
        n_dead = n_else = 0
        for j, p in enumerate(holders):
            u = users[j % len(users)]
            dead = rng.random() < p_dead
            if dead:
                n_dead += 1
                dd = rng.randrange(-300, 200)
                self.death[p] = dd
                first_use = max(0, dd + rng.randrange(15, 120))
                if rng.random() < 0.5 and self.ev[p] or not self.card[p]:
                    cid = self.add_card(p, "evoucher", max(dd + 5, first_use - 3), self.own_phone[u] or self.phone(),
                                        self.evdev[u] or self.device())
                    dev = self.evdev[u]
                else:
                    cid, dev = self.card[p], ""
                d = first_use
                while d < NDAYS:
                    ph = rng.choice(pharms)
                    drugs = rng.sample(RESALE if variant != "family_after_death" else CHRONIC, rng.randrange(1, 3))
                    r, _ = self.pharmacy_row(p, ph, d, rng.randrange(540, 1260), drugs, 3, card=cid, device=dev,
                                             contact=self.fmt_phone(self.contact[p]) if rng.random() < 0.4 else "")
                    self.buffer.append(r)
                    if rng.random() < p_stay and d < NDAYS - 15:
                        self.buffer.append(self.stay(p, rng.choice(self.private_hosp), d + 2, rng.randrange(4, 10),
                                                     rng.choice(FAKE_STAY), 600, card=self.card[p] or cid, device=""))
                    d += rng.randrange(10, 45)
            else:
                n_else += 1
                # holder is in a county hospital bed (or buying at home) while the card is used in town
                home_h = self.by_kind_reg[("hospital", self.reg[p])][0]
                for _ in range(rng.randrange(1, 4)):
                    d = rng.randrange(0, NDAYS - 20)
                    los = rng.randrange(4, 12)
                    if rng.random() < 0.6:
                        self.buffer.append(self.stay(p, home_h, d, los, rng.choice(INPATIENT), 900))
                        du = d + rng.randrange(1, los)
                        m = rng.randrange(540, 1200)
                    else:
                        du = d
                        m = rng.randrange(600, 1100)
                        own_ph = self.pref_pharm[p][0]
                        r, _ = self.pharmacy_row(p, own_ph, du, m, [rng.choice(CHRONIC)], 2,
                                                 card=self.ev[p] or self.card[p], device=self.evdev[p])
                        self.buffer.append(r)
                        m += rng.randrange(10, 50)
                    r, _ = self.pharmacy_row(p, rng.choice(pharms), du, m, rng.sample(RESALE, rng.randrange(1, 3)), 3,
                                             card=self.card[p] or self.ev[p], device=self.evdev[u] if rng.random() < 0.5 else "",
                                             contact="")
                    self.buffer.append(r)
        v = (f"{variant}: {len(users)} user(s), {n_dead} dead holders (used 15-120 days after death), {n_else} holders "
             f"demonstrably elsewhere; {len(pharms)} pharmacies; inpatient impersonation {p_stay:.0%}")
        return users + holders, v

    # ------------------------------------------------------------------ background and output
    def background(self, sw: Any) -> None:
        rng = self.rng
        inst = self.inst
        buf = self.buffer
        rng.shuffle(buf)
        n = len(self.pid)
        per = len(buf) / max(1, n)
        owed = 0.0
        cw_out, cw_ph, days = self.cw_out, self.cw_ph, self.days
        out_rate = [(0, 2.5), (18, 1.8), (45, 3.2), (60, 5.5), (75, 7.5)]
        ph_rate = [(0, 0.8), (18, 1.8), (45, 2.8), (60, 5.0), (75, 5.5)]
        in_rate = [(0, 0.04), (18, 0.05), (45, 0.08), (60, 0.16), (75, 0.27)]
        own_payee_persons: dict[int, list[int]] = {}
        self.written = 0
        sid = rng.randrange(10**6, 10**7)
        self.sample_sids: list[tuple[str, list[str]]] = []

        def put(r: list[str], sample: bool = False) -> None:
            nonlocal sid
            sid += rng.randrange(1, 4)
            r[0] = f"JS{r[17][1:5]}{sid:010d}"
            sw.writerow(r)
            self.written += 1
            if rng.random() < 0.0004:
                sw.writerow(r)  # an identical re-exported row
                self.written += 1
            if sample and len(self.sample_sids) < 200 and rng.random() < 0.002 and r[3] == self.pid[i]:
                self.sample_sids.append((r[0], r))

        for i in range(n):
            a = self.age[i]
            f = self.frail[i]
            band = 4 if a >= 75 else 3 if a >= 60 else 2 if a >= 45 else 1 if a >= 18 else 0
            dd0 = self.death[i]
            lim = NDAYS if dd0 is None else min(NDAYS, dd0)
            if lim > 0:
                for d in rng.choices(days, cum_weights=cw_out, k=_pois(rng, out_rate[band][1] * f)):
                    if d >= lim:
                        continue
                    r0 = rng.random()
                    if r0 < 0.55:
                        h = self.pref_clinic[i]
                    elif r0 < 0.85:
                        h = self.pref_hosp[i]
                    elif r0 < 0.95:
                        h = rng.choice(self.by_kind_reg[("hospital", self.reg[i])])
                    else:
                        h = rng.choice(self.level3)
                    lvl = inst[h]["level"]
                    tot = rng.uniform(25, 180) * (2.2 if lvl == "3" else 1.0) * (1 + rng.random() * (rng.random() < 0.2) * 5)
                    items = "普通门诊诊查费" + ("" if rng.random() < 0.3 else ";" + rng.choice(TESTS)) + \
                        ("" if rng.random() < 0.4 else ";" + DRUGS[rng.choice(CHRONIC if a >= 50 else ACUTE)][0])
                    put(self.row("outpatient", i, h, d, rng.randrange(470, 1050), presc=rng.choice(self.presc_of[h]),
                                 total=round(tot, 2), ratio=self.ratio(i, "outpatient"), items=items),
                        sample=not self.taken[i])
                for d in rng.choices(days, cum_weights=cw_ph, k=_pois(rng, ph_rate[band][1] * f)):
                    if d >= lim:
                        continue
                    pp = self.pref_pharm[i]
                    ph = pp[0] if rng.random() < 0.6 else (pp[-1] if rng.random() < 0.7 else
                                                           rng.choice(self.pharm_of[(self.reg[i], self.area[i])]))
                    drugs = [rng.choice(CHRONIC if a >= 45 and rng.random() < 0.75 else ACUTE)]
                    if rng.random() < 0.25:
                        drugs.append(rng.choice(ACUTE + CHRONIC + RESALE[-3:]))
                    presc = ""
                    if rng.random() < 0.06:
                        presc = rng.choice(self.presc_of[self.pref_hosp[i]])
                    r, _ = self.pharmacy_row(i, ph, d, rng.randrange(480, 1290), drugs, 2, presc=presc)
                    put(r)
                for _ in range(min(3, _pois(rng, in_rate[band][1] * f))):
                    d = rng.choices(days, cum_weights=cw_out)[0]
                    los = max(1, min(40, int(rng.lognormvariate(1.9, 0.55))))
                    if d + los >= lim or d + los >= NDAYS + 30:
                        continue
                    h = self.pref_hosp[i] if rng.random() < 0.65 else (
                        rng.choice(self.level3) if rng.random() < 0.6 else rng.choice(self.by_kind_reg[("hospital", self.reg[i])]))
                    lvl = inst[h]["level"]
                    payee = self.fmt_account(self.acct[i]) if rng.random() < 0.04 and self.acct[i] else ""
                    put(self.stay(i, h, d, los, rng.choice(INPATIENT), 1400 if lvl == "3" else 800, payee=payee))
                    if inst[h]["own_payee"] and i not in self.ring_idx:
                        own_payee_persons.setdefault(h, []).append(i)
            if i in self.dup_of and lim > 0:
                # the second 参保人编号 (home-county registration) gets a few claims of its own
                for _ in range(rng.randrange(1, 4)):
                    d = rng.randrange(0, lim)
                    h = self.dup_clinic[i]
                    put(self.row("outpatient", i, h, d, rng.randrange(480, 1000), presc=rng.choice(self.presc_of[h]),
                                 total=rng.uniform(30, 200), ratio=0.5, items="普通门诊诊查费;" + rng.choice(TESTS),
                                 card="", device="", pid=self.dup_of[i]))
            owed += per
            while owed >= 1 and buf:
                put(buf.pop())
                owed -= 1
        while buf:
            put(buf.pop())
        for ps in own_payee_persons.values():
            ps = sorted(set(ps))
            if len(ps) >= 2:
                self.lookalikes.append({"kind": "hospital_own_payee_account",
                                        "persons": sorted(self.pid[p] for p in ps)})

    def dirty_rows(self, sw: Any) -> int:
        """Rows that break the contract, as a careless export produces them; ingest must reject each."""
        rng = self.rng
        k = max(6, round(8 * self.s ** 0.8))
        bad = 0
        bg = [r for _, r in self.sample_sids] or []
        for j in range(k):
            if not bg:
                break
            r = list(rng.choice(bg))
            t = j % 6
            r[0] = f"JSX{rng.randrange(10**9):09d}"
            if t == 0:
                r[2] = r[2][:4] + "/13/" + r[2][8:10] + " 25:61"
            elif t == 1:
                r[8] = "1,2O5.00"
            elif t == 2:
                r[3] = "500199" + f"{rng.randrange(10**8):08d}"
            elif t == 3:
                r[5] = ""
            elif t == 4:
                r[1] = ""
            else:
                r = list(rng.choice(bg))
                r[8] = f"{float(r[8] or 0) + 100:.2f}"  # same settlement_id, different amount
            sw.writerow(r)
            bad += 1
        return bad


def rng_road(rng: random.Random) -> str:
    return rng.choice(ROADS)


def _write(path: Path, header: list[str], rows: Any, bom: bool = False) -> int:
    n = 0
    with path.open("w", encoding="utf-8-sig" if bom else "utf-8", newline="") as f:
        w = csv.writer(f)
        w.writerow(header)
        for r in rows:
            w.writerow(r)
            n += 1
    return n


def generate_fourth_city(out: Path, persons: int, seed: int) -> None:
    """Write the contract input folder ``out`` and ``<out>-truth.json`` beside it."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    c = _City(persons, seed)
    c.build_institutions()
    c.build_persons()
    c._pidset.update(c.pid)
    c.plan_lookalikes()
    c.plan_rings()
    rng = c.rng
    n = len(c.pid)
    dup_rows = []
    rural = [i for i, r in enumerate(REGIONS) if r[2] == "rural"]
    for i in rng.sample(range(n), max(3, n // 400)):
        if c.taken[i] or c.age[i] < 20:
            continue
        ri = rng.choice(rural)
        pid2 = REGIONS[ri][0] + f"8{rng.randrange(10**7):07d}"
        if pid2 in c._pidset:
            continue
        c._pidset.add(pid2)
        c.duplicates[pid2] = c.pid[i]
        c.dup_of[i] = pid2
        c.dup_clinic[i] = c.clinic_of[(ri, rng.choice(REGIONS[ri][5]))]
        idn = c.idn[i].lower() if rng.random() < 0.5 else c.idn[i]
        dup_rows.append([pid2, idn, c.nm[i], c.gender[i], c.birth[i], c.fmt_phone(c.own_phone[i]) if rng.random() < 0.5 else "",
                         c.render_addr(c.addr[i], True), REGIONS[ri][0],
                         "resident" if c.ins[i] == "employee" else "employee", ""])
    with (out / "settlements.csv").open("w", encoding="utf-8", newline="") as f:
        sw = csv.writer(f)
        sw.writerow(SETTLE_COLS)
        c.background(sw)
        c.dirty_rows(sw)
    header = ["person_id", "id_number", "name", "gender", "birth_date", "phone", "address", "region_code",
              "insurance_type", "death_date"]

    def persons_rows() -> Any:
        order = list(range(n))
        rng.shuffle(order)
        first_of_hh: dict[int, bool] = {}
        conflict = None
        for i in order:
            ph = c.own_phone[i] or (c.contact[i] if c.age[i] >= 70 and rng.random() < 0.5 else "")
            if ph and rng.random() < 0.06:
                ph = ""  # phone missing in this export though the person has one
            variant = first_of_hh.get(c.hh[i], False) and rng.random() < 0.6 or rng.random() < 0.2
            first_of_hh[c.hh[i]] = True
            idn = c.idn[i]
            if idn.endswith("X") and rng.random() < 0.35:
                idn = idn[:-1] + "x"
            dd = c.death[i]
            row = [c.pid[i], idn if rng.random() > 0.01 else "", c.nm[i], c.gender[i] if rng.random() > 0.01 else "",
                   c.birth[i], c.fmt_phone(ph) if ph else "", c.render_addr(c.addr[i], variant), REGIONS[c.reg[i]][0],
                   c.ins[i], DATES[dd + OFF] if dd is not None else ""]
            if conflict is None and not c.taken[i] and rng.random() < 0.01:
                conflict = list(row)
                conflict[2] = conflict[2][0] + "某某"
            yield row
        yield from dup_rows
        if conflict is not None:
            yield conflict  # duplicate key with conflicting content: must be rejected

    _write(out / "persons.csv", header, persons_rows(), bom=True)

    def card_rows() -> Any:
        for i in range(n):
            if c.card[i]:
                yield [c.card[i], c.pid[i], "card", DATES[OFF - rng.randrange(30, 1150)], "", ""]
            if c.ev[i]:
                yield [c.ev[i], c.pid[i], "evoucher", DATES[OFF - rng.randrange(1, 1100)],
                       c.fmt_phone(c.evphone[i]) if rng.random() < 0.9 else "", c.evdev[i]]
        yield from c.extra_cards
        yield [f"K5001X{rng.randrange(10**8):08d}", "500199" + f"{rng.randrange(10**8):08d}", "card", "2024-03-01", "", ""]

    _write(out / "cards.csv", ["card_id", "person_id", "kind", "issued_date", "bound_phone", "device_id"], card_rows())
    _write(out / "institutions.csv", ["institution_id", "name", "kind", "level", "ownership", "address", "phone", "region_code"],
           ([d["id"], d["name"], d["kind"], d["level"], d["own"], d["addr"], c.fmt_phone(d["phone"]),
             REGIONS[d["reg"]][0]] for d in c.inst))
    _write(out / "prescribers.csv", ["prescriber_id", "name", "institution_id", "phone"], c.presc)
    _write(out / "intermediaries.csv", ["intermediary_id", "name", "phone", "address", "id_number", "source"],
           c.intermediaries)
    truth = {"city": "重庆市", "period": [START.isoformat(), DATES[OFF + NDAYS - 1]],
             "rings": c.rings, "lookalikes": c.lookalikes, "duplicate_persons": [[first, second] for second, first in c.duplicates.items()]}
    (out.parent / f"{out.name}-truth.json").write_text(json.dumps(truth, ensure_ascii=False, indent=1), encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else "")
    ap.add_argument("out", type=Path)
    ap.add_argument("--persons", type=int, default=20000)
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args(argv)
    t = time.time()
    generate_fourth_city(a.out, a.persons, a.seed)
    print(f"wrote {a.out} in {time.time() - t:.1f}s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
