"""A third, independently written test city: 齐齐哈尔市 (Heilongjiang), July 2024 - June 2025.

Written blind from the data contract and the domain brief only, to measure graphsvc's ring
detection on data its authors did not shape. One year of medical-insurance settlements for a
north-eastern prefecture: ageing rural counties, migrant workers who go south and come back for
the Spring Festival, hard winters (respiratory peak December-February), care homes, dialysis and
chemotherapy cohorts, factory dormitories, group-rental flats, registered claim agents, employer
check-ups, families that share one phone and pay with each other's cards (家庭共济).

Planted rings, every contract pattern, parameters drawn per ring from wide ranges, with evasions:
- black_intermediary: a broker recruits elderly villagers from 1-3 villages into waves of stays at
  1-3 private hospitals, admissions spread over days, several burner phones, payee split;
- professional_gang: a small crew admitted together in rotation across hospitals (结队住院,
  分解住院), or buying key drugs across pharmacies whose trace codes come back in later sales;
- card_collector: a 卡贩子 swipes collected cards/e-vouchers in bursts at complicit pharmacies;
- prescriber_pharmacy_collusion: one prescriber's scripts, mostly without a visit, filled at one
  pharmacy;
- care_home_collusion: a care home's residents admitted in waves to a hospital;
- identity_misuse: a gang uses the cards of the dead and of migrant workers who are away.

    python bench/third_city.py OUT --persons 20000 --seed 1
writes OUT/*.csv and OUT.parent / "OUT-truth.json".
"""

from __future__ import annotations

import argparse
import bisect
import csv
import json
import math
import random
import time
from datetime import date, timedelta
from pathlib import Path

__all__ = ["generate_third_city"]

START = date(2024, 7, 1)
NDAYS = 365
DAYS = [(START + timedelta(i)).isoformat() for i in range(NDAYS + 400)]
# month weights (NE China: winter respiratory peak, quiet summer)
MONTH_W = {1: 1.4, 2: 1.15, 3: 1.1, 4: 1.0, 5: 0.9, 6: 0.85, 7: 0.8, 8: 0.85, 9: 0.95, 10: 1.0, 11: 1.2, 12: 1.4}
_CUM: list[float] = []
_acc = 0.0
for _i in range(NDAYS):
    _d = START + timedelta(_i)
    _acc += MONTH_W[_d.month] * (0.75 if _d.weekday() == 6 else 1.0)
    _CUM.append(_acc)
SPRING = (date(2025, 1, 18) - START).days, (date(2025, 2, 16) - START).days  # migrants at home

PROVINCE, CITY = "黑龙江省", "齐齐哈尔市"
URBAN = [("230202", "龙沙区", ["卜奎大街", "龙华路", "光明路", "永安大街", "公园路"]),
         ("230203", "建华区", ["中华路", "新华大街", "建华路", "文化大街"]),
         ("230204", "铁锋区", ["站前大街", "龙华路", "东湖路", "铁锋路"]),
         ("230205", "昂昂溪区", ["新兴街", "榆树屯路"]),
         ("230206", "富拉尔基区", ["向阳大街", "和平大街", "红宝石路"]),
         ("230208", "梅里斯达斡尔族区", ["梅里斯路", "雅尔塞路"])]
RURAL = [("230221", "龙江县", ["龙江镇", "景星镇", "白山镇", "七棵树镇"]),
         ("230223", "依安县", ["依安镇", "新兴镇", "富饶乡", "三兴镇"]),
         ("230224", "泰来县", ["泰来镇", "平洋镇", "汤池镇"]),
         ("230225", "甘南县", ["甘南镇", "兴十四镇", "中兴乡"]),
         ("230227", "富裕县", ["富裕镇", "友谊乡", "塔哈镇"]),
         ("230229", "克山县", ["克山镇", "北联镇", "古城镇"]),
         ("230230", "克东县", ["克东镇", "宝泉镇", "玉岗镇"]),
         ("230231", "拜泉县", ["拜泉镇", "三道镇", "兴华乡", "时中乡"]),
         ("230281", "讷河市", ["雨亭街道", "拉哈镇", "二克浅镇", "老莱镇"])]
VILLAGE_WORDS = ["红星", "前进", "胜利", "东升", "永丰", "双合", "长发", "新民", "保安", "太平", "富强", "联合",
                 "团结", "兴隆", "庆丰", "光荣", "万宝", "三合", "五一", "和平"]
AWAY = [("441900", "东莞市", "广东省东莞市长安镇"), ("330100", "杭州市", "浙江省杭州市萧山区"),
        ("120100", "天津市", "天津市滨海新区")]
SURNAMES = "王李张刘赵孙杨陈于高徐马郭姜曲宋韩郑周吴冯董鲍邵白付关佟那吕崔范田谭"
GIVEN = "淑秀玉桂凤兰英华丽艳春梅国军建明志海俊伟强磊洪涛宝福德成庆喜金福贵永长树立文宏晶鑫雪佳欣浩宇子轩博丹"
CN = "零一二三四五六七八九"
FULLW = str.maketrans("0123456789", "０１２３４５６７８９")

DRUGS_CHRONIC = {"氨氯地平片": 28.0, "硝苯地平控释片": 46.0, "二甲双胍缓释片": 22.0, "阿托伐他汀钙片": 38.0,
                 "瑞舒伐他汀钙片": 41.0, "阿司匹林肠溶片": 15.0, "硫酸氢氯吡格雷片": 86.0, "美托洛尔缓释片": 35.0,
                 "甘精胰岛素注射液": 178.0, "门冬胰岛素30注射液": 142.0, "达格列净片": 96.0, "左氨氯地平片": 31.0}
DRUGS_ACUTE = {"阿莫西林胶囊": 18.0, "头孢克肟胶囊": 32.0, "布洛芬缓释胶囊": 16.0, "连花清瘟胶囊": 27.0,
               "复方甘草片": 9.0, "蒙脱石散": 21.0, "板蓝根颗粒": 14.0, "感冒灵颗粒": 16.0, "奥美拉唑肠溶胶囊": 24.0,
               "氨溴索口服液": 19.0, "藿香正气水": 12.0, "云南白药气雾剂": 45.0}
DRUGS_KEY = {"人血白蛋白": 420.0, "甲磺酸奥希替尼片": 5100.0, "甘精胰岛素注射液": 178.0, "司库奇尤单抗注射液": 1190.0,
             "他克莫司胶囊": 560.0, "丁苯酞软胶囊": 380.0, "达格列净片": 96.0}
FAKE_ITEMS = ["中医定向透药", "针灸", "中药熏蒸", "红外线理疗", "颈椎牵引", "普通床位费", "血常规", "心电图",
              "腰椎间盘突出", "脑供血不足", "颈椎病", "CT平扫", "静脉输液"]
DX = ["上呼吸道感染", "肺炎", "慢性阻塞性肺疾病", "高血压", "2型糖尿病", "冠心病", "脑梗死", "胆囊炎", "骨折",
      "阑尾炎", "支气管炎", "腰椎间盘突出", "白内障", "慢性胃炎"]


# A canonical address: (county, street template with {} slots, the numbers for the slots).
Addr = tuple[str, str, tuple[int, ...]]


class P:
    __slots__ = ("pid", "idn", "name", "g", "birth", "age", "phone", "addr", "addr_w", "region", "itype", "death",
                 "hh", "role", "card", "ev", "ev_dev", "ev_phone", "ev_self", "acct", "hosp", "clinic", "pharms",
                 "chronic", "alt", "alt_card", "away", "carehome", "town")
    # Annotations only (a class value would clash with __slots__): every slot starts as None in
    # __init__; new_person and build_people fill the non-optional ones before anything reads them.
    pid: str
    idn: str
    name: str
    g: str
    birth: date
    age: int
    phone: str | None
    addr: Addr
    addr_w: str
    region: str
    itype: str
    death: int | None  # day index of death; negative = died before the period
    hh: int
    role: str
    card: str
    ev: str | None  # e-voucher id
    ev_dev: str | None
    ev_phone: str | None
    ev_self: bool | None
    acct: str | None
    hosp: Inst
    clinic: Inst
    pharms: list[Inst]
    chronic: list[str] | None
    alt: str | None  # second person id of a duplicate record
    alt_card: str | None
    away: bool | None  # migrant working in the south; None outside households
    carehome: Inst | None
    town: str | None

    def __init__(self) -> None:
        for s in self.__slots__:
            setattr(self, s, None)


