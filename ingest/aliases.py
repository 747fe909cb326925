"""Header and value aliases for what agencies actually export.

Fund systems export Chinese headers (参保人编号, 定点机构编码, 统筹支付金额 ...) and Chinese
enum values (住院, 男, 城乡居民 ...). Each canonical column lists its aliases in priority
order: where a file has two headers that mean the same column, the earlier alias wins
(an inpatient export with both 入院时间 and 结算时间 keeps the admission time).
"""

from __future__ import annotations

import re
import unicodedata

from graphsvc.model import ENTITY_TABLES

__all__ = ["map_headers", "header_cells", "VALUE_ALIASES", "MISSING_VALUES", "FILE_ALIASES"]

_COMMON: dict[str, tuple[str, ...]] = {
    "person_id": ("参保人编号", "个人编号", "人员编号", "参保人id", "参保人员编号"),
    "id_number": ("身份证号", "身份证号码", "公民身份号码", "证件号码"),
    "gender": ("性别",),
    "birth_date": ("出生日期",),
    "address": ("地址", "住址", "家庭住址", "居住地址", "机构地址"),
    "region_code": ("统筹区", "统筹区编码", "统筹区划", "行政区划代码", "参保地"),
    "insurance_type": ("险种", "险种类型", "参保类型"),
    "death_date": ("死亡日期",),
    "card_id": ("医保卡号", "社保卡号", "卡号", "电子凭证号", "凭证号"),
    "issued_date": ("发卡日期", "签发日期", "激活日期"),
    "bound_phone": ("绑定手机号", "绑定电话", "绑定手机"),
    "device_id": ("设备号", "设备编号", "设备id", "终端设备号"),
    "institution_id": ("定点机构编码", "定点医药机构编码", "医药机构编码", "机构编码", "医院编码", "药店编码"),
    "level": ("医院等级", "机构等级", "等级"),
    "ownership": ("所有制", "经营性质", "举办性质"),
    "prescriber_id": ("医保医师编码", "处方医师编码", "医师编码", "医生编码"),
    "intermediary_id": ("中介编号", "中介人编号", "代办人编号"),
    "source": ("来源", "线索来源"),
    "settlement_id": ("结算编号", "结算流水号", "结算id", "就诊流水号"),
    "start_time": ("入院时间", "就诊时间", "购药时间", "结算时间"),
    "end_time": ("出院时间",),
    "total_amount": ("医疗费总额", "总金额", "费用总额", "总费用"),
    "fund_amount": ("统筹支付金额", "基金支付金额", "统筹基金支付", "医保支付金额"),
    "items": ("项目", "项目名称", "药品", "药品名称", "明细"),
    "agent_id": ("经办人", "经办人编号", "代办人"),
    "payee_account": ("收款账户", "收款账号", "银行账号"),
    "operator_id": ("操作员", "操作员编号", "收银员"),
    "trace_codes": ("药品追溯码", "追溯码"),
}

# Words whose meaning depends on the file: 联系电话 is a person's own phone in persons.csv
# but the contact given on a claim in settlements.csv.
_PER_TABLE: dict[str, dict[str, tuple[str, ...]]] = {
    "persons": {"name": ("姓名",), "phone": ("联系电话", "手机号", "手机号码", "电话")},
    "institutions": {"name": ("机构名称", "名称"), "kind": ("机构类型", "类型", "类别"), "phone": ("联系电话", "电话")},
    "prescribers": {"name": ("医师姓名", "姓名"), "phone": ("联系电话", "手机号", "电话")},
    "intermediaries": {"name": ("姓名", "名称"), "phone": ("联系电话", "手机号", "电话")},
    "cards": {"kind": ("卡类型", "凭证类型", "类型", "类别"), "person_id": ("持卡人编号",)},
    "settlements": {
        "kind": ("结算类型", "就诊类型", "医疗类别", "类型", "类别"),
        "person_id": ("受益人编号",),
        "contact_phone": ("联系电话", "联系人电话", "经办人电话"),
    },
}

