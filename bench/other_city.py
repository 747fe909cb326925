#!/usr/bin/env python3
"""An independent "other city" generator for graphsvc quality checks.

Written without looking at graphsvc's own generator or detectors: it builds a city in
株洲 (Hunan) from households, institutions and a year of routine claims, adds legitimate
structures that look like fraud (look-alikes), plants fraud rings with parameters drawn per
ring from wide ranges, and exports the whole thing as the data-contract folder with messy
cells (address variants, phone and account formats, lower-case x, duplicate person records).

    .venv/bin/python bench/other_city.py OUT --persons 20000 --seed 7

writes the folder OUT/ (persons.csv, cards.csv, institutions.csv, prescribers.csv,
intermediaries.csv, settlements.csv) and OUT-truth.json beside it. ``--persons`` counts
distinct people; about 0.5 % of them get a second person record (listed in the truth's
``duplicate_persons``), so persons.csv has slightly more rows. The output depends only on
(persons, seed).
"""

from __future__ import annotations

import argparse
import bisect
import csv
import json
import math
import random
import re
import sys
import time
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

__all__ = ["generate_other_city"]

DAY0 = date(2024, 1, 1)
NDAYS = 366
T0 = datetime(2024, 1, 1)
MID = date(2024, 7, 1)
MONTH_W = [1.38, 1.3, 1.05, 0.95, 0.85, 0.8, 0.86, 0.85, 0.9, 0.95, 1.1, 1.32]

PROV, CITY = "湖南省", "株洲市"
COUNTIES = [  # code, name, share of households in town flats
    ("430202", "荷塘区", 0.85), ("430203", "芦淞区", 0.85), ("430204", "石峰区", 0.8),
    ("430211", "天元区", 0.85), ("430212", "渌口区", 0.35), ("430223", "攸县", 0.3),
    ("430224", "茶陵县", 0.25), ("430225", "炎陵县", 0.25), ("430281", "醴陵市", 0.35),
]
MIGRANT_ORIGINS = ["360321", "360981", "421127", "511321", "520221", "411421", "450326",
                   "431021", "430524", "441481", "500237", "360502"]
EMPLOYEE_POOL = "430200"

SURNAMES = ("刘李王陈张罗彭谭邓周黄易唐杨胡曾肖朱吴何龙贺谢段钟文蒋丁廖汤左袁颜梁尹陶"
            "许郭林成赵胡邹夏孙蔡魏姚卢石刘李王陈张罗彭谭邓周黄易唐杨")
SURNAMES2 = ["欧阳", "司马", "上官"]
GIVEN = {
    ("M", 0): "建国 国强 德明 正华 志刚 国华 建华 桂生 春生 冬生 福生 学文 光明 长根 海清 爱国 建军 卫东 "
              "德胜 满堂 有才 金生 水生 细毛 炳南 秋生 双喜 运来 益民 仁和 新华 菊生 松林 定国".split(),
    ("F", 0): "桂英 秀英 淑珍 玉兰 桂兰 秀兰 冬梅 春梅 菊香 翠花 凤英 满秀 金莲 淑华 玉梅 月娥 爱莲 "
              "桂香 荷花 腊梅 秋菊 细妹 春莲 雪梅 银娥 佩兰 素珍 巧云 四妹 满姑".split(),
    ("M", 1): "伟 强 磊 军 勇 杰 涛 斌 超 明 波 辉 刚 平 俊 华 峰 建平 小兵 志勇 海波 建波 文武 "
              "利民 卫国 红军 湘军 立新 晓东 振华 志明 跃进 建新 湘平 朝晖".split(),
    ("F", 1): "芳 丽 敏 静 艳 娟 霞 燕 玲 红 英 琴 慧 丽华 小红 海燕 春燕 丽娟 湘莲 美玲 晓红 "
              "红梅 艳群 小芳 志红 彩霞 亚玲 丽萍 建英 利平".split(),
    ("M", 2): "浩然 宇轩 子豪 俊杰 梓豪 博文 一鸣 子轩 皓轩 宇航 思远 嘉豪 晨阳 天佑 睿 轩 "
              "奕辰 梓睿 浩宇 明轩 子墨 铭泽 锦程 家乐 泽宇".split(),
    ("F", 2): "梓涵 欣怡 子涵 雨桐 可馨 诗涵 梓萱 思琪 语嫣 佳怡 一诺 若曦 欣然 雨欣 紫萱 "
              "婉清 梦瑶 静怡 心怡 雅琪 钰涵 晨曦 嘉欣 悦".split(),
}
TOWN_ROOTS = ("白兔潭 浦口 王仙 东富 泗汾 船湾 石亭 均楚 官庄 明月 嘉树 枫林 孙家湾 沈潭 南阳桥 李畋 "
              "茶山 板杉 浣溪 龙凤 皇图岭 网岭 鸾山 新市 桃水 丫江桥 鸭塘铺 坪阳庙 酒埠江 菜花坪 "
              "黄丰桥 宁家坪 柏市 莲塘坳 严塘 高陇 秩堂 腰陂 平水 虎踞 下东 水口 十都 霞阳 沔渡 "
              "鹿原 船形 中村 策源 垄上 淦田 南洲 龙门 朱亭 龙船 古岳峰 仙井 雷打石 马家河 群丰 "
              "白关 明照 仙庾").split()
STREET_ROOTS = "建设 月塘 桂花 荷塘 宋家桥 茨菇塘 金山 井墩 响石岭 清水塘 铜塘湾 栗雨 嵩山 马家河 阳三石 来龙门 西山 仙岳山".split()
VIL_A = "大 小 新 石 枫 桃 柳 竹 荷 杨 黄 高 长 东 西 南 北 青 金 马 龙 凤 上 下 双 三 白 樟 松 梅".split()
VIL_B = "塘 冲 坪 湾 桥 田 山 岭 溪 坳 铺 洲 源 井 坡 垅 江 林 口 园".split()
XQ_A = "建设 栗雨 湘水湾 钻石 滨江 神农 华晨 金色 泰山 荷塘 东方 碧桂园 恒大 长房 锦绣 书香 桂花 凤凰 盛世 江山 学府 新华 红旗 时代 瓷城 天台".split()
XQ_B = ["", "花园", "家园", "名城", "新村", "公馆", "雅苑", "佳园"]
ROADS = "人民路 建设路 解放路 新华路 长江路 泰山路 红旗路 车站路 炎帝大道 瓷城大道 沿江大道 湘江路 珠江路".split()
PRIV_HOSP = "仁和 康源 博爱 同仁 德康 华康 仁济 民生 协和 福寿 安康 济民 惠民 华美 长安".split()
CHAINS = "老百姓大药房 益丰大药房 养天和大药房 千金大药房 恒康大药房 九芝堂大药房 仁心堂药店 惠民大药房 湘雅大药房".split()

# name, unit price, group, trace-code product prefix
DRUGS = [
    ("阿莫西林胶囊", 12.5, "common"), ("布洛芬缓释胶囊", 18.0, "common"), ("复方甘草片", 6.5, "common"),
    ("连花清瘟胶囊", 26.0, "common"), ("蒙脱石散", 15.0, "common"), ("感冒灵颗粒", 16.5, "common"),
    ("板蓝根颗粒", 12.0, "common"), ("头孢克肟分散片", 32.0, "common"), ("藿香正气水", 9.8, "common"),
    ("维生素C片", 5.0, "common"), ("氨溴索口服液", 22.0, "common"), ("小儿氨酚黄那敏颗粒", 14.0, "child"),
    ("奥美拉唑肠溶胶囊", 19.0, "common"), ("双氯芬酸钠缓释片", 17.0, "common"), ("红霉素软膏", 6.0, "common"),
    ("硝苯地平控释片", 32.0, "htn"), ("苯磺酸氨氯地平片", 28.0, "htn"), ("缬沙坦胶囊", 35.0, "htn"),
    ("阿司匹林肠溶片", 16.0, "htn"), ("阿托伐他汀钙片", 42.0, "htn"), ("瑞舒伐他汀钙片", 38.0, "htn"),
    ("氯吡格雷片", 58.0, "htn"), ("替格瑞洛片", 96.0, "htn"),
    ("二甲双胍缓释片", 24.0, "dm"), ("格列美脲片", 30.0, "dm"), ("达格列净片", 88.0, "dm"),
    ("甘精胰岛素注射液", 178.0, "dm_hv"), ("门冬胰岛素注射液", 75.0, "dm_hv"),
    ("沙美特罗替卡松吸入粉雾剂", 145.0, "copd"), ("噻托溴铵粉吸入剂", 98.0, "copd"),
    ("恩替卡韦分散片", 62.0, "liver"), ("甲磺酸奥希替尼片", 4850.0, "cancer"), ("吉非替尼片", 1480.0, "cancer"),
    ("人血白蛋白", 398.0, "alb"), ("利伐沙班片", 112.0, "htn"), ("复方丹参滴丸", 36.0, "htn"),
]
DRUG_GROUPS: dict[str, list[int]] = {}
for _i, _d in enumerate(DRUGS):
    DRUG_GROUPS.setdefault(_d[2], []).append(_i)
HIGH_VALUE = [i for i, d in enumerate(DRUGS) if d[0] in ("人血白蛋白", "甲磺酸奥希替尼片", "甘精胰岛素注射液")]
MIDHIGH = [i for i, d in enumerate(DRUGS) if d[1] >= 60]
TESTS = "血常规 尿常规 肝功能 肾功能 血糖测定 心电图 胸部DR 腹部B超 血脂四项 C反应蛋白 甲状腺功能 幽门螺杆菌检测".split()
WARD = "床位费 护理费 一级护理 二级护理 静脉输液 氧气吸入 CT平扫 心电监护 血常规 生化全套 中药饮片 针灸 推拿".split()

ID_W = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
CN_DIG = "零一二三四五六七八九"
FW = str.maketrans("0123456789", "０１２３４５６７８９")


def id_check(body17: str) -> str:
    return "10X98765432"[sum(int(c) * w for c, w in zip(body17, ID_W)) % 11]