class Inst:
    __slots__ = ("iid", "name", "kind", "level", "own", "addr", "phone", "region", "docs", "ops", "acct",
                 "fill_payee", "sep", "district")
    # Annotations only, as in P: the constructor's keywords set every slot.
    iid: str
    name: str
    kind: str
    level: str
    own: str
    addr: Addr
    phone: str
    region: str
    docs: list[str]
    ops: list[str]
    acct: str
    fill_payee: bool
    sep: str  # between date and time in this institution's timestamps
    district: int  # index into URBAN + RURAL; -1 for the hospitals and pharmacies far away

    def __init__(self, **kw: object) -> None:
        for s in self.__slots__:
            setattr(self, s, kw.get(s))


def _cn(n: int) -> str:
    if n < 10:
        return CN[n]
    if n < 20:
        return "十" + (CN[n - 10] if n > 10 else "")
    if n < 100:
        return CN[n // 10] + "十" + (CN[n % 10] if n % 10 else "")
    return str(n)


def _check_digit(s17: str) -> str:
    w = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
    return "10X98765432"[sum(int(c) * k for c, k in zip(s17, w)) % 11]


class City:
    def __init__(self, out: Path, n: int, seed: int) -> None:
        self.out, self.n = out, n
        self.rng = random.Random(f"third-city:{seed}:{n}")
        self.persons: list[P] = []
        self.insts: list[Inst] = []
        self.inter: list[list[str]] = []
        self.lookalikes: list[dict] = []
        self.rings: list[dict] = []
        self.dups: list[list[str]] = []
        self.used_ids: set[str] = set()
        self.used_nums: set[int] = set()
        self.trace_ctr = 0
        self.sid = 0
        self.fraud: set[str] = set()
        self.extra_cards: list[list[str]] = []
        self.ring_seq = 0
        self.mutual_families: list[list[P]] = []

    # ---------------------------------------------------------------- small helpers
    def uniq(self, lo: int, hi: int) -> int:
        r = self.rng
        while True:
            x = r.randrange(lo, hi)
            if x not in self.used_nums:
                self.used_nums.add(x)
                return x

    def mobile(self) -> str:
        r = self.rng
        return r.choice(["13", "15", "18", "17", "19", "13", "15"]) + str(r.randrange(0, 10)) + f"{self.uniq(10**7, 10**8):08d}"

    def fmt_phone(self, ph: str | None) -> str:
        if not ph:
            return ""
        x = self.rng.random()
        if x < 0.70 or len(ph) != 11:
            return ph
        if x < 0.78:
            return "+86 " + ph
        if x < 0.84:
            return "0086" + ph
        if x < 0.92:
            return f"{ph[:3]}-{ph[3:7]}-{ph[7:]}"
        return f"{ph[:3]} {ph[3:7]} {ph[7:]}"

    def account(self) -> str:
        r = self.rng
        return r.choice(["6217", "6228", "6222", "6230"]) + f"{self.uniq(10**14, 10**15):015d}"

    def fmt_acct(self, a: str) -> str:
        if a and self.rng.random() < 0.2:
            return " ".join(a[i:i + 4] for i in range(0, len(a), 4))
        return a

    def device(self) -> str:
        r = self.rng
        if r.random() < 0.5:
            return f"86{self.uniq(10**12, 10**13):013d}"  # IMEI-like
        return f"{r.getrandbits(32):08x}-{r.getrandbits(16):04x}-{r.getrandbits(16):04x}"

    def name(self) -> str:
        r = self.rng
        return r.choice(SURNAMES) + "".join(r.choice(GIVEN) for _ in range(r.choice((1, 2, 2))))

    def day(self, lo: int = 0, hi: int = NDAYS) -> int:
        lo, hi = max(0, lo), min(NDAYS, hi)
        if hi <= lo:
            return max(0, min(NDAYS - 1, lo))
        a = _CUM[lo - 1] if lo else 0.0
        b = _CUM[hi - 1]
        return bisect.bisect_left(_CUM, a + self.rng.random() * (b - a), lo, hi)

    def poisson(self, lam: float) -> int:
        if lam <= 0:
            return 0
        limit, k, p = math.exp(-lam), 0, 1.0
        while True:
            p *= self.rng.random()
            if p < limit:
                return k
            k += 1

    def address(self, a: tuple) -> str:
        """A written variant of canonical address a = (county, template, numbers)."""
        county, tpl, nums = a
        r = self.rng
        x = r.random()
        style = r.random()
        conv = []
        for v in nums:
            if v < 100 and style < 0.2 and "组" in tpl:
                conv.append(_cn(v))
            elif style > 0.93:
                conv.append(str(v).translate(FULLW))
            else:
                conv.append(str(v))
        rest = tpl.format(*conv)
        if x < 0.55:
            s = PROVINCE + CITY + county + rest
        elif x < 0.72:
            s = CITY + county + rest
        elif x < 0.86:
            s = county + rest
        elif x < 0.94:
            s = PROVINCE + CITY + rest
        else:
            s = "齐齐哈尔" + county + " " + rest
        if r.random() < 0.05:
            s = s.replace(county, county + " ", 1) if r.random() < 0.5 else " " + s + " "
        return s

    def idnum(self, region: str, birth: date, male: bool) -> str:
        while True:
            seq = self.rng.randrange(0, 500) * 2 + (1 if male else 0)
            s17 = f"{region}{birth:%Y%m%d}{seq:03d}"
            full = s17 + _check_digit(s17)
            if full not in self.used_ids:
                self.used_ids.add(full)
                return full

    def ts(self, inst: Inst, d: int, minute: int) -> str:
        minute = max(0, min(minute, 24 * 60 - 1))
        return f"{DAYS[d]}{inst.sep}{minute // 60:02d}:{minute % 60:02d}:{self.rng.randrange(60):02d}"

    def traces(self, k: int) -> list[str]:
        out = []
        for _ in range(k):
            self.trace_ctr += 1
            out.append(f"8{self.rng.randrange(100000, 999999)}{(self.trace_ctr * 7919) % 10**13:013d}")
        return out

    # ---------------------------------------------------------------- the world
    def build_institutions(self) -> None:
        r, n = self.rng, self.n
        self.by_kind: dict[str, list[Inst]] = {"h3": [], "h2": [], "h1": [], "priv": [], "clinic": [],
                                                "pharm": [], "nh": [], "away": []}

        def add(key: str, name: str, kind: str, level: str, own: str, region: str, county: str, district: int) -> Inst:
            pre = "P" if kind == "pharmacy" else "H"
            iid = f"{pre}{region}{self.uniq(10000, 99999) % 100000:05d}"
            addr = (county, r.choice(["中心街", "人民路", "新华路", "站前街", "建设路"]) + r.choice(["{0}号", "{0}号院"]),
                    (r.randrange(1, 400),))
            ins = Inst(iid=iid, name=name, kind=kind, level=level, own=own, addr=addr, region=region,
                       phone=f"0452-{r.randrange(2000000, 8999999)}" if r.random() < 0.85 else self.mobile(),
                       docs=[], ops=[f"{iid[-5:]}{r.choice('CSTZ')}{k:02d}" for k in range(1, r.randint(2, 6))],
                       acct=f"0905{self.uniq(10**14, 10**15):015d}", fill_payee=False,
                       sep=r.choice(["T", " ", " "]), district=district)
            self.insts.append(ins)
            self.by_kind[key].append(ins)
            return ins

        areas = URBAN + RURAL
        for k in range(3):
            d = k % len(URBAN)
            add("h3", ["齐齐哈尔市第一人民医院", "齐齐哈尔医学院附属第二医院", "齐齐哈尔市中心医院"][k], "hospital", "3", "public",
                URBAN[d][0], URBAN[d][1], d)
        for d, (code, county, _) in enumerate(areas):
            add("h2", f"{county}人民医院", "hospital", "2", "public", code, county, d)
            if d >= len(URBAN) or r.random() < 0.5:
                add("h2", f"{county}中医医院", "hospital", "2", "public", code, county, d)
        nprivate = max(4, n // 2500)
        for k in range(nprivate):
            d = r.randrange(len(areas))
            add("priv", f"齐齐哈尔{r.choice(['仁和', '康泰', '博爱', '鹤城', '华康', '济民', '东方', '惠民', '安康', '益寿'])}"
                f"{r.choice(['医院', '骨科医院', '康复医院', '中西医结合医院'])}{'' if k < 10 else k}",
                "hospital", r.choice(["1", "2", "1"]), "private", areas[d][0], areas[d][1], d)
        for d, (code, county, towns) in enumerate(RURAL):
            for t in towns:
                add("h1", f"{county}{t}卫生院", "hospital", "1", "public", code, county, len(URBAN) + d)
        nclin = max(12, n // 700)
        for _ in range(nclin):
            d = r.randrange(len(areas))
            code, county, names = areas[d]
            nm = (f"{county}{r.choice(names)}社区卫生服务站" if d < len(URBAN)
                  else f"{county}{r.choice(names)}{r.choice(VILLAGE_WORDS)}村卫生室")
            add("clinic", nm, "clinic", "", "public" if r.random() < 0.7 else "private", code, county, d)
        nph = max(15, n // 450)
        for k in range(nph):
            d = r.randrange(len(areas)) if r.random() < 0.4 else r.randrange(len(URBAN))
            code, county, _ = areas[d]
            add("pharm", f"{r.choice(['鹤城', '北方', '仁和堂', '康健', '百姓', '益民', '天和', '嫩江'])}"
                f"{r.choice(['大药房', '药店', '医药连锁'])}{county}{k + 1}店", "pharmacy", "", "private", code, county, d)
        for code, city, place in AWAY:
            add("away", f"{city}{r.choice(['人民医院', '第三人民医院'])}", "hospital", "3", "public", code, place, -1)
            add("away", f"{city}{r.choice(['大参林', '老百姓', '海王星辰'])}药房", "pharmacy", "", "private", code, place, -1)
        for ins in self.insts:
            nd = {"3": r.randint(20, 40), "2": r.randint(8, 18), "1": r.randint(3, 8)}.get(ins.level, 0)
            if ins.kind == "clinic":
                nd = r.randint(1, 2)
            for _ in range(nd):
                ins.docs.append(f"D{ins.region}{self.uniq(100000, 999999)}")
            ins.fill_payee = ins.kind == "hospital" and ins.own == "public" and ins.level in ("2", "3") and r.random() < 0.5
        self.doc_phone: dict[str, str] = {}
        self.doc_name: dict[str, str] = {}
        self.doc_inst: dict[str, Inst] = {}
        for ins in self.insts:
            for dd in ins.docs:
                self.doc_inst[dd] = ins

    def add_nursing_home(self, district: int) -> Inst:
        r = self.rng
        areas = URBAN + RURAL
        code, county, _ = areas[district]
        iid = f"H{code}{self.uniq(10000, 99999):05d}"
        ins = Inst(iid=iid, name=f"{county}{r.choice(['福寿', '颐康', '夕阳红', '松鹤', '康乐', '长青'])}养老院",
                   kind="nursing_home", level="", own=r.choice(["private", "public"]),
                   addr=(county, r.choice(["幸福路{0}号", "敬老街{0}号", "北环路{0}号"]), (r.randrange(1, 300),)),
                   phone=f"0452-{r.randrange(2000000, 8999999)}" if r.random() < 0.6 else self.mobile(),
                   docs=[f"D{code}{self.uniq(100000, 999999)}"], ops=[f"{iid[-5:]}N01"],
                   acct=f"0905{self.uniq(10**14, 10**15):015d}", fill_payee=False, sep=" ", district=district)
        self.insts.append(ins)
        self.by_kind["nh"].append(ins)
        self.doc_inst[ins.docs[0]] = ins
        return ins

    def new_person(self, age: int, male: bool, addr: tuple, district: int, hh: int, role: str) -> P:
        r = self.rng
        p = P()
        areas = URBAN + RURAL
        p.region = areas[district][0]
        p.birth = START - timedelta(days=age * 365 + r.randrange(365))
        p.age = age
        p.g = "M" if male else "F"
        born_region = p.region if r.random() < 0.8 else r.choice(["230202", "230221", "232700", "230800", "220100"])
        p.idn = self.idnum(born_region, p.birth, male)
        p.pid = f"2302{self.uniq(10**9, 10**10):010d}"
        p.name = self.name()
        p.addr = addr
        p.hh, p.role = hh, role
        p.itype = "employee" if (district < len(URBAN) and 20 <= age < 75 and r.random() < 0.62) or \
            (role in ("dorm", "worker") and r.random() < 0.8) else "resident"
        p.card = f"HLJ{self.uniq(10**8, 10**9):09d}"
        p.acct = self.account() if age >= 18 else None
        p.town = addr[0] + addr[1][: max(addr[1].find("镇"), addr[1].find("乡"), addr[1].find("街道") + 1) + 1] \
            if district >= len(URBAN) and "村" in addr[1] else None
        self.persons.append(p)
        return p

    def build_people(self) -> None:
        r, n = self.rng, self.n
        areas = URBAN + RURAL
        hosp_by_d: dict[int, list[Inst]] = {}
        for ins in self.by_kind["h2"] + self.by_kind["h1"]:
            hosp_by_d.setdefault(ins.district, []).append(ins)
        clin_by_d: dict[int, list[Inst]] = {}
        for ins in self.by_kind["clinic"] + self.by_kind["h1"]:
            clin_by_d.setdefault(ins.district, []).append(ins)
        ph_by_d: dict[int, list[Inst]] = {}
        for ins in self.by_kind["pharm"]:
            ph_by_d.setdefault(ins.district, []).append(ins)
        self.hosp_by_d, self.clin_by_d, self.ph_by_d = hosp_by_d, clin_by_d, ph_by_d
        hh = 0
        self.households: list[list[P]] = []
        self.carehomes: list[tuple[Inst, list[P]]] = []
        self.dorms: list[list[P]] = []
        self.rentals: list[list[P]] = []

        def urban_addr(d: int) -> tuple:
            c, county, streets = areas[d]
            return (county, r.choice(streets) + "{0}号{1}单元{2}室", (r.randrange(1, 300), r.randrange(1, 7),
                                                                   r.randrange(1, 7) * 100 + r.randrange(1, 4)))

        def rural_addr(d: int) -> tuple:
            c, county, towns = areas[d]
            t = r.choice(towns)
            v = r.choice(VILLAGE_WORDS)
            return (county, t + v + "村{0}组", (r.randrange(1, 13),))

        # care homes (legit ones + those that will collude), dorms, group rentals
        n_ring_total = max(7, round(n / 1400))
        self.n_rings = n_ring_total
        self.n_colluding_homes = 0
        n_legit_homes = max(2, n // 6000)
        budget_special = int(n * 0.06)
        used = 0
        self.legit_homes: list[tuple[Inst, list[P]]] = []
        self.colluding_pool: list[tuple[Inst, list[P]]] = []
        nh_total = n_legit_homes + max(1, n_ring_total // 6 + 1)
        for k in range(nh_total):
            d = r.randrange(len(areas))
            ins = self.add_nursing_home(d)
            size = min(r.randint(30, 120), max(20, budget_special // (nh_total + 2)))
            hh += 1
            res = []
            for _ in range(size):
                p = self.new_person(r.randint(68, 96), r.random() < 0.42, ins.addr, d, hh, "carehome")
                p.carehome = ins
                # residents mostly give the home's phone, more so when it is a landline
                if r.random() < 0.55 or (not ins.phone.startswith("1") and r.random() < 0.3):
                    p.phone = ins.phone
                else:
                    p.phone = self.mobile() if r.random() < 0.5 else None
                res.append(p)
            used += size
            (self.legit_homes if k < n_legit_homes else self.colluding_pool).append((ins, res))
        for _ in range(max(1, n // 8000)):
            d = r.randrange(len(URBAN))
            addr = (areas[d][1], r.choice(["富拉尔基重机厂职工宿舍{0}号楼", "工业园区{0}号宿舍", "华安厂宿舍{0}栋"]), (r.randrange(1, 9),))
            hh += 1
            grp = [self.new_person(r.randint(19, 50), r.random() < 0.7, addr, d, hh, "dorm") for _ in range(r.randint(20, 60))]
            self.dorms.append(grp)
            used += len(grp)
        for _ in range(max(2, n // 2500)):
            d = r.randrange(len(URBAN))
            addr = urban_addr(d)
            hh += 1
            grp = [self.new_person(r.randint(19, 45), r.random() < 0.6, addr, d, hh, "worker") for _ in range(r.randint(4, 9))]
            self.rentals.append(grp)
            used += len(grp)
        # households
        while len(self.persons) < n:
            d = r.randrange(len(URBAN)) if r.random() < 0.55 else len(URBAN) + r.randrange(len(RURAL))
            rural = d >= len(URBAN)
            addr = rural_addr(d) if rural else urban_addr(d)
            hh += 1
            t = r.random()
            mem: list[tuple[int, bool, str]] = []
            if t < 0.11:
                mem = [(r.randint(62, 92), r.random() < 0.4, "elder")]
            elif t < 0.27:
                a = r.randint(60, 88)
                mem = [(a, True, "elder"), (max(55, a - r.randint(0, 5)), False, "elder")]
            elif t < 0.62 or (t < 0.72 and not rural):
                a = r.randint(26, 55)
                mem = [(a, True, "adult"), (max(20, a - r.randint(-3, 5)), False, "adult")]
                mem += [(r.randint(0, 22) if a > 40 else r.randint(0, max(1, a - 22)), r.random() < 0.5, "child")
                        for _ in range(r.choice((0, 1, 1, 1, 2)))]
            elif t < 0.84:
                a = r.randint(30, 50)
                mem = [(a, True, "adult"), (a - r.randint(0, 4), False, "adult"), (r.randint(0, 17), r.random() < 0.5, "child"),
                       (a + r.randint(24, 32), r.random() < 0.4, "elder")]
                if r.random() < 0.4:
                    mem.append((mem[-1][0] + r.randint(-3, 3), not mem[-1][1], "elder"))
            elif t < 0.92:
                mem = [(r.randint(20, 40), r.random() < 0.5, "adult")]
            else:  # migrant household (rural): one or two go south, elders and kids stay
                a = r.randint(22, 48)
                mem = [(a, True, "migrant"), (a + r.randint(22, 30), r.random() < 0.5, "elder")]
                if r.random() < 0.5:
                    mem.append((a - r.randint(0, 4), False, "migrant" if r.random() < 0.5 else "adult"))
                if r.random() < 0.5:
                    mem.append((r.randint(2, 15), r.random() < 0.5, "child"))
            fam = []
            for age, male, role in mem:
                if len(self.persons) >= n:
                    break
                p = self.new_person(min(age, 99), male, addr, d, hh, role)
                p.away = role == "migrant"
                fam.append(p)
            # phones: adults own one; elders often use a child's phone; children use a parent's
            adults = [p for p in fam if p.role in ("adult", "migrant")]
            for p in fam:
                if p.role in ("adult", "migrant"):
                    p.phone = self.mobile()
                elif p.role == "elder":
                    p.phone = self.mobile() if r.random() < 0.55 or not adults else r.choice(adults).phone
                else:
                    p.phone = (r.choice(adults).phone if adults and r.random() < 0.6 else
                               (self.mobile() if p.age >= 14 else None))
            if fam:
                self.households.append(fam)
        for grp in self.dorms + self.rentals:
            for p in grp:
                p.phone = self.mobile()
        # care home residents without a phone yet
        for p in self.persons:
            p.addr_w = self.address(p.addr)
            d = next(i for i, a in enumerate(areas) if a[0] == p.region)
            hs = hosp_by_d.get(d) or self.by_kind["h2"]
            p.hosp = r.choice(hs) if r.random() < 0.7 else r.choice(self.by_kind["h3"])
            cl = clin_by_d.get(d) or self.by_kind["clinic"]
            p.clinic = r.choice(cl)
            ph = ph_by_d.get(d) or self.by_kind["pharm"]
            p.pharms = [r.choice(ph) for _ in range(r.choice((1, 2, 2, 3)))]
            if p.age >= 45 and r.random() < (0.42 if p.age >= 60 else 0.18):
                p.chronic = r.sample(list(DRUGS_CHRONIC), r.choice((1, 1, 2, 3)))
            if 16 <= p.age <= 80 and p.role != "carehome" and r.random() < (0.75 if p.age < 60 else 0.35):
                p.ev = "EC" + f"{r.getrandbits(64):016X}"
                p.ev_dev = self.device()
                p.ev_phone = p.phone
                p.ev_self = True
        # family members sharing a phone share the device of the e-voucher too (elders on a child's phone)
        for fam in self.households:
            by_phone: dict[str, P] = {}
            for p in fam:
                if p.phone and p.ev:
                    if p.phone in by_phone:
                        p.ev_dev = by_phone[p.phone].ev_dev
                    else:
                        by_phone[p.phone] = p
        # deaths: some in-period (no claims after), a few before the period
        for p in self.persons:
            q = 0.004 if p.age < 60 else (0.025 if p.age < 80 else 0.07)
            if r.random() < q:
                p.death = r.randrange(20, NDAYS)
            elif p.age >= 70 and r.random() < 0.004:
                p.death = -r.randrange(30, 500)
        # duplicate records (two 参保人编号 under one ID number)
        for p in r.sample(self.persons, max(3, n // 400)):
            if p.death is not None:
                continue
            p.alt = f"2302{self.uniq(10**9, 10**10):010d}"
            p.alt_card = f"HLJ{self.uniq(10**8, 10**9):09d}"
            self.dups.append([p.pid, p.alt])

    # ---------------------------------------------------------------- settlements
    def emit(self, kind: str, p: P, inst: Inst, d: int, minute: int, total: float, *, end: int | None = None,
             doc: str = "", items: str = "", contact: str = "", agent: str = "", payee: str = "",
             card: str | None = None, device: str = "", operator: str | None = None, trace: str = "",
             use_alt: bool | None = None, ratio: float | None = None) -> None:
        r = self.rng
        self.sid += 1
        pid = p.pid
        if card is None:
            if p.ev and p.ev_self and r.random() < 0.35:
                # ev_dev is always set with ev; csv writes a None as "" anyway
                card, device = p.ev, p.ev_dev or ""
            else:
                card = p.card if r.random() > 0.015 else ""
        if p.alt and (use_alt if use_alt is not None else r.random() < 0.3):
            pid = p.alt
            if card == p.card:
                card = p.alt_card
        if ratio is None:
            ratio = {"inpatient": 0.82 if p.itype == "employee" else 0.66,
                     "outpatient": 0.6 if p.itype == "employee" else 0.5,
                     "pharmacy": 0.7 if p.itype == "employee" else 0.45}[kind] + r.uniform(-0.08, 0.08)
        total = round(max(total, 1.0), 2)
        fund = round(total * ratio, 2)
        if kind != "inpatient" and payee == "" and inst.fill_payee:
            payee = inst.acct
        self.w.writerow([f"JS{self.sid:09d}", kind, pid, card, inst.iid, doc, self.ts(inst, d, minute),
                         self.ts(inst, end, r.randint(480, 660)) if end is not None else "",
                         f"{total:.2f}" if r.random() > 0.002 else "", f"{fund:.2f}", items, self.fmt_phone(contact),
                         agent, self.fmt_acct(payee), device,
                         operator if operator is not None else r.choice(inst.ops), trace])

    def pharmacy_sale(self, p: P, inst: Inst, d: int, drugs: list[str], price: dict, *, doc: str = "", **kw) -> list[str]:
        r = self.rng
        codes: list[str] = []
        total = 0.0
        for dr in drugs:
            boxes = r.choice((1, 1, 2, 3))
            total += price.get(dr, 30.0) * boxes
            codes += self.traces(boxes)
        tr = ";".join(codes) if r.random() < 0.75 else ""
        self.emit("pharmacy", p, inst, d, r.randint(8 * 60, 21 * 60), total, doc=doc, items=";".join(drugs),
                  trace=kw.pop("trace", tr), **kw)
        return codes

    def inpatient(self, p: P, inst: Inst, d: int, los: int, *, items: str | None = None, total: float | None = None,
                  contact: str | None = None, payee: str | None = None, minute: int | None = None, **kw) -> None:
        r = self.rng
        if total is None:
            total = (1500 + los * r.uniform(500, 1400)) * (1.4 if inst.level == "3" else 1.0)
        if items is None:
            items = ";".join(r.sample(DX, 1) + ["床位费", "检查费", "西药费"])
        if contact is None:
            contact = p.phone or ""
        if payee is None:
            payee = inst.acct if inst.fill_payee else ""
        doc = r.choice(inst.docs) if inst.docs else ""
        self.emit("inpatient", p, inst, d, minute if minute is not None else r.randint(7 * 60, 17 * 60), total,
                  end=d + los, doc=doc, items=items, contact=contact, payee=payee, **kw)

    def background(self) -> None:
        r = self.rng
        for fam in self.households + self.dorms + self.rentals + [res for _, res in self.all_homes]:
            mutual = len(fam) >= 2 and fam[0].role not in ("dorm", "worker", "carehome") and r.random() < 0.18
            if mutual:
                self.mutual_families.append(fam)
            payers = [x for x in fam if x.role in ("adult", "migrant") and x.death is None] if mutual else []
            for p in fam:
                self.person_claims(p, payers)

    def person_claims(self, p: P, payers: list[P]) -> None:
        r = self.rng
        end = NDAYS if p.death is None else p.death
        if end <= 0:
            return
        age = p.age

        def local_window() -> tuple[int, int]:
            return SPRING if p.away else (0, end)

        lo, hi = local_window()
        hi = min(hi, end)
        here = 1.0 if hi > lo else 0.0  # a migrant who died before coming home has no local claims
        # acute outpatient visits
        lam = 3.0 if age < 14 else (1.4 if age < 60 else 3.2)
        if p.role == "carehome":
            lam = 1.0
        for _ in range(self.poisson(here * lam * (0.25 if p.away else 1.0))):
            d = self.day(lo, hi)
            inst = p.clinic if r.random() < 0.6 else p.hosp
            doc = r.choice(inst.docs) if inst.docs else ""
            dx = r.choice(DX[:3] if age < 14 else DX)
            self.emit("outpatient", p, inst, d, r.randint(450, 1050), r.lognormvariate(4.8, 0.7), doc=doc,
                      items=dx + ";" + r.choice(list(DRUGS_ACUTE)))
        # pharmacy (OTC); a relative's card sometimes pays (家庭共济)
        for _ in range(self.poisson(here * (1.0 if age < 14 else 3.0 if age < 60 else 4.5) * (0.25 if p.away else 1.0))):
            d = self.day(lo, hi)
            kw = {}
            if payers and r.random() < 0.5:
                payer = r.choice(payers)
                if payer is not p:
                    kw = {"card": payer.card, "payee": payer.acct or "", "agent": payer.pid if r.random() < 0.3 else ""}
            self.pharmacy_sale(p, r.choice(p.pharms), d, r.sample(list(DRUGS_ACUTE), r.choice((1, 1, 2))), DRUGS_ACUTE, **kw)
        # migrants: claims where they work (异地就医)
        if p.away:
            away = self.by_kind["away"]
            a = r.randrange(len(away) // 2)
            for _ in range(self.poisson(2.0)):
                d = self.day(0, end)
                if SPRING[0] <= d < SPRING[1]:
                    continue
                ins = away[2 * a + (1 if r.random() < 0.6 else 0)]
                if ins.kind == "pharmacy":
                    self.pharmacy_sale(p, ins, d, [r.choice(list(DRUGS_ACUTE))], DRUGS_ACUTE)
                else:
                    self.emit("outpatient", p, ins, d, r.randint(480, 1020), r.lognormvariate(5.2, 0.6),
                              items=r.choice(DX), doc="")
        # chronic scripts, roughly monthly
        if p.chronic and not p.away:
            d = r.randrange(0, 30)
            via_pharm = r.random() < 0.5
            inst = p.clinic if r.random() < 0.5 else p.hosp
            doc = r.choice(inst.docs) if inst.docs else ""
            while d < end:
                if r.random() < 0.9:
                    m = r.randint(460, 700)
                    if via_pharm:
                        self.emit("outpatient", p, inst, d, m, r.uniform(15, 40), doc=doc, items="门诊慢特病复诊")
                        self.pharmacy_sale(p, p.pharms[0], d, p.chronic, DRUGS_CHRONIC, doc=doc)
                    else:
                        tot = sum(DRUGS_CHRONIC[x] for x in p.chronic) * r.choice((1, 2, 3)) + 15
                        self.emit("outpatient", p, inst, d, m, tot, doc=doc, items="门诊慢特病;" + ";".join(p.chronic))
                d += r.randint(26, 35)
        # inpatient
        q = 0.03 if age < 18 else 0.04 if age < 45 else 0.08 if age < 60 else 0.16 if age < 75 else 0.26
        if p.role == "carehome":
            q = 0.35
        if p.away:
            q *= 0.4 * here
        k = 0
        while r.random() < (q if k == 0 else 0.25):
            k += 1
            d = self.day(lo, hi)
            los = min(40, 3 + int(r.lognormvariate(1.6, 0.6)))
            if p.death is not None and d + los > p.death:
                los = max(1, p.death - d)
                if d + los > p.death:
                    break
            if p.carehome and r.random() < 0.8:
                inst = self.home_hosp[p.carehome.iid]
            else:
                inst = p.hosp if r.random() < 0.6 else r.choice(self.by_kind["h3"] + self.by_kind["priv"][:2])
            contact = p.carehome.phone if p.carehome and r.random() < 0.7 else ""
            manual = r.random() < 0.04
            self.inpatient(p, inst, d, los, contact=contact or (p.phone or ""),
                           payee=(p.acct or "") if manual else None)
        # care home on-site clinic visits
        if p.carehome:
            ch = p.carehome
            d = r.randrange(0, 20)
            while d < end:
                self.emit("outpatient", p, ch, d, r.randint(540, 960), r.uniform(20, 120), doc=ch.docs[0],
                          items="巡诊;" + r.choice(list(DRUGS_CHRONIC)), contact=ch.phone if r.random() < 0.5 else "")
                d += r.randint(20, 45)

    # ---------------------------------------------------------------- legitimate look-alikes
    def lookalike_groups(self) -> None:
        r, n = self.rng, self.n
        L = self.lookalikes
        # home hospital for each care home (close public one or a private one)
        self.home_hosp: dict[str, Inst] = {}
        self.all_homes = self.legit_homes + self.colluding_pool
        for ins, _ in self.all_homes:
            hs = self.hosp_by_d.get(ins.district) or self.by_kind["h2"]
            self.home_hosp[ins.iid] = r.choice(hs)
        for _, res in self.legit_homes:
            L.append({"kind": "care_home", "persons": [p.pid for p in res]})
        for grp in self.dorms:
            L.append({"kind": "dormitory", "persons": [p.pid for p in grp]})
        for grp in self.rentals:
            L.append({"kind": "group_rental", "persons": [p.pid for p in grp]})
        for fam in self.households:
            phones = [p.phone for p in fam if p.phone]
            if len(fam) >= 2 and len(set(phones)) < len(phones):
                L.append({"kind": "family_shared_phone", "persons": [p.pid for p in fam]})
        # dialysis cohorts: 3 sessions a week, same shift
        pool = [p for p in self.persons if 35 <= p.age <= 80 and p.role in ("adult", "elder") and p.death is None]
        self.cohort_members: set[str] = set()
        ndial = max(10, n // 800)
        h3 = self.by_kind["h3"] + [h for h in self.by_kind["h2"] if h.district < 3]
        centres = r.sample(range(len(h3)), 2)
        pts = r.sample(pool, min(ndial, len(pool)))
        shifts: dict[tuple, list[P]] = {}
        for p in pts:
            key = (r.choice(centres), r.choice(((0, 2, 4), (1, 3, 5))), r.choice((450, 780)))
            shifts.setdefault(key, []).append(p)
        self.dialysis = shifts
        for grp in shifts.values():
            if len(grp) >= 2:
                L.append({"kind": "dialysis_cohort", "persons": [p.pid for p in grp]})
        # chemotherapy cohorts: 21-day cycles, Monday admissions, 2-3 day stays
        self.chemo: list[tuple[Inst, list[P]]] = []
        for _k in range(max(1, n // 10000)):
            grp = r.sample(pool, r.randint(6, 14))
            self.chemo.append((r.choice(self.by_kind["h3"]), grp))
            L.append({"kind": "chemotherapy_cohort", "persons": [p.pid for p in grp]})
        # employer check-ups
        emp = [p for p in self.persons if p.itype == "employee" and 22 <= p.age <= 59 and p.role != "dorm"]
        self.checkups = []
        for _k in range(max(1, n // 5000)):
            grp = r.sample(emp, min(len(emp), r.randint(30, 150)))
            self.checkups.append((r.choice(self.by_kind["h3"]), grp, self.mobile()))
            L.append({"kind": "employer_checkup", "persons": [p.pid for p in grp]})
        # registered agents (代办员): one routine claim per client
        self.agents = []
        rural_hh = [f for f in self.households if f[0].town]
        for _k in range(max(2, n // 4000)):
            town = r.choice(rural_hh)[0].town
            fams = [f for f in rural_hh if f[0].town == town]
            clients = [p for f in fams for p in f if p.age >= 55 and p.death is None][: r.randint(20, 80)]
            if len(clients) < 5:
                continue
            iid = f"DB{self.uniq(10000, 99999)}"
            ph = self.mobile()
            self.inter.append([iid, self.name(), self.fmt_phone(ph), self.address(clients[0].addr),
                               self.idnum("230221", date(1965 + r.randrange(20), 3, 9), True), "registered_agent"])
            self.agents.append((iid, ph, clients))
            L.append({"kind": "registered_agent", "persons": [p.pid for p in clients]})
        # an innocent person reported by a tip, with no fraud
        for _k in range(max(1, n // 10000)):
            self.inter.append([f"JB{self.uniq(10000, 99999)}", self.name(), self.fmt_phone(self.mobile()), "", "", "tip"])

    def lookalike_claims(self) -> None:
        r = self.rng
        for (hi, days, minute), grp in self.dialysis.items():
            h = (self.by_kind["h3"] + [x for x in self.by_kind["h2"] if x.district < 3])[hi]
            doc = h.docs[0]
            for p in grp:
                start = r.randrange(0, 60)
                end = NDAYS if p.death is None else p.death
                for d in range(start, end):
                    if (START + timedelta(d)).weekday() in days and r.random() < 0.96:
                        self.emit("outpatient", p, h, d, minute + r.randint(-10, 15), r.uniform(380, 460), doc=doc,
                                  items="血液透析;门诊慢特病", operator=h.ops[0])
        for h, grp in self.chemo:
            for p in grp:
                d = (7 - (START.weekday())) % 7 + 7 * r.randrange(0, 10)
                end = NDAYS if p.death is None else p.death
                for _ in range(r.randint(4, 8)):
                    if d + 3 >= end:
                        break
                    self.inpatient(p, h, d, r.choice((2, 3)), items="化学治疗;恶性肿瘤维持治疗", total=r.uniform(6000, 15000),
                                   minute=r.randint(480, 600))
                    d += 21 + r.choice((0, 0, 7))
        for h, grp, hr in self.checkups:
            d0 = self.day(60, 150)
            for p in grp:
                if p.death is not None and p.death <= d0 + 2:
                    continue
                self.emit("outpatient", p, h, d0 + r.choice((0, 0, 1, 2)), r.randint(450, 660), r.uniform(280, 520),
                          items="健康体检;血常规;肝功能;胸部CT", contact=hr if r.random() < 0.5 else (p.phone or ""),
                          doc=h.docs[1], ratio=0.3)
        for iid, ph, clients in self.agents:
            for p in clients:
                end = NDAYS if p.death is None else p.death
                d = self.day(0, end)
                inst = p.hosp
                if r.random() < 0.7:
                    self.emit("outpatient", p, inst, d, r.randint(480, 960), r.uniform(200, 1800),
                              items="门诊慢特病;手工报销", agent=iid, contact=ph if r.random() < 0.6 else (p.phone or ""),
                              payee=p.acct or "", doc=r.choice(inst.docs) if inst.docs else "")
                else:
                    los = r.randint(3, 10)
                    if d + los < end:
                        self.inpatient(p, inst, d, los, agent=iid, contact=ph if r.random() < 0.6 else (p.phone or ""),
                                       payee=p.acct or "")

    # ---------------------------------------------------------------- fraud rings
    def pick(self, pool: list[P], k: int) -> list[P]:
        cand = [p for p in pool if p.pid not in self.fraud and p.death is None]
        out = self.rng.sample(cand, min(k, len(cand)))
        for p in out:
            self.fraud.add(p.pid)
        return out

    def complicit(self, kind: str, k: int) -> list[Inst]:
        r = self.rng
        if kind == "hospital":
            pool = self.by_kind["priv"]
            hot = pool[:2]
        else:
            pool = self.by_kind["pharm"]
            hot = pool[:2]
        out: list[Inst] = []
        while len(out) < k:
            c = r.choice(hot) if r.random() < 0.5 else r.choice(pool)
            if c not in out:
                out.append(c)
        return out

    def ring(self, pattern: str, persons: list[P], extra: dict | None = None) -> None:
        self.ring_seq += 1
        rec = {"id": f"QQH-{self.ring_seq:03d}", "pattern": pattern, "persons": [p.pid for p in persons]}
        if extra:
            rec.update(extra)
        self.rings.append(rec)

    def broker(self, known_p: float) -> tuple[P | None, str | None, list[str], str]:
        """An organiser: maybe an insured person, maybe a known intermediary; phones; payee account."""
        r = self.rng
        bp = None
        if r.random() < 0.5:
            bp = self.pick([p for p in self.persons if 30 <= p.age <= 62 and p.role == "adult"], 1)[0]
        phones = [bp.phone if bp and bp.phone else self.mobile()] + [self.mobile() for _ in range(r.choice((0, 0, 1, 2, 3)))]
        acct = bp.acct if bp and bp.acct else self.account()
        iid = None
        if r.random() < known_p:
            iid = f"ZJ{self.uniq(10000, 99999)}"
            self.inter.append([iid, bp.name if bp else self.name(), self.fmt_phone(phones[0]) if r.random() < 0.8 else "",
                               bp.addr_w if bp and r.random() < 0.5 else "",
                               (bp.idn if bp else "") if r.random() < 0.6 else "", r.choice(["tip", "police_intel", "tip"])])
        return bp, iid, phones, acct

    def ring_black_intermediary(self) -> None:
        r = self.rng
        villages: dict[str, list[P]] = {}
        for f in self.households:
            if f[0].town:
                villages.setdefault(f[0].addr[1], []).extend(p for p in f if 50 <= p.age <= 88)
        keys = [k for k, v in villages.items() if len(v) >= 4]
        vs = r.sample(keys, min(len(keys), r.randint(1, 3)))
        size = r.randint(5, 40)
        pool = [p for v in vs for p in villages[v]]
        recruits = self.pick(pool, size)
        if len(recruits) < 3:
            recruits += self.pick([p for p in self.persons if p.age >= 55 and p.role == "elder"], 5)
        bp, iid, phones, acct = self.broker(0.5)
        hosps = self.complicit("hospital", r.randint(1, 3))
        p_contact, p_payee, p_agent = r.uniform(0.25, 1.0), r.uniform(0.0, 0.9), r.uniform(0.0, 0.6)
        span0 = r.randrange(0, 200)
        span = r.randint(60, 330)
        waves = r.randint(2, 6)
        for w in range(waves):
            d0 = span0 + int(span * w / waves) + r.randrange(0, 15)
            h = hosps[w % len(hosps)] if r.random() < 0.7 else r.choice(hosps)
            batch = [p for p in recruits if r.random() < r.uniform(0.4, 1.0)]
            spread = r.choice((0, 1, 3, 5, 7))
            morning = r.randint(450, 600)
            if bp and r.random() < 0.35:
                batch.append(bp)
            for p in batch:
                d = d0 + r.randint(0, spread)
                if d >= NDAYS - 3:
                    continue
                los = r.randint(4, 14)
                self.inpatient(p, h, d, min(los, NDAYS - d - 1), items=";".join(r.sample(FAKE_ITEMS, 4)),
                               total=r.uniform(2500, 15000), minute=morning + r.randint(0, 40),
                               contact=r.choice(phones) if r.random() < p_contact else (p.phone or ""),
                               payee=acct if r.random() < p_payee else (p.acct or h.acct),
                               agent=(iid if iid and r.random() < p_agent else
                                      (bp.pid if bp and r.random() < p_agent / 2 else "")))
        self.ring("black_intermediary", recruits + ([bp] if bp else []))

    def ring_professional_gang(self) -> None:
        r = self.rng
        members = self.pick([p for p in self.persons if 28 <= p.age <= 66 and p.role in ("adult", "worker")], r.randint(3, 12))
        org = members[0]
        shared_flat = r.random() < 0.3
        if shared_flat:
            for p in members[1: 1 + len(members) // 2]:
                p.addr, p.addr_w = org.addr, self.address(org.addr)
        p_contact, p_payee = r.uniform(0.0, 0.7), r.uniform(0.2, 0.9)
        if r.random() < 0.6:  # 结队住院 in rotation
            hosps = r.sample(self.by_kind["priv"] + self.by_kind["h2"] + self.by_kind["h1"], r.randint(2, 5))
            d = r.randrange(0, 120)
            for e in range(r.randint(4, 10)):
                h = hosps[e % len(hosps)]
                grp = [p for p in members if r.random() < r.uniform(0.6, 1.0)] or members[:2]
                los = r.randint(3, 10)
                for p in grp:
                    dd = d + r.randint(0, 3)
                    if dd + los >= NDAYS:
                        continue
                    self.inpatient(p, h, dd, los + r.randint(-1, 2), total=r.uniform(3000, 18000),
                                   contact=org.phone if r.random() < p_contact else (p.phone or ""),
                                   payee=org.acct if r.random() < p_payee and org.acct else (p.acct or ""))
                    if r.random() < 0.15 and dd + los + 12 < NDAYS:  # 分解住院
                        self.inpatient(p, r.choice(hosps), dd + los + r.randint(1, 3), r.randint(3, 7),
                                       contact=p.phone or "", payee=p.acct or "")
                d += r.randint(20, 60)
                if d >= NDAYS - 10:
                    break
            variant = "group_stays"
        else:  # 职业开药 + 回流药 resold on insurance
            pharms = r.sample(self.by_kind["pharm"], min(len(self.by_kind["pharm"]), r.randint(3, 6)))
            resale = self.complicit("pharmacy", 1)[0]
            gdevs = [self.device() for _ in range(r.randint(1, 2))]
            keys = r.sample(list(DRUGS_KEY), r.randint(1, 3))
            customers = [p for p in r.sample(self.persons, min(3000, len(self.persons)))
                         if p.pid not in self.fraud and p.death is None and p.role != "carehome"]
            codes_all: list[tuple[str, str, int]] = []
            for p in members:
                d = r.randrange(0, 60)
                use_dev = r.random() < 0.5
                while d < NDAYS:
                    kw = {"card": p.ev or p.card, "device": r.choice(gdevs)} if use_dev and p.ev else {}
                    dr = [r.choice(keys)]
                    codes = self.pharmacy_sale(p, r.choice(pharms), d, dr, DRUGS_KEY,
                                               contact=org.phone if r.random() < p_contact else "", **kw)
                    codes_all += [(c, dr[0], d) for c in codes]
                    d += r.randint(5, 18)
            for c, drug, bought in codes_all:
                if r.random() < r.uniform(0.3, 0.8):
                    # A box is resold after it was bought (this once drew any day of the year, so half the
                    # resales came before the sale they resold).
                    d = bought + r.randint(7, 90)
                    if d < NDAYS:
                        self.pharmacy_sale(r.choice(customers), resale, d, [drug], DRUGS_KEY, trace=c)
            variant = "drug_resale"
        self.ring("professional_gang", members, {"variant": variant})

    def ring_card_collector(self) -> None:
        r = self.rng
        bp, iid, phones, acct = self.broker(0.3)
        district_bias = r.random() < 0.5
        pool = [p for p in self.persons if p.age >= 45 and p.role in ("elder", "adult") and not p.away]
        if district_bias:
            reg = r.choice(pool).region
            pool = [p for p in pool if p.region == reg] or pool
        holders = self.pick(pool, r.randint(6, 35))
        devs = [self.device() for _ in range(r.randint(1, 3))]
        use_ev = r.random() < 0.6
        for p in holders:
            if use_ev:
                if not p.ev:
                    p.ev = "EC" + f"{r.getrandbits(64):016X}"
                p.ev_dev, p.ev_phone, p.ev_self = r.choice(devs), r.choice(phones), False
        pharms = self.complicit("pharmacy", r.randint(1, 3))
        op = {ph.iid: r.choice(ph.ops) for ph in pharms}
        d = r.randrange(0, 150)
        dend = min(NDAYS, d + r.randint(90, 330))
        while d < dend:
            ph = r.choice(pharms)
            batch = r.sample(holders, min(len(holders), r.randint(3, 12)))
            m = r.randint(9 * 60, 19 * 60)
            for p in batch:
                kw = {"card": p.ev, "device": p.ev_dev} if use_ev else {"card": p.card, "device": ""}
                drugs = r.sample(list(DRUGS_CHRONIC) + list(DRUGS_KEY)[:3], r.randint(1, 3))
                self.emit("pharmacy", p, ph, d, m, sum(DRUGS_CHRONIC.get(x, DRUGS_KEY.get(x, 50)) for x in drugs) * r.randint(1, 3),
                          items=";".join(drugs), operator=op[ph.iid], use_alt=False,
                          trace=";".join(self.traces(len(drugs))) if r.random() < 0.4 else "",
                          contact=r.choice(phones) if r.random() < 0.3 else "", **kw)
                m += r.randint(1, 6)
            d += r.randint(3, 14)
        if bp:
            for _ in range(r.randint(0, 4)):
                self.pharmacy_sale(bp, r.choice(pharms), self.day(), [r.choice(list(DRUGS_ACUTE))], DRUGS_ACUTE)
        self.ring("card_collector", holders + ([bp] if bp else []))

    def ring_prescriber_pharmacy(self) -> None:
        r = self.rng
        inst = r.choice(self.by_kind["clinic"] + self.by_kind["priv"] + self.by_kind["h1"])
        doc = r.choice(inst.docs)
        ph = self.complicit("pharmacy", 1)[0]
        others = r.sample(self.by_kind["pharm"], 3)
        pool = [p for p in self.persons if p.age >= 30 and p.role in ("elder", "adult", "carehome")]
        if r.random() < 0.5:
            pool = [p for p in pool if p.region == inst.region] or pool
        pts = self.pick(pool, r.randint(6, 30))
        visit_p = r.uniform(0.0, 0.25)
        loyal = r.uniform(0.75, 0.98)
        keys = r.sample(list(DRUGS_KEY) + list(DRUGS_CHRONIC)[:4], r.randint(2, 5))
        d0 = r.randrange(0, 150)
        for p in pts:
            d = d0 + r.randrange(0, 40)
            while d < NDAYS:
                if r.random() < visit_p:
                    self.emit("outpatient", p, inst, d, r.randint(480, 900), r.uniform(15, 40), doc=doc, items="门诊")
                self.pharmacy_sale(p, ph if r.random() < loyal else r.choice(others), d + r.choice((0, 0, 1)),
                                   r.sample(keys, r.randint(1, 2)), {**DRUGS_CHRONIC, **DRUGS_KEY}, doc=doc,
                                   device="")
                d += r.randint(7, 30)
        # the prescriber's genuine patients, scripts filled anywhere
        for p in r.sample([x for x in self.persons if x.pid not in self.fraud and x.death is None], r.randint(10, 40)):
            d = self.day()
            self.emit("outpatient", p, inst, d, r.randint(480, 900), r.uniform(30, 200), doc=doc, items=r.choice(DX))
            if r.random() < 0.5:
                self.pharmacy_sale(p, r.choice(p.pharms), d, [r.choice(list(DRUGS_ACUTE))], DRUGS_ACUTE, doc=doc)
        self.ring("prescriber_pharmacy_collusion", pts, {"prescriber": doc, "pharmacy": ph.iid})

    def ring_care_home(self) -> None:
        r = self.rng
        if not self.colluding_pool:
            return self.ring_black_intermediary()
        home, res = self.colluding_pool.pop(0)
        used = self.pick(res, r.randint(6, min(25, max(6, len(res) // 2))))
        hosps = self.complicit("hospital", r.randint(1, 2))
        p_payee = r.uniform(0.0, 0.7)
        d = r.randrange(0, 90)
        for _w in range(r.randint(3, 8)):
            batch = r.sample(used, min(len(used), r.randint(4, 12)))
            h = r.choice(hosps)
            for p in batch:
                dd = d + r.randint(0, 4)
                los = r.randint(7, 20)
                if p.death is not None and dd + los >= p.death or dd + los >= NDAYS:
                    continue
                self.inpatient(p, h, dd, los, items=";".join(r.sample(FAKE_ITEMS, 3)), total=r.uniform(4000, 16000),
                               contact=home.phone if r.random() < 0.8 else (p.phone or ""),
                               payee=home.acct if r.random() < p_payee else h.acct)
            d += r.randint(25, 70)
            if d >= NDAYS - 10:
                break
        self.ring("care_home_collusion", used, {"care_home": home.iid})

    def ring_identity_misuse(self) -> None:
        r = self.rng
        users = self.pick([p for p in self.persons if 25 <= p.age <= 60 and p.role in ("adult", "worker")], r.randint(1, 3))
        dead_pool = [p for p in self.persons if p.death is not None and p.pid not in self.fraud]
        dead = r.sample(dead_pool, min(len(dead_pool), r.randint(1, 5)))
        for p in dead:
            self.fraud.add(p.pid)
        away = self.pick([p for p in self.persons if p.away], r.randint(0, 4))
        lenders = self.pick([p for p in self.persons if p.role == "elder"], r.randint(0, 3))
        holders = dead + away + lenders
        if len(holders) < 2:
            holders += self.pick([p for p in self.persons if p.role == "elder"], 2)
        devs = [u.ev_dev or self.device() for u in users]
        insts = r.sample(self.by_kind["pharm"], 2) + [r.choice(self.by_kind["clinic"])]
        for p in holders:
            lo = max(0, (p.death or 0) + r.randint(3, 40)) if p.death is not None else 0
            for _ in range(r.randint(5, 25)):
                d = r.randrange(min(lo, NDAYS - 1), NDAYS)
                if p.away and r.random() < 0.6:
                    d = r.randrange(SPRING[1], NDAYS)
                    a = self.by_kind["away"][1]  # same day, far away: the real holder
                    self.pharmacy_sale(p, a, d, [r.choice(list(DRUGS_ACUTE))], DRUGS_ACUTE)
                u = r.choice(users)
                inst = r.choice(insts)
                # drawn in this order before the claim itself (the random stream must not change)
                device = r.choice(devs) if r.random() < 0.5 else ""
                contact = (u.phone or "") if r.random() < 0.5 else ""
                if inst.kind == "pharmacy":
                    self.pharmacy_sale(p, inst, d, r.sample(list(DRUGS_CHRONIC) + ["人血白蛋白"], r.randint(1, 2)),
                                       {**DRUGS_CHRONIC, **DRUGS_KEY},
                                       card=p.card, device=device, contact=contact, use_alt=False)
                else:
                    self.emit("outpatient", p, inst, d, r.randint(480, 1000), r.uniform(60, 400), items=r.choice(DX),
                              doc=inst.docs[0] if inst.docs else "",
                              card=p.card, device=device, contact=contact, use_alt=False)
            if p.death is not None and r.random() < 0.4:
                d = min(NDAYS - 10, max(0, p.death) + r.randint(10, 60))
                h = r.choice(self.by_kind["priv"])
                self.inpatient(p, h, d, r.randint(4, 9), contact=r.choice(users).phone or "", card=p.card, use_alt=False)
        self.ring("identity_misuse", users + holders)

    # ---------------------------------------------------------------- output
    def run(self) -> None:
        r = self.rng
        self.build_institutions()
        self.build_people()
        self.lookalike_groups()
        patterns = ["black_intermediary", "professional_gang", "card_collector", "prescriber_pharmacy_collusion",
                    "care_home_collusion", "identity_misuse"]
        extra = patterns * (self.n_rings // len(patterns) + 1)
        r.shuffle(extra)
        plan = patterns[:] + extra[: max(0, self.n_rings - len(patterns))]
        r.shuffle(plan)
        fn = {"black_intermediary": self.ring_black_intermediary, "professional_gang": self.ring_professional_gang,
              "card_collector": self.ring_card_collector, "prescriber_pharmacy_collusion": self.ring_prescriber_pharmacy,
              "care_home_collusion": self.ring_care_home, "identity_misuse": self.ring_identity_misuse}
        self.out.mkdir(parents=True, exist_ok=True)
        # every claim goes through emit, which writes to self.w while the file is open
        with open(self.out / "settlements.csv", "w", newline="", encoding="utf-8") as sf:
            self.w = csv.writer(sf)
            self.w.writerow(["settlement_id", "kind", "person_id", "card_id", "institution_id", "prescriber_id",
                             "start_time", "end_time", "total_amount", "fund_amount", "items", "contact_phone",
                             "agent_id", "payee_account", "device_id", "operator_id", "trace_codes"])
            # rings first (they mutate cards, addresses); the background then runs for everyone
            for pat in plan:
                fn[pat]()
            self.background()
            self.lookalike_claims()
        self.write_static()
        self.write_truth()

    def write_static(self) -> None:
        r = self.rng
        with open(self.out / "persons.csv", "w", newline="", encoding="utf-8-sig") as f:
            w = csv.writer(f)
            w.writerow(["person_id", "id_number", "name", "gender", "birth_date", "phone", "address", "region_code",
                        "insurance_type", "death_date"])
            for p in self.persons:
                idn = p.idn.lower() if p.idn.endswith("X") and r.random() < 0.4 else p.idn
                death = (START + timedelta(p.death)).isoformat() if p.death is not None else ""
                w.writerow([p.pid, idn, p.name, p.g if r.random() > 0.004 else "",
                            p.birth.isoformat() if r.random() > 0.01 else "", self.fmt_phone(p.phone) if r.random() > 0.02 else "",
                            p.addr_w if r.random() > 0.01 else "", p.region, p.itype, death])
                if p.alt:
                    w.writerow([p.alt, p.idn, p.name, p.g, p.birth.isoformat(), self.fmt_phone(p.phone),
                                self.address(p.addr), r.choice([p.region, "230200"]),
                                "resident" if p.itype == "employee" else "employee", ""])
        with open(self.out / "cards.csv", "w", newline="", encoding="utf-8") as f:
            w = csv.writer(f)
            w.writerow(["card_id", "person_id", "kind", "issued_date", "bound_phone", "device_id"])
            for p in self.persons:
                iss = (date(2016, 1, 1) + timedelta(r.randrange(2900))).isoformat()
                w.writerow([p.card, p.pid, "card", iss if r.random() > 0.05 else "", "", ""])
                if p.ev:
                    w.writerow([p.ev, p.pid, "evoucher", (date(2020, 6, 1) + timedelta(r.randrange(1400))).isoformat(),
                                self.fmt_phone(p.ev_phone), p.ev_dev])
                if p.alt:
                    w.writerow([p.alt_card, p.alt, "card", iss, "", ""])
        with open(self.out / "institutions.csv", "w", newline="", encoding="utf-8") as f:
            w = csv.writer(f)
            w.writerow(["institution_id", "name", "kind", "level", "ownership", "address", "phone", "region_code"])
            for i in self.insts:
                w.writerow([i.iid, i.name, i.kind, i.level, i.own,
                            self.address(i.addr) if i.district >= 0 else i.addr[0] + i.addr[1].format(*i.addr[2]),
                            self.fmt_phone(i.phone), i.region])
        with open(self.out / "prescribers.csv", "w", newline="", encoding="utf-8") as f:
            w = csv.writer(f)
            w.writerow(["prescriber_id", "name", "institution_id", "phone"])
            for i in self.insts:
                for d in i.docs:
                    w.writerow([d, self.name(), i.iid, self.fmt_phone(self.mobile()) if r.random() < 0.7 else ""])
        with open(self.out / "intermediaries.csv", "w", newline="", encoding="utf-8") as f:
            w = csv.writer(f)
            w.writerow(["intermediary_id", "name", "phone", "address", "id_number", "source"])
            w.writerows(self.inter)

    def write_truth(self) -> None:
        mutual = [{"kind": "family_mutual_aid", "persons": [p.pid for p in fam]} for fam in self.mutual_families]
        truth = {"city": "齐齐哈尔市 (230200)", "period": [DAYS[0], DAYS[NDAYS - 1]],
                 "rings": self.rings, "lookalikes": self.lookalikes + mutual, "duplicate_persons": self.dups}
        path = self.out.parent / f"{self.out.name}-truth.json"
        path.write_text(json.dumps(truth, ensure_ascii=False, indent=1), encoding="utf-8")


def generate_third_city(out: Path, persons: int, seed: int) -> None:
    """Write the contract input folder ``out`` and ``out.parent / f"{out.name}-truth.json"``."""
    City(Path(out), int(persons), int(seed)).run()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out", type=Path)
    ap.add_argument("--persons", type=int, default=20000)
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args()
    t = time.perf_counter()
    generate_third_city(a.out, a.persons, a.seed)
    print(f"wrote {a.out} in {time.perf_counter() - t:.1f}s")


if __name__ == "__main__":
    main()