VALUE_ALIASES: dict[str, dict[str, str]] = {
    # GB/T 2261.1 codes 1 and 2; its 0 and 9 (unknown, not stated) are MISSING_VALUES.
    "gender": {"m": "M", "f": "F", "男": "M", "女": "F", "男性": "M", "女性": "F", "male": "M", "female": "F",
               "1": "M", "2": "F"},
    # The 医保信息平台's 险种 names and codes (310 职工基本医疗保险, 390 城乡居民基本医疗保险); 新农合 and
    # 城镇居民 were merged into the residents' scheme in 2016-2019, and old records still say them.
    "insurance_type": {"职工": "employee", "城镇职工": "employee", "职工医保": "employee", "职工基本医疗保险": "employee",
                       "城镇职工基本医疗保险": "employee", "310": "employee",
                       "居民": "resident", "城乡居民": "resident", "居民医保": "resident", "城乡居民基本医疗保险": "resident",
                       "城镇居民基本医疗保险": "resident", "新农合": "resident", "新型农村合作医疗": "resident",
                       "390": "resident"},
    # The platform's 医疗类别 names: 普通门诊, 急诊, 门诊慢特病, 普通住院, 日间手术 (settled as a stay), 定点药店购药.
    "settlements.kind": {"住院": "inpatient", "普通住院": "inpatient", "日间手术": "inpatient",
                         "门诊": "outpatient", "门急诊": "outpatient", "普通门诊": "outpatient", "急诊": "outpatient",
                         "门诊慢特病": "outpatient", "门诊慢性病": "outpatient", "门诊特殊病": "outpatient",
                         "门诊统筹": "outpatient",
                         "药店": "pharmacy", "购药": "pharmacy", "药店购药": "pharmacy", "零售药店": "pharmacy",
                         "定点药店购药": "pharmacy"},
    # 定点机构 lists: township and community health centres have wards (hospital); village clinics and
    # community health stations do not (clinic).
    "institutions.kind": {"医院": "hospital", "卫生院": "hospital", "乡镇卫生院": "hospital", "综合医院": "hospital",
                          "中医院": "hospital", "中医医院": "hospital", "中西医结合医院": "hospital", "专科医院": "hospital",
                          "妇幼保健院": "hospital", "社区卫生服务中心": "hospital",
                          "诊所": "clinic", "门诊部": "clinic", "村卫生室": "clinic", "社区卫生服务站": "clinic",
                          "卫生室": "clinic", "医务室": "clinic",
                          "药店": "pharmacy", "零售药店": "pharmacy", "药房": "pharmacy", "定点零售药店": "pharmacy",
                          "连锁药店": "pharmacy", "单体药店": "pharmacy",
                          "养老院": "nursing_home", "养老机构": "nursing_home", "护理院": "nursing_home",
                          "敬老院": "nursing_home"},
    "cards.kind": {"医保卡": "card", "社保卡": "card", "电子凭证": "evoucher", "医保电子凭证": "evoucher"},
    "ownership": {"公立": "public", "民营": "private", "私立": "private"},
}

MISSING_VALUES: dict[str, tuple[str, ...]] = {
    "*": ("未知", "不详", "未说明", "unknown"),
    "gender": ("0", "9", "未知的性别", "未说明的性别"),
}
"""Coded values that say the value is not known: the cell is empty, not a reason to lose the row (an
unknown sex cost a person and every claim of his). By column, ``*`` for every coded column; a column
that must be filled is then missing, and its row rejected for that."""

FILE_ALIASES: dict[str, tuple[str, ...]] = {
    "persons": ("参保人",),
    "cards": ("医保卡", "凭证"),
    "institutions": ("定点机构", "医药机构"),
    "prescribers": ("医保医师", "医师"),
    "intermediaries": ("中介",),
    "settlements": ("结算", "结算记录"),
}


def _fold(header: str) -> str:
    """A header as aliases are compared: NFKC, lower case; spaces are '_' between Latin words and
    nothing between Chinese characters (``姓　名`` is 姓名, padded to the width of a longer header).

    >>> [_fold(h) for h in ("Person ID", "姓　名", " 性 别 ")]
    ['person_id', '姓名', '性别']
    """
    folded = unicodedata.normalize("NFKC", header).strip().lower()
    return re.sub(r"\s+", "" if not folded.isascii() else "_", folded)


_UNIT = re.compile(r"\((?:元|人民币元|人民币|rmb|cny)\)$")
"""A unit after a header, which NFKC has made ASCII: 统筹支付金额（元）."""


def _alias_table(table: str) -> dict[str, tuple[int, str]]:
    """folded alias -> (priority, canonical); the canonical name itself ranks first."""
    result: dict[str, tuple[int, str]] = {}
    specific = _PER_TABLE.get(table, {})
    for column in ENTITY_TABLES[table].column_names:
        aliases = (column,) + specific.get(column, ()) + _COMMON.get(column, ())
        for rank, alias in enumerate(aliases):
            result.setdefault(_fold(alias), (rank, column))
    return result


_ALIASES = {table: _alias_table(table) for table in ENTITY_TABLES}


_EVERY_ALIAS = frozenset(alias for aliases in _ALIASES.values() for alias in aliases)


def header_cells(cells: list[str]) -> int:
    """How many of a row's cells name a column of some table: a header's do, a title's and a data row's
    do not (a workbook's header is found below its title rows by it).

    >>> header_cells(["某市医疗保障局2024年1月结算明细", "制表日期：2024-02-01"]), header_cells(["医保卡号", "参保人编号", "卡类型"])
    (0, 3)
    """
    return sum(1 for cell in cells if cell and (_fold(cell) in _EVERY_ALIAS or _UNIT.sub("", _fold(cell)) in _EVERY_ALIAS))


def map_headers(table: str, headers: list[str]) -> tuple[dict[str, str], list[str]]:
    """Map raw headers to canonical columns.

    Returns ``(raw -> canonical, ignored raw headers)``; of two headers meaning one column,
    the better-ranked alias is kept and the other is ignored.

    >>> map_headers("settlements", ["结算流水号", "结算时间", "入院时间", "备注"])
    ({'结算流水号': 'settlement_id', '入院时间': 'start_time'}, ['结算时间', '备注'])
    >>> map_headers("settlements", ["统筹支付金额（元）", "医疗费总额(元)"])[0]
    {'统筹支付金额（元）': 'fund_amount', '医疗费总额(元)': 'total_amount'}
    """
    best: dict[str, tuple[int, str]] = {}
    for raw in headers:
        folded = _fold(raw)
        hit = _ALIASES[table].get(folded) or _ALIASES[table].get(_UNIT.sub("", folded))
        if hit and (hit[1] not in best or hit[0] < best[hit[1]][0]):
            best[hit[1]] = (hit[0], raw)
    mapping = {raw: canonical for canonical, (_, raw) in best.items()}
    return mapping, [h for h in headers if h not in mapping]