def cn_num(n: int) -> str:
    if n < 10:
        return CN_DIG[n]
    if n < 20:
        return "十" + (CN_DIG[n % 10] if n % 10 else "")
    return CN_DIG[n // 10] + "十" + (CN_DIG[n % 10] if n % 10 else "")


def poisson(rng: random.Random, lam: float) -> int:
    if lam <= 0:
        return 0
    if lam > 40:
        return max(0, int(round(rng.gauss(lam, math.sqrt(lam)))))
    lim, k, p = math.exp(-lam), 0, 1.0
    while True:
        p *= rng.random()
        if p <= lim:
            return k
        k += 1


def age_at(birth: date, d: date = MID) -> int:
    return d.year - birth.year - ((d.month, d.day) < (birth.month, birth.day))


class OtherCity:
    def __init__(self, n: int, seed: int):
        self.n, self.seed = n, seed
        self.rng = rng = random.Random(f"other-city/{seed}")
        self.mess = rng.uniform(0.2, 0.5)
        self.time_sep = rng.choice(["T", " ", "mix"])
        self.rate_mult = rng.uniform(0.85, 1.2)
        self.trace_share = rng.uniform(0.55, 0.95)
        self.persons: list[dict] = []
        self.households: list[dict] = []
        self.cards: list[list] = []
        self.insts: list[dict] = []
        self.prescribers: list[list] = []
        self.inters: list[list] = []
        self.sett: list[list] = []
        self.rings: list[dict] = []
        self.looks: list[dict] = []
        self.dups: list[list[str]] = []
        self._ids: set[str] = set()
        self._idn: set[str] = set()
        self._trace: set[str] = set()
        self.reserved: set[int] = set()
        # day weights for seasonal sampling
        self.cum: dict[str, list[float]] = {}
        for kind, wk in (("outpatient", [1, 1, 1, 1, 0.95, 0.75, 0.55]),
                         ("pharmacy", [1, 0.95, 0.95, 0.95, 1, 1.1, 1.05]),
                         ("inpatient", [1.25, 1.05, 1, 1, 0.95, 0.7, 0.6])):
            acc, c = 0.0, []
            for i in range(NDAYS):
                d = DAY0 + timedelta(i)
                acc += MONTH_W[d.month - 1] * wk[d.weekday()]
                c.append(acc)
            self.cum[kind] = c

    # ---------------------------------------------------------------- ids
    def uid(self, prefix: str, digits: int) -> str:
        while True:
            s = prefix + "".join(self.rng.choice("0123456789") for _ in range(digits))
            if s not in self._ids:
                self._ids.add(s)
                return s

    def sid(self) -> str:
        h = f"{self.rng.getrandbits(128):032x}"
        return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{h[16:20]}-{h[20:]}"

    def hexid(self, prefix: str, n: int) -> str:
        while True:
            s = prefix + f"{self.rng.getrandbits(4 * n):0{n}x}"
            if s not in self._ids:
                self._ids.add(s)
                return s

    def phone(self) -> str:
        return self.uid(self.rng.choice(["13", "15", "18", "17", "19", "13", "15", "18"])
                        + self.rng.choice("0123456789"), 8)

    def account(self) -> str:
        pre = self.rng.choice(["6217", "6228", "6222", "6230", "6215"])
        return self.uid(pre, self.rng.choice([12, 15, 15]))

    def id_number(self, region: str, birth: date, gender: str) -> str:
        for _ in range(1000):
            seq = self.rng.randrange(0, 500) * 2 + (1 if gender == "M" else 0)
            body = f"{region}{birth:%Y%m%d}{seq:03d}"
            if body not in self._idn:
                self._idn.add(body)
                return body + id_check(body)
        raise RuntimeError("id space")

    def trace_code(self, drug: int) -> str:
        pre = f"8{(drug * 7919 + 104729) % 1000000:06d}"
        while True:
            s = pre + f"{self.rng.randrange(10 ** 13):013d}"
            if s not in self._trace:
                self._trace.add(s)
                return s

    def day(self, kind: str, a: int, b: int) -> int:
        c = self.cum[kind]
        lo = c[a - 1] if a > 0 else 0.0
        u = lo + self.rng.random() * (c[b] - lo)
        return min(b, max(a, bisect.bisect_left(c, u)))

    def at(self, day: int, h0: float, h1: float) -> datetime:
        return T0 + timedelta(days=day, minutes=int(self.rng.uniform(h0, h1) * 60))

    # ---------------------------------------------------------------- geography
    def build_geography(self) -> None:
        rng = self.rng
        urban = [c for c in COUNTIES if c[2] > 0.5]
        rural = [c for c in COUNTIES if c[2] <= 0.5]
        k = rng.randint(3, 6)
        chosen = rng.sample(urban, rng.randint(1, min(2, k - 2)))
        chosen += rng.sample(rural, min(len(rural), k - len(chosen)))
        rng.shuffle(chosen)
        scale = max(0.4, self.n / 25000)
        self.counties: list[dict[str, Any]] = []
        towns = TOWN_ROOTS[:]
        rng.shuffle(towns)
        streets = STREET_ROOTS[:]
        rng.shuffle(streets)
        for code, name, urb in chosen:
            cty: dict[str, Any] = {"code": code, "name": name, "urban": urb, "w": rng.uniform(0.6, 1.4), "areas": []}
            n_towns = max(1, round(rng.randint(3, 6) * (1 - urb) * 1.6 * min(1.5, scale ** 0.5)))
            n_streets = max(1, round(rng.randint(1, 3) * (0.5 + urb) * min(1.5, scale ** 0.5)))
            for _ in range(n_towns):
                t = (towns.pop() if towns else f"{rng.choice(TOWN_ROOTS)}{len(self.counties)}{_}") + "镇"
                vils: list[str] = []
                for _ in range(rng.randint(4, 9)):
                    v = rng.choice(VIL_A) + rng.choice(VIL_B) + "村"
                    if v not in vils:
                        vils.append(v)
                cty["areas"].append({"name": t, "urban": False, "villages": vils, "county": len(self.counties)})
            for _ in range(n_streets):
                # Big cities run out of street names: a numbered one then (东风二街道-like), still unique.
                s = (streets.pop() if streets else f"{rng.choice(STREET_ROOTS)}{len(self.counties)}{_}") + "街道"
                xqs = []
                for _ in range(rng.randint(5, 12)):
                    x = rng.choice(XQ_A) + rng.choice(XQ_B)
                    if x not in xqs:
                        xqs.append(x)
                cty["areas"].append({"name": s, "urban": True, "xq": xqs, "county": len(self.counties)})
            self.counties.append(cty)

    def addr_rural(self, ci: int, ai: int, vil: str, zu: int, hao: int) -> tuple:
        a = self.counties[ci]["areas"][ai]
        return (ci, a["name"], vil, f"{zu}组", f"{hao}号")

    def addr_flat(self, ci: int, ai: int, xq: str, dong: int, unit: int, room: int) -> tuple:
        return (ci, "", xq + "小区", f"{dong}栋", f"{unit}单元", f"{room}室")

    def addr_street(self, ci: int, ai: int, *rest: str) -> tuple:
        a = self.counties[ci]["areas"][ai]
        return (ci, a["name"] if not a["urban"] else "", *rest)

    # ---------------------------------------------------------------- institutions
    def add_inst(self, name, kind, level, own, addr, ci, ai=None) -> int:
        code = self.counties[ci]["code"]
        prefix = {"pharmacy": "P", "nursing_home": "Y"}.get(kind, "H")
        iid = self.uid(prefix + code, 5)
        inst = {"id": iid, "name": name, "kind": kind, "level": level, "own": own, "addr": addr,
                "phone": self.landline(), "region": code, "county": ci, "area": ai, "docs": [], "ops": []}
        n_ops = {"pharmacy": self.rng.randint(1, 4), "clinic": 1, "nursing_home": 1}.get(kind, self.rng.randint(2, 8))
        inst["ops"] = [f"{iid}-{j + 1:02d}" for j in range(n_ops)]
        self.insts.append(inst)
        idx = len(self.insts) - 1
        if kind in ("hospital", "clinic", "nursing_home"):
            nd = {"clinic": self.rng.randint(1, 3), "nursing_home": self.rng.randint(1, 2)}.get(
                kind, {1: self.rng.randint(4, 10), 2: self.rng.randint(10, 30), 3: self.rng.randint(25, 60)}.get(level, 8))
            for _ in range(nd):
                g = self.rng.choice("MF")
                did = self.uid("D" + code, 5)
                inst["docs"].append(did)
                self.prescribers.append([did, self.name(g, self.rng.randint(1950, 1995)), iid,
                                         self.phone() if self.rng.random() < 0.7 else ""])
        return idx

    def landline(self) -> str:
        return self.uid("0731" + self.rng.choice(["2", "2", "8", "2"]), 7)

    def build_institutions(self) -> None:
        rng = self.rng
        self.private_hosps: list[int] = []
        self.pharmacies: list[int] = []
        for ci, cty in enumerate(self.counties):
            cn = cty["name"]
            road = rng.choice(ROADS)
            ai0 = next(i for i, a in enumerate(cty["areas"]) if a["urban"])
            lvl = 3 if cty["code"] in ("430281", "430223") or cty["urban"] > 0.5 else 2
            cty["peoples"] = self.add_inst(f"{cn}人民医院", "hospital", lvl, "public",
                                           self.addr_street(ci, ai0, road, f"{rng.randint(1, 300)}号"), ci, ai0)
            cty["tcm"] = self.add_inst(f"{cn}中医医院", "hospital", 2, "public",
                                       self.addr_street(ci, ai0, rng.choice(ROADS), f"{rng.randint(1, 300)}号"), ci, ai0)
            cty["private"] = []
            names = PRIV_HOSP[:]
            rng.shuffle(names)
            for _ in range(rng.randint(1, 3)):
                ai = rng.randrange(len(cty["areas"]))
                nm = f"{CITY if rng.random() < 0.4 else cn.rstrip('区县市')}{names.pop()}医院"
                h = self.add_inst(nm, "hospital", rng.choice([1, 1, 2]), "private",
                                  self.addr_street(ci, ai, rng.choice(ROADS), f"{rng.randint(1, 400)}号"), ci, ai)
                cty["private"].append(h)
                self.private_hosps.append(h)
            for ai, a in enumerate(cty["areas"]):
                if a["urban"]:
                    a["hc"] = self.add_inst(f"{cn}{a['name']}社区卫生服务中心", "hospital", 1, "public",
                                            self.addr_street(ci, ai, a["name"], rng.choice(ROADS), f"{rng.randint(1, 200)}号"), ci, ai)
                    a["clinics"] = [self.add_inst(f"{a['name']}{rng.choice(['仁爱', '康乐', '济世', '平安', '同心', '杏林'])}诊所",
                                                  "clinic", None, "private",
                                                  self.addr_flat(ci, ai, rng.choice(a["xq"]), rng.randint(1, 20), 1, 101 + j), ci, ai)
                                    for j in range(rng.randint(1, 3))]
                    n_ph = rng.randint(3, 7)
                else:
                    a["hc"] = self.add_inst(f"{cn}{a['name']}卫生院", "hospital", 1, "public",
                                            self.addr_street(ci, ai, a["villages"][0], f"{rng.randint(1, 60)}号"), ci, ai)
                    a["clinics"] = [self.add_inst(f"{cn}{a['name']}{v}卫生室", "clinic", None, "public",
                                                  self.addr_rural(ci, ai, v, rng.randint(1, 9), rng.randint(1, 40)), ci, ai)
                                    for v in rng.sample(a["villages"], min(len(a["villages"]), rng.randint(1, 3)))]
                    n_ph = rng.randint(1, 3)
                a["pharm"] = []
                for _ in range(n_ph):
                    nm = f"{rng.choice(CHAINS)}({a['name'].replace('街道', '').replace('镇', '')}{rng.choice(['', '二', '三', '中心', '新'])}店)"
                    p = self.add_inst(nm, "pharmacy", None, "private",
                                      self.addr_street(ci, ai, rng.choice(ROADS), f"{rng.randint(1, 500)}号"), ci, ai)
                    a["pharm"].append(p)
                    self.pharmacies.append(p)
        c0 = next(i for i, c in enumerate(self.counties) if c["urban"] > 0.5)
        ai0 = next(i for i, a in enumerate(self.counties[c0]["areas"]) if a["urban"])
        self.city_hosps = [self.add_inst("株洲市中心医院", "hospital", 3, "public",
                                         self.addr_street(c0, ai0, "长江南路", "116号"), c0, ai0),
                           self.add_inst("株洲市三三一医院", "hospital", 3, "public",
                                         self.addr_street(c0, ai0, "车站路", "38号"), c0, ai0)]
        self.all_hosps = [i for i, s in enumerate(self.insts) if s["kind"] == "hospital"]
        k = min(len(self.private_hosps), rng.randint(1, 3))
        self.hubs = rng.sample(self.private_hosps, k)

    # ---------------------------------------------------------------- people
    def name(self, g: str, year: int, surname: str | None = None) -> str:
        gen = 0 if year < 1966 else (1 if year < 1996 else 2)
        s = surname or self.surname()
        return s + self.rng.choice(GIVEN[(g, gen)])

    def surname(self) -> str:
        return self.rng.choice(SURNAMES2) if self.rng.random() < 0.006 else self.rng.choice(SURNAMES)

    def birth(self, age: int) -> date:
        return MID - timedelta(days=age * 365 + self.rng.randrange(365))

    def new_person(self, hh: int, g: str, age: int, surname: str | None, origin: str | None = None,
                   ins: str | None = None, role: str = "") -> int:
        rng = self.rng
        h = self.households[hh]
        b = self.birth(max(0, age))
        ci = h["county"]
        region_birth = origin or self.counties[ci]["code"]
        if origin is None and rng.random() < 0.12:
            region_birth = self.counties[rng.randrange(len(self.counties))]["code"]
        a = age_at(b)
        if ins is None:
            if a < 18 or a >= 80:
                ins = "resident"
            else:
                employed = 0.6 if h["urban"] else 0.12
                if a >= 60:
                    employed *= 0.7
                ins = "employee" if rng.random() < employed else "resident"
        pr = 0.95 if 18 <= a < 65 else (0.6 if a < 75 and a >= 65 else (0.3 if a >= 75 else (0.5 if a >= 14 else 0)))
        p = {
            "pid": self.uid("CB", 9), "idn": self.id_number(region_birth, b, g), "name": self.name(g, b.year, surname),
            "g": g, "birth": b, "age": a, "own_phone": self.phone() if rng.random() < pr else None,
            "hh": hh, "county": ci, "area": h["area"], "addr": h["addr"], "ins": ins,
            "region": EMPLOYEE_POOL if ins == "employee" else self.counties[ci]["code"],
            "death": None, "role": role, "chronic": self.chronic(a), "card": None, "ev": None,
            "ev_dev": None, "device": None, "acct": None, "phone_cell": None,
        }
        self.persons.append(p)
        idx = len(self.persons) - 1
        h["members"].append(idx)
        return idx

    def chronic(self, a: int) -> tuple:
        rng = self.rng
        out = []
        ph = 0.02 if a < 40 else (0.15 if a < 55 else (0.35 if a < 70 else 0.5))
        if rng.random() < ph:
            out.append("htn")
        if rng.random() < ph * 0.45:
            out.append("dm" if rng.random() < 0.7 else "dm_hv")
        if a >= 55 and rng.random() < 0.06:
            out.append("copd")
        if a >= 30 and rng.random() < 0.015:
            out.append("liver")
        if a >= 45 and rng.random() < 0.006:
            out.append("cancer")
        return tuple(out)

    def new_household(self, ci: int, ai: int, addr: tuple, kind: str) -> int:
        a = self.counties[ci]["areas"][ai]
        self.households.append({"county": ci, "area": ai, "addr": addr, "kind": kind, "urban": a["urban"],
                                "members": [], "village": addr[2] if kind.startswith("rural") else None})
        return len(self.households) - 1

    def rand_home(self, urban: bool | None = None) -> tuple[int, int, tuple, bool]:
        rng = self.rng
        ws = [c["w"] for c in self.counties]
        ci = rng.choices(range(len(self.counties)), ws)[0]
        cty = self.counties[ci]
        if urban is None:
            urban = rng.random() < cty["urban"]
        cands = [i for i, a in enumerate(cty["areas"]) if a["urban"] == urban]
        if not cands:
            cands = list(range(len(cty["areas"])))
        ai = rng.choice(cands)
        a = cty["areas"][ai]
        if a["urban"]:
            addr = self.addr_flat(ci, ai, rng.choice(a["xq"]), rng.randint(1, 32), rng.randint(1, 4),
                                  rng.randint(1, 28) * 100 + rng.randint(1, 4))
        else:
            addr = self.addr_rural(ci, ai, rng.choice(a["villages"]), rng.randint(1, 16), rng.randint(1, 99))
        return ci, ai, addr, a["urban"]

    def family(self, budget: int) -> None:
        rng = self.rng
        ci, ai, addr, urban = self.rand_home()
        r = rng.random()
        if urban:
            kind = "urban_family" if r < 0.55 else ("urban_elderly" if r < 0.8 else "urban_single")
        else:
            kind = "rural3" if r < 0.5 else ("rural_elderly" if r < 0.75 else "rural_couple")
        hh = self.new_household(ci, ai, addr, ("rural_" if not urban else "urban_") + kind)
        S = self.surname()
        add = lambda g, age, sur, role: self.new_person(hh, g, age, sur, role=role)  # noqa: E731
        members = []
        if kind in ("urban_single",):
            members.append(add(rng.choice("MF"), rng.randint(20, 70), S, "single"))
        elif kind in ("urban_elderly", "rural_elderly"):
            ag = rng.randint(60, 92)
            members.append(add("M", ag, S, "grandfather"))
            if rng.random() < 0.7 and budget > 1:
                members.append(add("F", ag + rng.randint(-6, 3), None, "grandmother"))
            if kind == "rural_elderly" and rng.random() < 0.35:
                for _ in range(rng.randint(1, 2)):
                    members.append(add(rng.choice("MF"), rng.randint(3, 14), S, "grandchild"))
        else:
            fa = rng.randint(25, 55)
            members.append(add("M", fa, S, "father"))
            members.append(add("F", max(20, fa + rng.randint(-5, 2)), None, "mother"))
            nk = rng.choices([0, 1, 2, 3], [1, 4, 4, 1] if not urban else [1, 6, 3, 0.2])[0]
            for _ in range(nk):
                members.append(add(rng.choice("MF"), max(0, fa - rng.randint(21, 36)), S, "child"))
            if kind == "rural3" or (kind == "urban_family" and rng.random() < 0.3):
                ga = fa + rng.randint(22, 34)
                if ga <= 98:
                    if rng.random() < 0.75:
                        members.append(add("M", ga, S, "grandfather"))
                    if rng.random() < 0.85:
                        members.append(add("F", ga + rng.randint(-5, 2), None, "grandmother"))
                if rng.random() < 0.1 and fa < 45:
                    members.append(add(rng.choice("MF"), rng.randint(20, 40), S, "sibling"))
        self.finish_household(hh)

    def finish_household(self, hh: int, shared: str | None = None) -> None:
        rng = self.rng
        h = self.households[hh]
        ms = h["members"]
        phones = [self.persons[i]["own_phone"] for i in ms if self.persons[i]["own_phone"]]
        # main contact: a working-age member's phone, else anyone's
        main = None
        for i in sorted(ms, key=lambda i: abs(self.persons[i]["age"] - 40)):
            if self.persons[i]["own_phone"]:
                main = self.persons[i]["own_phone"]
                break
        h["main_phone"] = shared or main
        share_all = shared is None and len(ms) >= 3 and main and rng.random() < 0.12
        for i in ms:
            p = self.persons[i]
            if shared:
                p["phone_cell"] = shared if (not p["own_phone"] or rng.random() < 0.6) else p["own_phone"]
            elif share_all:
                p["phone_cell"] = main
            elif p["own_phone"]:
                p["phone_cell"] = p["own_phone"]
            elif main and rng.random() < 0.85:
                p["phone_cell"] = main
        if share_all or (len(ms) >= 3 and sum(1 for i in ms if self.persons[i]["phone_cell"] == main) >= 3 and not shared):
            h["shared_phone"] = True
        del phones

    def special_group(self, ci: int, ai: int, addr: tuple, n: int, ages: tuple, kind: str,
                      migrant: float, shared_phone: str | None, ins: str | None = None) -> int:
        hh = self.new_household(ci, ai, addr, kind)
        for _ in range(n):
            origin = self.rng.choice(MIGRANT_ORIGINS) if self.rng.random() < migrant else None
            self.new_person(hh, self.rng.choice("MF"), self.rng.randint(*ages), None, origin=origin, ins=ins, role=kind)
        self.finish_household(hh, shared=shared_phone)
        return hh

    def build_population(self) -> None:
        rng, n = self.rng, self.n
        k = max(2, round(n / 25000))
        self.k = k
        # big care homes (look-alike)
        self.big_homes = []
        for _ in range(max(1, round(n / 25000))):
            ci, ai, _, _ = self.rand_home(urban=rng.random() < 0.5)
            a = self.counties[ci]["areas"][ai]
            nm = f"{CITY}{rng.choice(['福寿', '康乐', '夕阳红', '颐和', '松鹤', '金秋'])}康养中心"
            addr = self.addr_street(ci, ai, rng.choice(ROADS), f"{rng.randint(1, 300)}号")
            home = self.add_inst(nm, "nursing_home", None, rng.choice(["private", "public"]), addr, ci, ai)
            hh = self.special_group(ci, ai, addr, rng.randint(80, 200), (68, 96), "care_home", 0.03,
                                    self.insts[home]["phone"])
            self.households[hh]["inst"] = home
            self.big_homes.append((home, hh))
            del a
        # collusion care homes (ring)
        self.col_homes = []
        for _ in range(k):
            ci, ai, _, _ = self.rand_home()
            nm = f"{self.counties[ci]['name'].rstrip('区县市')}{rng.choice(['安心', '乐寿', '孝心', '福康', '祥和', '佑康'])}养老院"
            addr = self.addr_street(ci, ai, rng.choice(ROADS), f"{rng.randint(1, 300)}号")
            home = self.add_inst(nm, "nursing_home", None, "private", addr, ci, ai)
            hh = self.special_group(ci, ai, addr, rng.randint(30, 120), (65, 95), "care_home", 0.02,
                                    self.insts[home]["phone"])
            self.households[hh]["inst"] = home
            self.col_homes.append((home, hh))
        # small public elderly homes (敬老院), part of normal life
        for ci, cty in enumerate(self.counties):
            ais = [i for i, a in enumerate(cty["areas"]) if not a["urban"]]
            if ais and rng.random() < 0.7:
                ai = rng.choice(ais)
                addr = self.addr_rural(ci, ai, rng.choice(cty["areas"][ai]["villages"]), rng.randint(1, 9), rng.randint(1, 50))
                home = self.add_inst(f"{cty['name']}{cty['areas'][ai]['name']}敬老院", "nursing_home", None, "public", addr, ci, ai)
                hh = self.special_group(ci, ai, addr, rng.randint(8, 30), (62, 92), "care_home", 0.0, self.insts[home]["phone"])
                self.households[hh]["inst"] = home
        # factory dormitories (look-alike)
        self.dorms = []
        for _ in range(max(1, round(n / 25000))):
            ci, ai, _, _ = self.rand_home(urban=True)
            co = rng.choice(["株洲湘火炬", "醴陵华鑫电瓷", "株洲时代新材", "湖南金箭新材料", "株洲千金药业", "攸县恒达陶瓷"])
            addr = self.addr_street(ci, ai, f"{rng.choice(['高新', '工业', '经开'])}园区", f"{co}员工宿舍", f"{rng.randint(1, 6)}栋")
            hh = self.special_group(ci, ai, addr, rng.randint(50, min(300, max(60, n // 80))), (18, 48), "dormitory", 0.55,
                                    None, ins="employee")
            self.households[hh]["company"] = co
            self.dorms.append(hh)
        # group-rental flats (look-alike) and gang flats
        self.rentals = []
        for _ in range(max(2, n // 2000)):
            ci, ai, addr, _ = self.rand_home(urban=True)
            self.rentals.append(self.special_group(ci, ai, addr, rng.randint(6, 10), (19, 48), "group_rental", 0.8, None))
        self.gang_flats: list[int | None] = []  # a gang shares a flat, or has none (None)
        for _ in range(k):
            if rng.random() < 0.55:
                ci, ai, addr, _ = self.rand_home(urban=rng.random() < 0.7)
                self.gang_flats.append(self.special_group(ci, ai, addr, rng.randint(2, 5), (22, 50), "shared_flat", 0.4, None))
            else:
                self.gang_flats.append(None)
        while len(self.persons) < n:
            self.family(n - len(self.persons))
        # trim overshoot from the last family (drop its last members)
        while len(self.persons) > n:
            p = self.persons.pop()
            self.households[p["hh"]]["members"].remove(len(self.persons))

    # ---------------------------------------------------------------- cards
    def build_cards(self) -> None:
        rng = self.rng
        for i, p in enumerate(self.persons):
            if rng.random() < 0.97:
                p["card"] = self.uid("MC", 10)
                iss = date(rng.randint(2010, 2023), rng.randint(1, 12), rng.randint(1, 28))
                self.cards.append([p["card"], i, "card", iss, "", ""])
            if p["own_phone"]:
                p["device"] = self.hexid("dv", 12)
            if p["own_phone"] and p["age"] >= 16 and rng.random() < 0.62:
                self.add_evoucher(i, p["own_phone"], p["device"], None)
        # elderly e-vouchers on a child's phone (family)
        self.ev_on_child = []
        for h in self.households:
            if h["kind"] in ("care_home", "dormitory", "group_rental", "shared_flat"):
                continue
            young = [i for i in h["members"] if self.persons[i]["own_phone"] and 25 <= self.persons[i]["age"] < 60]
            old = [i for i in h["members"] if self.persons[i]["age"] >= 60 and not self.persons[i]["ev"]]
            if young and old and rng.random() < 0.3:
                c = rng.choice(young)
                for o in old:
                    self.add_evoucher(o, self.persons[c]["own_phone"], self.persons[c]["device"], None)
                self.ev_on_child.append([c] + old)

    def add_evoucher(self, i: int, phone: str, device: str, issued: date | None) -> str:
        p = self.persons[i]
        eid = self.hexid("EV", 16)
        if issued is None:
            issued = date(2020, 6, 1) + timedelta(self.rng.randrange(1300))
            issued = min(issued, date(2024, 12, 31))
        self.cards.append([eid, i, "evoucher", issued, phone, device])
        if p["ev"] is None:
            p["ev"], p["ev_dev"], p["ev_issued"] = eid, device, issued
        return eid

    def acct(self, i: int) -> str:
        p = self.persons[i]
        if p["acct"] is None:
            p["acct"] = self.account()
        return p["acct"]

    def family_phone(self, i: int) -> str:
        p = self.persons[i]
        return p["own_phone"] or self.households[p["hh"]].get("main_phone") or ""

    # ---------------------------------------------------------------- settlements
    def row(self, kind, i, card, inst, presc, start, end, total, fund, items, contact="", agent="",
            payee="", device="", op=None, trace="") -> list:
        if op is None:
            ops = self.insts[inst]["ops"]
            op = self.rng.choice(ops) if ops else ""
        r = [self.sid(), kind, i, card or "", self.insts[inst]["id"], presc or "", start, end,
             round(total, 2), round(fund, 2), items, contact or "", agent or "", payee or "", device or "", op, trace]
        self.sett.append(r)
        return r

    def pay_card(self, i: int, kind: str) -> tuple[str, str]:
        p = self.persons[i]
        r = self.rng.random()
        ev_day_ok = p["ev"] is not None
        if ev_day_ok and r < (0.45 if kind == "pharmacy" else 0.3):
            return p["ev"], p["ev_dev"] or ""
        if p["card"]:
            return p["card"], ""
        if p["ev"]:
            return p["ev"], p["ev_dev"] or ""
        return "", ""

    def fund_share(self, i: int, kind: str, level) -> float:
        emp = self.persons[i]["ins"] == "employee"
        rng = self.rng
        if kind == "inpatient":
            base = {1: 0.86, 2: 0.78, 3: 0.7}.get(level, 0.72) if emp else {1: 0.8, 2: 0.68, 3: 0.58}.get(level, 0.6)
            return min(0.95, max(0.3, rng.gauss(base, 0.05)))
        if kind == "outpatient":
            return rng.uniform(0.45, 0.75) if emp else rng.uniform(0.3, 0.6)
        return rng.uniform(0.7, 1.0) if emp else rng.uniform(0.0, 0.55)

    def drugs_for(self, i: int, n: int) -> list[int]:
        p = self.persons[i]
        out = []
        for _ in range(n):
            if p["chronic"] and self.rng.random() < 0.65:
                g = self.rng.choice(p["chronic"])
            elif p["age"] < 12 and self.rng.random() < 0.5:
                g = "child"
            else:
                g = "common"
            out.append(self.rng.choice(DRUG_GROUPS[g]))
        return out

    def sale(self, drugs: list[int], boxes: tuple = (1, 3), traced: bool | None = None,
             box_counts: list[int] | None = None) -> tuple[float, str, str, list]:
        rng = self.rng
        traced = rng.random() < self.trace_share if traced is None else traced
        total, names, codes, boxes_out = 0.0, [], [], []
        for j, d in enumerate(drugs):
            nb = box_counts[j] if box_counts else rng.randint(*boxes)
            total += DRUGS[d][1] * nb * rng.uniform(0.92, 1.08)
            names.append(DRUGS[d][0])
            if traced:
                for _ in range(nb):
                    c = self.trace_code(d)
                    codes.append(c)
                    boxes_out.append((d, c))
        return total, ";".join(names), ";".join(codes), boxes_out

    def local(self, i: int) -> dict:
        p = self.persons[i]
        return self.counties[p["county"]]["areas"][p["area"]]

    def pick_outpatient_inst(self, i: int) -> int:
        p, rng = self.persons[i], self.rng
        a, cty = self.local(i), self.counties[p["county"]]
        h = self.households[p["hh"]]
        if h.get("inst") is not None and rng.random() < 0.6:
            return h["inst"]
        r = rng.random()
        if a["urban"]:
            opts = [(a["hc"], 0.28), (rng.choice(a["clinics"]), 0.17), (cty["peoples"], 0.25), (cty["tcm"], 0.08),
                    (rng.choice(self.city_hosps), 0.22)]
        else:
            opts = [(a["hc"], 0.42), (rng.choice(a["clinics"]), 0.28), (cty["peoples"], 0.18), (cty["tcm"], 0.07),
                    (rng.choice(self.city_hosps), 0.05)]
        acc = 0.0
        for inst, w in opts:
            acc += w
            if r < acc:
                return inst
        return opts[0][0]

    def pick_inpatient_inst(self, i: int) -> int:
        p, rng = self.persons[i], self.rng
        a, cty = self.local(i), self.counties[p["county"]]
        priv = rng.choice(cty["private"]) if cty["private"] else cty["peoples"]
        if a["urban"]:
            opts = [(cty["peoples"], 0.36), (rng.choice(self.city_hosps), 0.38), (cty["tcm"], 0.1), (priv, 0.08), (a["hc"], 0.08)]
        else:
            opts = [(a["hc"], 0.3), (cty["peoples"], 0.38), (cty["tcm"], 0.1), (priv, 0.12), (rng.choice(self.city_hosps), 0.1)]
        r, acc = rng.random(), 0.0
        for inst, w in opts:
            acc += w
            if r < acc:
                return inst
        return opts[0][0]

    def alive_window(self, i: int) -> tuple[int, int] | None:
        d = self.persons[i]["death"]
        if d is None:
            return 0, NDAYS - 1
        last = (d - DAY0).days - 1
        if last < 0:
            return None
        return 0, min(NDAYS - 1, last)

    def stay(self, i: int, inst: int, adm: datetime, los: int, *, contact=None, agent="", payee="",
             card=None, device=None, per_day=None, fund_mult=1.0, presc=None) -> list:
        rng = self.rng
        s = self.insts[inst]
        lvl = s["level"] or 1
        per_day = per_day or {1: 420, 2: 700, 3: 1250}.get(lvl, 600) * (1.15 if s["own"] == "private" else 1.0)
        total = per_day * los * rng.lognormvariate(0, 0.3) + rng.uniform(200, 1500)
        fund = total * min(0.97, self.fund_share(i, "inpatient", lvl) * fund_mult)
        end = datetime.combine((adm + timedelta(days=los)).date(), datetime.min.time()) + timedelta(
            minutes=int(rng.uniform(8.5, 16) * 60))
        items = rng.sample(WARD, rng.randint(3, 6))
        if rng.random() < 0.05:
            items.append("人血白蛋白")
        if card is None:
            card, dev = self.pay_card(i, "inpatient")
            device = dev if device is None else device
        if contact is None:
            contact = self.family_phone(i)
        if presc is None:
            presc = rng.choice(s["docs"]) if s["docs"] else ""
        return self.row("inpatient", i, card, inst, presc, adm, end, total, fund, ";".join(items),
                        contact=contact, agent=agent, payee=payee, device=device or "")

    def routine_for(self, i: int) -> None:
        p, rng = self.persons[i], self.rng
        win = self.alive_window(i)
        if win is None:
            return
        a0, b0 = win
        frac = (b0 - a0 + 1) / NDAYS
        age = p["age"]
        base = 6 if age < 6 else (3.5 if age < 18 else (4.5 if age < 45 else (8 if age < 60 else (13 if age < 75 else 15))))
        lam = (base + 9 * len(p["chronic"])) * self.rate_mult * frac
        hh = self.households[p["hh"]]
        in_home = hh.get("inst") is not None
        last_doc = None
        for _ in range(poisson(rng, lam)):
            kind = "pharmacy" if rng.random() < (0.58 if p["chronic"] else 0.48) * (0.4 if in_home else 1) else "outpatient"
            d = self.day(kind, a0, b0)
            if kind == "outpatient":
                inst = self.pick_outpatient_inst(i)
                s = self.insts[inst]
                doc = rng.choice(s["docs"]) if s["docs"] else ""
                last_doc = doc
                t = self.at(d, 7.8, 17.5)
                items = ["诊查费"] + rng.sample(TESTS, rng.randint(0, 2)) + [DRUGS[x][0] for x in self.drugs_for(i, rng.randint(0, 3))]
                total = rng.lognormvariate(math.log(95 if s["kind"] == "clinic" else 160), 0.6)
                card, dev = self.pay_card(i, kind)
                contact = self.family_phone(i) if rng.random() < 0.15 else ""
                self.row("outpatient", i, card, inst, doc, t, None, total, total * self.fund_share(i, kind, s["level"]),
                         ";".join(items), contact=contact, device=dev)
            else:
                loc = self.local(i)
                if "fav_ph" not in hh:
                    hh["fav_ph"] = rng.sample(loc["pharm"], min(len(loc["pharm"]), rng.randint(1, 2)))
                inst = rng.choice(hh["fav_ph"]) if rng.random() < 0.85 else rng.choice(self.pharmacies)
                t = self.at(d, 8.0, 21.3)
                total, names, codes, _ = self.sale(self.drugs_for(i, rng.randint(1, 3)), (1, 3))
                card, dev = self.pay_card(i, kind)
                # family mutual aid: a parent's card pays for a child
                if p["age"] < 18 and rng.random() < 0.45:
                    par = [j for j in hh["members"] if 20 <= self.persons[j]["age"] < 60 and (self.persons[j]["card"] or self.persons[j]["ev"])]
                    if par:
                        card, dev = self.pay_card(rng.choice(par), kind)
                elif p["age"] >= 70 and rng.random() < 0.15:
                    kids = [j for j in hh["members"] if 25 <= self.persons[j]["age"] < 60 and self.persons[j]["card"]]
                    if kids:
                        card, dev = self.pay_card(rng.choice(kids), kind)
                presc = last_doc if (last_doc and rng.random() < 0.2) else ""
                self.row("pharmacy", i, card, inst, presc, t, None, total, total * self.fund_share(i, kind, None),
                         names, device=dev, trace=codes)
        lam_in = (0.05 if age < 18 else (0.06 if age < 45 else (0.12 if age < 60 else (0.25 if age < 75 else 0.4))))
        lam_in += 0.18 * len(p["chronic"])
        for _ in range(poisson(rng, lam_in * frac)):
            d = self.day("inpatient", a0, b0)
            inst = self.pick_inpatient_inst(i)
            los = max(1, min(40, int(round(rng.lognormvariate(math.log(6.5 if age < 60 else 8.5), 0.5)))))
            payee, agent = "", ""
            if rng.random() < 0.08:  # manual reimbursement
                fam = [j for j in hh["members"] if 20 <= self.persons[j]["age"] < 65] or [i]
                j = rng.choice(fam)
                payee = self.acct(j)
                if j != i and rng.random() < 0.5:
                    agent = self.persons[j]["pid"]
            self.stay(i, inst, self.at(d, 7.5, 20.5), los, payee=payee, agent=agent)

    # ---------------------------------------------------------------- look-alikes
    def lookalikes(self) -> None:
        rng = self.rng
        for hh in self.households:
            if hh.get("shared_phone") and hh["kind"] not in ("care_home",):
                ms = [self.persons[i]["pid"] for i in hh["members"] if self.persons[i]["phone_cell"] == hh["main_phone"]]
                if len(ms) >= 3:
                    self.looks.append({"kind": "family_shared_phone", "persons": ms})
        for grp in self.ev_on_child:
            self.looks.append({"kind": "family_evoucher_on_child_phone", "persons": [self.persons[i]["pid"] for i in grp]})
        # big care homes: individual admissions to the nearby public hospital
        for home, hhi in self.big_homes:
            hh = self.households[hhi]
            cty = self.counties[hh["county"]]
            near = cty["peoples"] if rng.random() < 0.6 else cty["areas"][hh["area"]]["hc"]
            phone = self.insts[home]["phone"]
            for i in hh["members"]:
                win = self.alive_window(i)
                if not win:
                    continue
                for _ in range(rng.choices([0, 1, 2, 3], [0.25, 0.4, 0.25, 0.1])[0]):
                    d = self.day("inpatient", *win)
                    self.stay(i, near, self.at(d, 8, 19), max(2, int(rng.lognormvariate(math.log(9), 0.45))), contact=phone)
            self.reserved.update(hh["members"])
            self.looks.append({"kind": "big_care_home", "institution": self.insts[home]["id"],
                               "hospital": self.insts[near]["id"],
                               "persons": [self.persons[i]["pid"] for i in hh["members"]]})
        # dialysis cohorts
        for _ in range(max(2, round(self.n / 10000))):
            ci = rng.randrange(len(self.counties))
            centre = rng.choice([self.counties[ci]["peoples"]] + self.city_hosps)
            pool = [i for i, p in enumerate(self.persons) if p["county"] == ci and 40 <= p["age"] < 85
                    and i not in self.reserved and p["death"] is None and self.households[p["hh"]]["kind"] != "care_home"]
            size = min(len(pool), rng.randint(8, 25))
            cohort = rng.sample(pool, size)
            days = (0, 2, 4) if rng.random() < 0.5 else (1, 3, 5)
            shift = rng.choice([7.5, 12.5, 17.5])
            docs = self.insts[centre]["docs"][:3]
            for i in cohort:
                start = 0 if rng.random() < 0.75 else rng.randrange(300)
                for d in range(start, NDAYS):
                    if (DAY0 + timedelta(d)).weekday() in days and rng.random() < 0.96:
                        t = T0 + timedelta(days=d, minutes=int(shift * 60 + rng.uniform(-20, 25)))
                        total = rng.uniform(380, 520)
                        card, dev = self.pay_card(i, "outpatient")
                        self.row("outpatient", i, card, centre, rng.choice(docs), t, None, total,
                                 total * rng.uniform(0.8, 0.92), "血液透析;透析器;促红细胞生成素注射液" if rng.random() < 0.3 else "血液透析;透析器",
                                 device=dev)
            self.reserved.update(cohort)
            self.looks.append({"kind": "dialysis_cohort", "institution": self.insts[centre]["id"],
                               "persons": [self.persons[i]["pid"] for i in cohort]})
        # factory dormitory: one-day health check
        for hhi in self.dorms:
            hh = self.households[hhi]
            cty = self.counties[hh["county"]]
            inst = rng.choice([cty["peoples"], cty["tcm"]] + self.city_hosps)
            d = rng.randrange(60, 330)
            docs = self.insts[inst]["docs"]
            for i in hh["members"]:
                t = self.at(d, 7.5, 11.5)
                total = rng.choice([280.0, 280.0, 360.0, 460.0])
                card, dev = self.pay_card(i, "outpatient")
                self.row("outpatient", i, card, inst, rng.choice(docs), t, None, total, total * rng.uniform(0.0, 0.6),
                         "体检套餐;血常规;肝功能;胸部DR;心电图", device=dev)
            self.reserved.update(hh["members"])
            self.looks.append({"kind": "dormitory_health_check", "company": hh["company"],
                               "persons": [self.persons[i]["pid"] for i in hh["members"]]})
        for hhi in self.rentals:
            self.reserved.update(self.households[hhi]["members"])
            self.looks.append({"kind": "group_rental_flat",
                               "persons": [self.persons[i]["pid"] for i in self.households[hhi]["members"]]})
        # village health workers registered as agents
        rural_areas = [(ci, ai) for ci, c in enumerate(self.counties) for ai, a in enumerate(c["areas"]) if not a["urban"]]
        for _ in range(max(2, round(self.n / 12000))):
            if not rural_areas:
                break
            ci, ai = rng.choice(rural_areas)
            area = self.counties[ci]["areas"][ai]
            vil = rng.choice(area["villages"])
            g = rng.choice("MF")
            b = self.birth(rng.randint(38, 62))
            iid = self.uid("DB" + self.counties[ci]["code"], 4)
            ph = self.phone()
            self.inters.append([iid, self.name(g, b.year), ph, self.addr_rural(ci, ai, vil, rng.randint(1, 12), rng.randint(1, 60)),
                                self.id_number(self.counties[ci]["code"], b, g), "agent_registration"])
            hhs = [h for h in self.households if h["county"] == ci and h["kind"].startswith("rural")
                   and not any(m in self.reserved for m in h["members"])]
            hhs.sort(key=lambda h: (h["area"] != ai, rng.random()))  # own township first, then the county's others
            want = rng.randint(15, 60)
            chosen = hhs[:want]
            served = []
            for h in chosen:
                ms = sorted(h["members"], key=lambda m: -self.persons[m]["age"])
                i = ms[0] if rng.random() < 0.7 else rng.choice(ms)
                win = self.alive_window(i)
                if not win:
                    continue
                d = self.day("inpatient", *win)
                inst = self.pick_inpatient_inst(i)
                if self.insts[inst]["own"] == "private":
                    inst = area["hc"]
                los = max(1, int(rng.lognormvariate(math.log(7), 0.45)))
                contact = ph if rng.random() < 0.25 else self.family_phone(i)
                payee = self.acct(i) if rng.random() < 0.8 else ""
                self.stay(i, inst, self.at(d, 8, 18), los, agent=iid, contact=contact, payee=payee)
                served.append(self.persons[i]["pid"])
            self.reserved.update(self.persons_by_pid(served))
            self.looks.append({"kind": "village_health_worker_agent", "intermediary": iid, "persons": served})

    def persons_by_pid(self, pids: list[str]) -> list[int]:
        want = set(pids)
        return [i for i, p in enumerate(self.persons) if p["pid"] in want]

    def large_hospital_lookalike(self) -> None:
        from collections import Counter
        cnt: Counter = Counter()
        hid = {self.insts[h]["id"] for h in self.city_hosps}
        for r in self.sett:
            if r[1] == "inpatient" and r[4] in hid:
                cnt[(r[4], r[6].date())] += 1
        if not cnt:
            return
        (iid, d), _ = cnt.most_common(1)[0]
        ps = sorted({self.persons[r[2]]["pid"] for r in self.sett if r[1] == "inpatient" and r[4] == iid and r[6].date() == d})
        self.looks.append({"kind": "large_hospital_same_day", "institution": iid, "date": d.isoformat(), "persons": ps})

    # ---------------------------------------------------------------- rings
    def ring(self, pattern: str, scheme: str, persons: list[int], members: list[tuple], facts: dict) -> None:
        seen, mem = set(), []
        for i in persons:
            t = ("person", self.persons[i]["pid"])
            if t not in seen:
                seen.add(t)
                mem.append(t)
        for t in members:
            if t not in seen and t[1]:
                seen.add(t)
                mem.append(t)
        self.rings.append({"id": f"X-{len(self.rings) + 1:04d}", "pattern": pattern, "scheme": scheme,
                           "persons": sorted({self.persons[i]["pid"] for i in persons}),
                           "members": [{"type": a, "id": b} for a, b in mem], "facts": facts})
        self.reserved.update(persons)

    def free(self, pred) -> list[int]:
        return [i for i, p in enumerate(self.persons) if i not in self.reserved and pred(p)]

    def plant_identity_victims(self) -> None:
        """Choose identity-misuse victims first: their deaths shape their routine claims."""
        rng = self.rng
        self.idm = []
        pool = self.free(lambda p: p["age"] >= 68 and self.households[p["hh"]]["kind"] not in ("care_home", "dormitory"))
        rng.shuffle(pool)
        for _ in range(self.k):
            n = rng.randint(5, 20)
            victims = [pool.pop() for _ in range(min(n, len(pool)))]
            dead_share = rng.uniform(0.15, 0.7)
            for v in victims:
                if rng.random() < dead_share:
                    self.persons[v]["death"] = DAY0 + timedelta(days=rng.randint(-330, 200))
            self.reserved.update(victims)
            self.idm.append(victims)
        # ordinary deaths during the year
        for p in self.persons:
            if p["death"] is None and p["age"] >= 75 and rng.random() < 0.03:
                p["death"] = DAY0 + timedelta(days=rng.randrange(NDAYS))

    def plant_black_intermediaries(self) -> None:
        rng = self.rng
        by_vil: dict[tuple, list[int]] = {}
        for i, p in enumerate(self.persons):
            h = self.households[p["hh"]]
            if h["village"] and p["age"] >= 58 and i not in self.reserved and p["death"] is None:
                by_vil.setdefault((h["county"], h["area"], h["village"]), []).append(i)
        vil_keys = sorted(by_vil)
        prev: list[tuple[int, int]] = []  # (hospital, day) bunches of earlier brokers
        for _ in range(self.k):
            ci = rng.randrange(len(self.counties))
            near = [k for k in vil_keys if k[0] == ci] or vil_keys
            nv = rng.randint(1, 3)
            vils = rng.sample(near, min(nv, len(near)))
            cand = [i for k in vils for i in by_vil[k] if i not in self.reserved]
            size = min(len(cand), rng.randint(6, 40))
            recruits = rng.sample(cand, size)
            if len(recruits) < 3:
                continue
            nh = rng.randint(1, 3)
            hosps = []
            for _ in range(nh):
                h = rng.choice(self.hubs) if rng.random() < 0.65 else rng.choice(self.private_hosps)
                if h not in hosps:
                    hosps.append(h)
            g = "M" if rng.random() < 0.8 else "F"
            b = self.birth(rng.randint(35, 62))
            bphone, bacct = self.phone(), self.account()
            modes = [m for m in ("phone", "agent", "payee") if rng.random() < 0.55] or [rng.choice(["phone", "agent", "payee"])]
            cover = {m: rng.uniform(0.25, 1.0) for m in modes}
            in_file = "agent" in modes or rng.random() < 0.5
            bid = ""
            if in_file:
                bid = self.uid("ZJ", 6)
                hv = vils[0]
                self.inters.append([bid, self.name(g, b.year), bphone if rng.random() < 0.8 else "",
                                    self.addr_rural(hv[0], hv[1], hv[2], rng.randint(1, 12), rng.randint(1, 80)) if rng.random() < 0.6 else "",
                                    self.id_number(self.counties[hv[0]]["code"], b, g) if rng.random() < 0.6 else "",
                                    rng.choice(["tip", "police_intel", "agent_field", "contact_phone_report"])])
            nb = rng.randint(2, 8)
            days = sorted(rng.sample(range(10, 340), nb))
            share = False
            if prev and rng.random() < 0.5:  # join a complicit hospital's busy weeks of another broker
                ph, pd = rng.choice(prev)
                if ph not in hosps:
                    hosps.append(ph)
                days[rng.randrange(nb)] = min(350, max(0, pd + rng.randint(-6, 6)))
                share = True
            stays = 0
            fund = 0.0
            used_h = set()
            for d in days:
                h = rng.choice(hosps)
                used_h.add(h)
                prev.append((h, d))
                part = rng.sample(recruits, max(2, int(len(recruits) * rng.uniform(0.35, 1.0))))
                spread = rng.randint(0, 3)
                for i in part:
                    win = self.alive_window(i)
                    dd = d + rng.randint(0, spread)
                    if not win or dd > win[1]:
                        continue
                    contact = bphone if "phone" in modes and rng.random() < cover["phone"] else None
                    agent = bid if "agent" in modes and rng.random() < cover["agent"] else ""
                    payee = bacct if "payee" in modes and rng.random() < cover["payee"] else ""
                    los = rng.randint(4, 13)
                    r_ = self.stay(i, h, self.at(dd, 7.5, 15) if rng.random() < 0.8 else self.at(dd, 15, 21), los,
                                   contact=contact, agent=agent, payee=payee, fund_mult=rng.uniform(1.0, 1.12))
                    stays += 1
                    fund += r_[9]
            members = [("institution", self.insts[h]["id"]) for h in sorted(used_h)]
            if bid:
                members.insert(0, ("intermediary", bid))
            self.ring("black_intermediary", "黑中介拉拢参保人虚假住院", recruits, members, {
                "broker_phone": bphone, "broker_account": bacct, "broker_in_intermediaries": bool(bid),
                "links": {m: round(cover[m], 2) for m in modes}, "villages": [k[2] for k in vils],
                "bunches": nb, "bunch_days": [(DAY0 + timedelta(d)).isoformat() for d in days],
                "shares_hospital_with_other_broker": share, "stays": stays, "fund_amount": round(fund, 2)})

    def plant_gangs(self) -> None:
        rng = self.rng
        for r in range(self.k):
            size = rng.randint(4, 15)
            flat = self.gang_flats[r] if r < len(self.gang_flats) else None
            members = []
            if flat is not None:
                members += self.households[flat]["members"]
            pool = self.free(lambda p: 22 <= p["age"] <= 58 and p["death"] is None
                             and self.households[p["hh"]]["kind"] not in ("care_home", "dormitory"))
            members += rng.sample(pool, max(0, size - len(members)))
            members = members[:max(size, len(members))]
            ep = rng.randint(3, 10)
            rotating = rng.random() < 0.5
            if rotating:
                nh = math.ceil(ep / 2) + rng.randint(0, 2)
                hs = rng.sample(self.all_hosps, min(len(self.all_hosps), nh))
                seq: list[int] = []
                while len(seq) < ep:
                    seq += rng.sample(hs, len(hs))
                seq = seq[:ep]
                from collections import Counter
                c = Counter(seq)
                for h in list(c):  # no hospital sees them three times
                    while c[h] > 2:
                        alt = min(hs, key=lambda x: c[x])
                        seq[seq.index(h)] = alt
                        c[h] -= 1
                        c[alt] += 1
            else:
                h = rng.choice(self.hubs + self.private_hosps) if rng.random() < 0.6 else rng.choice(self.all_hosps)
                seq = [h] * ep
            lead_phone = self.persons[members[0]]["own_phone"] or self.phone()
            use_lead = rng.random() < 0.35
            d = rng.randint(5, 60)
            fund = 0.0
            for h in seq:
                part = rng.sample(members, max(3, int(len(members) * rng.uniform(0.6, 1.0))))
                same_day = rng.random() < 0.6
                for i in part:
                    dd = d if same_day else d + rng.randint(-1, 1)
                    dd = max(0, min(NDAYS - 1, dd))
                    los = rng.randint(3, 10)
                    contact = lead_phone if use_lead and rng.random() < 0.7 else None
                    r_ = self.stay(i, h, self.at(dd, 8, 17), los, contact=contact, fund_mult=rng.uniform(1.0, 1.1))
                    fund += r_[9]
                d += rng.randint(12, 60)
                if d >= NDAYS - 12:
                    d = rng.randint(5, 40)
            self.ring("professional_gang", "结队住院" + ("(轮换医院)" if rotating else ""), members,
                      [("institution", self.insts[h]["id"]) for h in dict.fromkeys(seq)],
                      {"episodes": ep, "rotating": rotating, "shared_flat": flat is not None,
                       "leader_phone_as_contact": use_lead, "fund_amount": round(fund, 2)})

    def plant_card_collectors(self) -> None:
        rng = self.rng
        used_ph: list[int] = []
        for _ in range(self.k):
            pool = self.free(lambda p: 25 <= p["age"] <= 60 and p["own_phone"] and p["death"] is None
                             and self.households[p["hh"]]["kind"] not in ("care_home", "dormitory"))
            col = rng.choice(pool)
            self.reserved.add(col)
            cp = self.persons[col]
            devs = [cp["device"]] + [self.hexid("dv", 12) for _ in range(rng.randint(0, 2))]
            hp = self.free(lambda p: p["age"] >= 30 and p["death"] is None and self.households[p["hh"]]["kind"] != "care_home")
            holders = rng.sample(hp, min(len(hp), rng.randint(15, 70)))
            first = rng.randint(20, 250)
            evs = []
            for i in holders:
                iss = DAY0 + timedelta(days=max(0, first - rng.randint(5, 200)))
                e = self.hexid("EV", 16)
                dv = rng.choice(devs)
                self.cards.append([e, i, "evoucher", iss, cp["own_phone"], dv])
                evs.append((i, e, dv))
            if used_ph and rng.random() < 0.4:
                phs = [rng.choice(used_ph)]
            else:
                phs = rng.sample(self.pharmacies, rng.randint(1, 2))
            if len(phs) < 2 and rng.random() < 0.4:
                phs.append(rng.choice(self.pharmacies))
            used_ph += phs
            nbursts = max(rng.randint(3, 12), math.ceil(len(evs) / 15))
            d = first
            fund, sales = 0.0, 0
            for _ in range(nbursts):
                ph = rng.choice(phs)
                op = rng.choice(self.insts[ph]["ops"])
                bs = min(len(evs), rng.randint(6, 30))
                t = self.at(min(d, NDAYS - 1), 9, 20)
                for i, e, dv in rng.sample(evs, bs):
                    w = self.alive_window(i)
                    drugs = [rng.choice(HIGH_VALUE) for _ in range(rng.randint(1, 2))]
                    if rng.random() < 0.2:
                        drugs.append(rng.choice(MIDHIGH))
                    total, names, codes, _ = self.sale(drugs, (1, 4), traced=rng.random() < 0.8)
                    fund_ = total * rng.uniform(0.6, 0.95)
                    self.row("pharmacy", i, e, ph, "", t, None, total, fund_, names, device=dv, op=op, trace=codes)
                    fund += fund_
                    sales += 1
                    t += timedelta(seconds=rng.randint(25, 240))
                    del w
                d += rng.randint(3, 40)
                if d >= NDAYS:
                    d = rng.randint(first, NDAYS - 1)
            mem = [("person", cp["pid"])] + [("institution", self.insts[p]["id"]) for p in dict.fromkeys(phs)]
            mem += [("device", dv) for dv in devs] + [("card", e) for _, e, _ in evs]
            self.ring("card_collector", "聚敛医保电子凭证空刷套刷", [col] + holders, mem, {
                "collector": cp["pid"], "collector_phone": cp["own_phone"], "vouchers": len(evs), "bursts": nbursts,
                "pharmacies": [self.insts[p]["id"] for p in dict.fromkeys(phs)], "sales": sales, "fund_amount": round(fund, 2)})

    def plant_prescriber_collusion(self) -> None:
        rng = self.rng
        clinics = [i for i, s in enumerate(self.insts) if s["kind"] == "clinic" and s["docs"]]
        for _ in range(self.k):
            cl = rng.choice(clinics)
            doc = rng.choice(self.insts[cl]["docs"])
            ph = rng.choice(self.pharmacies)
            seen = {row[2] for row in self.sett if row[5] == doc}
            pool = self.free(lambda p: p["death"] is None and p["age"] >= 20 and self.households[p["hh"]]["kind"] != "care_home")
            pool = [i for i in pool if i not in seen]
            ps = rng.sample(pool, min(len(pool), rng.randint(10, 50)))
            op = rng.choice(self.insts[ph]["ops"])
            fund, n = 0.0, 0
            start = rng.randint(0, 200)
            for i in ps:
                for _ in range(rng.randint(1, 5)):
                    d = rng.randint(start, NDAYS - 1)
                    drugs = [rng.choice(MIDHIGH) for _ in range(rng.randint(1, 3))]
                    total, names, codes, _ = self.sale(drugs, (1, 3))
                    card, dev = self.pay_card(i, "pharmacy")
                    f = total * rng.uniform(0.55, 0.95)
                    self.row("pharmacy", i, card, ph, doc, self.at(d, 8.5, 20.5), None, total, f, names,
                             device=dev, op=op if rng.random() < 0.7 else None, trace=codes)
                    fund += f
                    n += 1
            self.ring("prescriber_pharmacy_collusion", "伪造处方/医师与药店勾结", ps,
                      [("prescriber", doc), ("institution", self.insts[ph]["id"]), ("institution", self.insts[cl]["id"])],
                      {"prescriber": doc, "clinic": self.insts[cl]["id"], "pharmacy": self.insts[ph]["id"],
                       "scripts": n, "fund_amount": round(fund, 2)})

    def plant_care_home_collusion(self) -> None:
        rng = self.rng
        for home, hhi in self.col_homes:
            hh = self.households[hhi]
            cty = self.counties[hh["county"]]
            hosp = rng.choice(cty["private"]) if cty["private"] and rng.random() < 0.7 else rng.choice(self.hubs)
            res = hh["members"]
            phone = self.insts[home]["phone"]
            waves = rng.randint(3, 7)
            d = rng.randint(5, 60)
            admitted, fund = set(), 0.0
            for _ in range(waves):
                part = rng.sample(res, max(2, int(len(res) * rng.uniform(0.4, 0.9))))
                spread = rng.randint(0, 2)
                for i in part:
                    win = self.alive_window(i)
                    dd = d + rng.randint(0, spread)
                    if not win or dd > win[1]:
                        continue
                    r_ = self.stay(i, hosp, self.at(dd, 8, 16), rng.randint(6, 16), contact=phone if rng.random() < 0.85 else None,
                                   fund_mult=rng.uniform(1.0, 1.1))
                    admitted.add(i)
                    fund += r_[9]
                d += rng.randint(30, 75)
                if d > NDAYS - 20:
                    break
            self.reserved.update(res)
            self.ring("care_home_collusion", "养老机构与医院勾结组织入住", sorted(admitted),
                      [("institution", self.insts[home]["id"]), ("institution", self.insts[hosp]["id"])],
                      {"care_home": self.insts[home]["id"], "hospital": self.insts[hosp]["id"], "residents": len(res),
                       "waves": waves, "fund_amount": round(fund, 2)})

    def plant_identity_misuse(self) -> None:
        rng = self.rng
        for victims in self.idm:
            pool = self.free(lambda p: 22 <= p["age"] <= 55 and p["death"] is None and p["own_phone"]
                             and self.households[p["hh"]]["kind"] not in ("care_home", "dormitory"))
            gang = rng.sample(pool, rng.randint(1, 3))
            self.reserved.update(gang)
            gphone = self.persons[gang[0]]["own_phone"]
            devs = [self.persons[gang[0]]["device"]] + [self.hexid("dv", 12) for _ in range(rng.randint(0, 1))]
            two_places = rng.random() < 0.6
            mode = rng.choice(["evoucher", "card", "mixed"])
            places = rng.sample(self.pharmacies, rng.randint(1, 3)) + rng.sample(
                [i for i, s in enumerate(self.insts) if s["kind"] in ("clinic", "hospital") and s["level"] in (None, 1)], rng.randint(1, 2))
            cards, fund, uses = [], 0.0, 0
            for v in victims:
                p = self.persons[v]
                start = rng.randint(15, 200)
                if p["death"]:
                    start = max(start, (p["death"] - DAY0).days + rng.randint(10, 120))
                if start >= NDAYS - 5:
                    start = NDAYS - 40
                    if p["death"] and (p["death"] - DAY0).days >= start:
                        p["death"] = DAY0 + timedelta(days=start - rng.randint(5, 60))
                use_ev = mode == "evoucher" or (mode == "mixed" and rng.random() < 0.5) or not p["card"]
                dv = rng.choice(devs)
                if use_ev:
                    iss = DAY0 + timedelta(days=max(-200, start - rng.randint(1, 90)))
                    card = self.hexid("EV", 16)
                    self.cards.append([card, v, "evoucher", iss, gphone, dv])
                else:
                    card = p["card"]
                cards.append(card)
                for _ in range(rng.randint(2, 10)):
                    d = rng.randint(start, NDAYS - 1)
                    inst = rng.choice(places)
                    t = self.at(d, 8.5, 20)
                    for k in range(2 if two_places and rng.random() < 0.3 else 1):
                        if k == 1:
                            inst = rng.choice([x for x in places if x != inst] or places)
                            t += timedelta(minutes=rng.randint(3, 20))
                        s = self.insts[inst]
                        if s["kind"] == "pharmacy":
                            total, names, codes, _ = self.sale([rng.choice(MIDHIGH) for _ in range(rng.randint(1, 3))], (1, 3))
                            f = total * rng.uniform(0.5, 0.9)
                            self.row("pharmacy", v, card, inst, "", t, None, total, f, names,
                                     device=dv if use_ev else "", trace=codes)
                        else:
                            total = rng.lognormvariate(math.log(260), 0.5)
                            f = total * rng.uniform(0.5, 0.8)
                            self.row("outpatient", v, card, inst, rng.choice(s["docs"]) if s["docs"] else "", t, None,
                                     total, f, "诊查费;" + ";".join(DRUGS[x][0] for x in rng.sample(MIDHIGH, 2)),
                                     contact=gphone if rng.random() < 0.6 else "", device=dv if use_ev else "")
                        fund += f
                        uses += 1
            dead = [self.persons[v]["pid"] for v in victims if self.persons[v]["death"]]
            mem = [("person", self.persons[g]["pid"]) for g in gang] + [("device", d) for d in devs]
            mem += [("card", c) for c in cards] + [("institution", self.insts[i]["id"]) for i in places]
            self.ring("identity_misuse", "冒用他人医保凭证(含已故人员)", gang + victims, mem, {
                "gang": [self.persons[g]["pid"] for g in gang], "gang_phone": gphone, "victims": len(victims),
                "dead_victims": dead, "mode": mode, "two_places_within_minutes": two_places, "uses": uses,
                "fund_amount": round(fund, 2)})

    def plant_trace_resale(self) -> None:
        rng = self.rng
        for _ in range(self.k):
            pool = self.free(lambda p: 35 <= p["age"] <= 75 and p["death"] is None and self.households[p["hh"]]["kind"] != "care_home")
            buyers = rng.sample(pool, rng.randint(3, 8))
            self.reserved.update(buyers)
            fronts = rng.sample(self.free(lambda p: p["age"] >= 40 and p["death"] is None
                                          and self.households[p["hh"]]["kind"] != "care_home"), rng.randint(2, 6))
            src = rng.sample(self.pharmacies, rng.randint(1, 3))
            dst = rng.choice([x for x in self.pharmacies if x not in src])
            boxes = []
            fund = 0.0
            hv = HIGH_VALUE + [i for i in MIDHIGH if DRUGS[i][1] > 100]
            for b in buyers:
                for _ in range(rng.randint(4, 12)):
                    d = rng.randint(0, 320)
                    drugs = [rng.choice(hv) for _ in range(rng.randint(1, 2))]
                    total, names, codes, bx = self.sale(drugs, (2, 6), traced=True)
                    card, dev = self.pay_card(b, "pharmacy")
                    f = total * rng.uniform(0.6, 0.95)
                    self.row("pharmacy", b, card, rng.choice(src), "", self.at(d, 8.5, 20.5), None, total, f, names,
                             device=dev, trace=codes)
                    fund += f
                    boxes += [(d, x) for x in bx]
            rng.shuffle(boxes)
            resell = boxes[:int(len(boxes) * rng.uniform(0.4, 0.9))]
            resell.sort()
            op = rng.choice(self.insts[dst]["ops"])
            resold = 0
            while resell:
                k = rng.randint(1, 4)
                grp, resell = resell[:k], resell[k:]
                d = min(NDAYS - 1, max(x[0] for x in grp) + rng.randint(3, 60))
                i = rng.choice(fronts)
                card, dev = self.pay_card(i, "pharmacy")
                names = ";".join(dict.fromkeys(DRUGS[x[1][0]][0] for x in grp))
                total = sum(DRUGS[x[1][0]][1] * rng.uniform(0.95, 1.05) for x in grp)
                f = total * rng.uniform(0.6, 0.95)
                self.row("pharmacy", i, card, dst, "", self.at(d, 9, 20), None, total, f, names, device=dev, op=op,
                         trace=";".join(x[1][1] for x in grp))
                fund += f
                resold += len(grp)
            self.ring("other", "倒卖回流药(追溯码重复销售)", buyers + fronts,
                      [("institution", self.insts[x]["id"]) for x in src] + [("institution", self.insts[dst]["id"])],
                      {"buyers": [self.persons[b]["pid"] for b in buyers], "fronts": [self.persons[b]["pid"] for b in fronts],
                       "reselling_pharmacy": self.insts[dst]["id"], "boxes_resold": resold, "fund_amount": round(fund, 2)})

    # ---------------------------------------------------------------- duplicates
    def duplicates(self) -> None:
        rng = self.rng
        by_person: dict[int, list[list]] = {}
        for r in self.sett:
            by_person.setdefault(r[2], []).append(r)
        n0 = len(self.persons)
        cand = [i for i in range(n0) if self.persons[i]["age"] >= 18]
        for i in rng.sample(cand, max(1, round(n0 * 0.005))):
            p = self.persons[i]
            q = dict(p)
            q["pid"] = self.uid("CB", 9)
            q["ins"] = "resident" if p["ins"] == "employee" else "employee"
            q["region"] = EMPLOYEE_POOL if q["ins"] == "employee" else (
                self.counties[rng.randrange(len(self.counties))]["code"])
            q["dup_of"] = i
            q["card"] = self.uid("MC", 10)
            if rng.random() < 0.3:
                q["phone_cell"] = None
            self.persons.append(q)
            j = len(self.persons) - 1
            self.cards.append([q["card"], j, "card", date(rng.randint(2015, 2023), rng.randint(1, 12), 1), "", ""])
            rows = by_person.get(i, [])
            share = rng.uniform(0.2, 0.6)
            for r in rows:
                if rng.random() < share:
                    r[2] = j
                    if r[3] == p["card"]:
                        r[3] = q["card"]
            self.dups.append([p["pid"], q["pid"]])

    # ---------------------------------------------------------------- export
    def m(self) -> bool:
        return self.rng.random() < self.mess

    def f_addr(self, a) -> str:
        if not a:
            return ""
        if isinstance(a, str):
            return a
        rng = self.rng
        ci, *parts = a
        county = self.counties[ci]["name"]
        prov, city = PROV, CITY
        rest = "".join(parts)
        if not self.m():
            return prov + city + county + rest
        v = rng.random()
        if v < 0.2:
            prov = ""
        elif v < 0.35:
            prov, city = "", ""
        elif v < 0.45:
            county = ""
        if rng.random() < 0.5 and "组" in rest:
            rest = re.sub(r"(\d+)组", lambda mm: cn_num(int(mm.group(1))) + "组", rest)
        s_parts = [prov, city, county, rest]
        if rng.random() < 0.35:
            k = rng.randrange(1, 4)
            s_parts[k] = " " + s_parts[k]
        s = "".join(s_parts)
        if rng.random() < 0.3:
            s = s.translate(FW)
        if rng.random() < 0.2:
            pos = rng.randrange(1, len(s))
            s = s[:pos] + rng.choice([" ", "  ", "\u3000"]) + s[pos:]
        if rng.random() < 0.15:
            s = s + " "
        return s

    def f_phone(self, ph) -> str:
        if not ph or not self.m():
            return ph or ""
        if ph.startswith("0731"):
            return f"0731-{ph[4:]}"
        v = self.rng.randrange(6)
        if v == 0:
            return "+86 " + ph
        if v == 1:
            return "+86" + ph
        if v == 2:
            return "0086" + ph
        if v == 3:
            return f"{ph[:3]}-{ph[3:7]}-{ph[7:]}"
        if v == 4:
            return f"{ph[:3]} {ph[3:7]} {ph[7:]}"
        return ph.translate(FW)

    def f_idn(self, s: str) -> str:
        if s and s.endswith("X") and self.m():
            return s[:-1] + "x"
        if s and self.rng.random() < self.mess * 0.1:
            return s + " "
        return s

    def f_acct(self, s: str) -> str:
        if s and self.m():
            return " ".join(s[k:k + 4] for k in range(0, len(s), 4))
        return s

    def f_time(self, t: datetime | None) -> str:
        if t is None:
            return ""
        sep = self.time_sep if self.time_sep != "mix" else self.rng.choice("T ")
        return t.strftime(f"%Y-%m-%d{sep}%H:%M:%S")

    def write(self, out: Path) -> None:
        out.mkdir(parents=True, exist_ok=True)
        rng = self.rng
        bom = {f: rng.random() < 0.3 for f in ("persons", "cards", "institutions", "prescribers", "intermediaries", "settlements")}

        def w(name, header, rows):
            with open(out / f"{name}.csv", "w", newline="", encoding="utf-8-sig" if bom[name] else "utf-8") as fh:
                wr = csv.writer(fh)
                wr.writerow(header)
                wr.writerows(rows)

        pid = [p["pid"] for p in self.persons]
        prow = []
        for p in self.persons:
            prow.append([p["pid"], self.f_idn(p["idn"]), p["name"], p["g"], p["birth"].isoformat(),
                         self.f_phone(p["phone_cell"]), self.f_addr(p["addr"]), p["region"], p["ins"],
                         p["death"].isoformat() if p["death"] else ""])
        order = list(range(len(prow)))
        rng.shuffle(order)
        w("persons", ["person_id", "id_number", "name", "gender", "birth_date", "phone", "address", "region_code",
                      "insurance_type", "death_date"], [prow[k] for k in order])
        w("cards", ["card_id", "person_id", "kind", "issued_date", "bound_phone", "device_id"],
          [[c[0], pid[c[1]], c[2], c[3].isoformat(), self.f_phone(c[4]), c[5]] for c in self.cards])
        w("institutions", ["institution_id", "name", "kind", "level", "ownership", "address", "phone", "region_code"],
          [[s["id"], s["name"], s["kind"], s["level"] or "", s["own"], self.f_addr(s["addr"]), self.f_phone(s["phone"]),
            s["region"]] for s in self.insts])
        w("prescribers", ["prescriber_id", "name", "institution_id", "phone"],
          [[a, b, c, self.f_phone(d)] for a, b, c, d in self.prescribers])
        w("intermediaries", ["intermediary_id", "name", "phone", "address", "id_number", "source"],
          [[a, b, self.f_phone(c), self.f_addr(d), self.f_idn(e), f] for a, b, c, d, e, f in self.inters])
        self.sett.sort(key=lambda r: r[6])
        srows = []
        for r in self.sett:
            srows.append([r[0], r[1], pid[r[2]], r[3], r[4], r[5], self.f_time(r[6]), self.f_time(r[7]),
                          f"{r[8]:.2f}", f"{r[9]:.2f}", r[10], self.f_phone(r[11]), r[12], self.f_acct(r[13]),
                          r[14], r[15], r[16]])
        w("settlements", ["settlement_id", "kind", "person_id", "card_id", "institution_id", "prescriber_id",
                          "start_time", "end_time", "total_amount", "fund_amount", "items", "contact_phone", "agent_id",
                          "payee_account", "device_id", "operator_id", "trace_codes"], srows)

    def run(self) -> None:
        self.build_geography()
        self.build_institutions()
        self.build_population()
        self.build_cards()
        self.plant_identity_victims()
        self.lookalikes()
        for i in range(len(self.persons)):
            self.routine_for(i)
        self.plant_black_intermediaries()
        self.plant_gangs()
        self.plant_card_collectors()
        self.plant_prescriber_collusion()
        self.plant_care_home_collusion()
        self.plant_identity_misuse()
        self.plant_trace_resale()
        self.large_hospital_lookalike()
        self.duplicates()


def generate_other_city(out: Path, *, persons: int, seed: int) -> dict:
    """Write the contract folder ``out`` and ``<out>-truth.json`` beside it; return the truth."""
    out = Path(out)
    city = OtherCity(persons, seed)
    city.run()
    city.write(out)
    truth = {"seed": seed, "persons": persons, "realism": "other", "rings": city.rings,
             "lookalikes": city.looks, "duplicate_persons": city.dups}
    truth_path = out.parent / (out.name + "-truth.json")
    truth_path.write_text(json.dumps(truth, ensure_ascii=False, indent=1), encoding="utf-8")
    return truth


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("out", type=Path)
    ap.add_argument("--persons", type=int, default=20000)
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args(argv)
    t0 = time.perf_counter()
    truth = generate_other_city(a.out, persons=a.persons, seed=a.seed)
    with open(a.out / "settlements.csv", encoding="utf-8-sig") as f:
        n_sett = sum(1 for _ in f) - 1
    by: dict[str, int] = {}
    for r in truth["rings"]:
        by[r["pattern"]] = by.get(r["pattern"], 0) + 1
    print(f"{a.out}: {a.persons} persons, {n_sett} settlements, rings {by}, "
          f"{len(truth['lookalikes'])} look-alikes, {len(truth['duplicate_persons'])} duplicate persons "
          f"in {time.perf_counter() - t0:.1f}s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
