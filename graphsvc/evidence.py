"""Evidence sentences, rendered from a finding's structured facts in Chinese and English.

A detector states what it found as facts (``Finding.facts``: ids, counts, dates, amounts) and
never writes prose: ``render(kind, facts, lang)`` turns them into the sentence an investigator
reads, in Chinese (``zh``, the users' language) or English (``en``, the sentence stored with the
finding). Because the sentence is made from the facts alone, whoever masks the facts for a role
(``queries.rings``) masks the sentence too: no pattern has to find a phone or an address in text.

``FACTS`` says what every fact holds (a node type for ids, or a kind of value), so that the facts
can be masked by kind; a fact missing from it is refused, not shown.

>>> facts = {"via": "payee_account", "value": "6222000000000001", "value_type": "account", "broker": None,
...          "households": 27, "persons": 28, "claims": 40, "fund": 123456.5, "cards": 0}
>>> render("shared_payee_account", facts)
'account 6222000000000001 is the payee account of claims of 28 persons in 27 households, 40 claim(s), fund 123,456.50'
>>> render("shared_payee_account", facts, "zh")
'账户 6222000000000001 是 27 户 28 人的理赔收款账户，涉及理赔 40 笔，统筹金额 123,456.50 元'
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from graphsvc.vocab import NODE_TYPES

__all__ = ["render", "explain", "fact_type", "FACTS", "KINDS", "REASONS", "Lang", "LANGUAGES", "MissingFacts"]

Lang = Literal["en", "zh"]
LANGUAGES: tuple[Lang, ...] = ("zh", "en")

FACTS: dict[str, str] = {
    # ids of the network's nodes: their node type (``value`` has its type in ``value_type``)
    "holder": "person", "holders": "person", "users": "person", "buyers": "person", "broker": "intermediary",
    "card": "card", "used_cards": "card", "devices": "device", "prescriber": "prescriber",
    "address": "address", "address_key": "address",
    "pharmacy": "institution", "home": "institution", "hospitals": "institution", "institutions": "institution",
    "wave_institutions": "institution", "resellers": "institution", "prescriber_institution": "institution",
    "institution": "institution", "from_institutions": "institution", "to_institutions": "institution", "example_institutions": "institution",
    # other ids and words
    "operator": "operator", "operators": "operator", "codes": "trace_code", "example_code": "trace_code", "via": "word", "value_type": "word",
    # how many, how much, when
    "households": "count", "persons": "count", "claims": "count", "cards": "count", "uses": "count",
    "occasions": "count", "waves": "count", "admissions": "count", "surnames": "count", "bursts": "count",
    "scripts": "count", "unseen_scripts": "count", "unseen_persons": "count", "boxes": "count",
    "seen_rarely": "count", "scripts_per_visit": "count", "elderly_share": "share", "account_of": "institution",
    "wave_size": "count", "home_admissions": "count", "home_residents": "count", "period_days": "count",
    "wave_persons": "count", "burst_cards": "count", "burst_minutes": "count", "minutes_later": "count",
    "cut_to_persons": "count", "persons_in_whole": "count",
    # why a look-alike is normal (``REASONS``)
    "agent_claims": "count", "agent_persons": "count", "pairs_together": "count", "together_days": "count",
    "months": "count", "institutions_used": "count", "busiest": "institution", "busiest_claims": "count",
    "chance_pairs": "number", "busiest_expected": "number", "family_tie": "word", "beyond_chance": "count",
    "rate_institutions": "institution", "rates": "number", "rate_needed": "count", "median_gap_days": "number",
    "searched_pairs": "count", "booked_persons": "count", "booked_institutions": "count",
    "booking_days": "count",
    "account_claims": "count", "institution_claims": "count", "institution_uses": "count",
    "chance_uses": "number",
    "fund": "money", "key_drug_share": "share", "concentration": "share", "chance_waves": "number",
    "p_value": "number",
    "death_date": "date", "booking_day": "date", "wave_dates": "date", "example_dates": "date", "first_script": "date",
    "last_script": "date", "first_use": "time", "last_use": "time", "burst_times": "time", "from_times": "time",
}
"""What each fact holds: the node type of the ids it names, or the kind of value. Lists hold the same
kind of value throughout. Personal values (persons', intermediaries' ids, phones, accounts, addresses) are
masked by this type for roles that may not see them."""


def fact_type(name: str, facts: dict[str, Any]) -> str:
    """What fact ``name`` of ``facts`` holds (``FACTS``; a shared identifier's ``value`` says it in ``value_type``).

    >>> fact_type("holder", {}), fact_type("value", {"value_type": "phone"})
    ('person', 'phone')
    """
    if name == "value":
        return facts["value_type"]
    try:
        return FACTS[name]
    except KeyError:
        raise ValueError(f"fact {name!r} is not declared in graphsvc.evidence.FACTS: "
                         "say what it holds, so that it can be masked") from None


class MissingFacts(KeyError):
    """The facts lack one the sentence needs (evidence saved before its facts were complete)."""


@dataclass(frozen=True)
class _Template:
    """A kind's sentence in each language: ``str.format`` over the facts and the ``parts`` made from them
    (lists joined, clauses that depend on the facts), so that both languages say the same things."""

    en: str
    zh: str
    parts: Callable[[dict[str, Any], Lang], dict[str, Any]]


def render(kind: str, facts: dict[str, Any], lang: Lang = "en") -> str:
    """The sentence for a finding of ``kind`` with ``facts``, in ``lang``.

    >>> render("card_used_by_others", {"card": "C1", "holder": "P1", "users": ["P2", "P3"], "claims": 3,
    ...                                "fund": 900.0}, "zh")
    '持卡人 P1 的医保卡 C1 为其家庭以外的 2 人支付理赔 3 笔（P2、P3），统筹金额 900.00 元'
    >>> render("card_used_by_others", {"card": "C1"})
    Traceback (most recent call last):
    ...
    graphsvc.evidence.MissingFacts: "card_used_by_others needs fact 'users'"
    """
    return _say(KINDS, kind, facts, lang)


def explain(reason: str, facts: dict[str, Any], lang: Lang = "en") -> str:
    """Why a finding that looks like a scheme is normal (its ``explained`` reason, ``REASONS``), in ``lang``.

    >>> explain("treatment_schedule", {"waves": 26, "median_gap_days": 2.0}, "zh")
    '规律治疗（透析、化疗）：同日一起就诊 26 次，间隔中位数 2 天'
    """
    return _say(REASONS, reason, facts, lang)


def _say(templates: dict[str, _Template], name: str, facts: dict[str, Any], lang: Lang) -> str:
    if lang not in LANGUAGES:
        raise ValueError(f"lang must be one of {', '.join(LANGUAGES)}")
    template = templates[name]
    try:
        for fact in facts:
            fact_type(fact, facts)
        return getattr(template, lang).format_map({**facts, **template.parts(facts, lang)})
    except KeyError as missing:
        raise MissingFacts(f"{name} needs fact {missing.args[0]!r}") from None


# ---- pieces both languages use ------------------------------------------------------------------


def _join(items: Sequence[Any], lang: Lang, sep: dict[str, str] | None = None, limit: int | None = None) -> str:
    """``items`` as a list in ``lang`` (", " / "、"), the first ``limit`` of them and "…" for the rest."""
    shown = items if limit is None else items[:limit]
    return (sep or {"en": ", ", "zh": "、"})[lang].join(str(i) for i in shown) + ("…" if len(shown) < len(items) else "")


def _waves(facts: dict[str, Any], lang: Lang, institutions: bool) -> str:
    """Each wave (admissions together) as "date [institution] (persons)"."""
    where = facts["wave_institutions"] if institutions else [None] * len(facts["wave_dates"])
    return _join([f"{day}{f' {inst}' if inst else ''}{f' ({n})' if lang == 'en' else f'（{n}）'}"
                  for day, inst, n in zip(facts["wave_dates"], where, facts["wave_persons"])], lang)


def _probability(p: float, lang: Lang) -> str:
    """``p`` to one significant digit; written 1×10⁻⁵ in Chinese, 1e-05 in English.

    >>> _probability(1.2e-05, "zh"), _probability(1.2e-05, "en"), _probability(0.31, "zh")
    ('1×10⁻⁵', '1e-05', '0.3')
    """
    text = f"{p:.1g}"
    if lang == "en" or "e" not in text:
        return text
    mantissa, exponent = text.split("e")
    return f"{mantissa}×10" + str(int(exponent)).translate(str.maketrans("-0123456789", "⁻⁰¹²³⁴⁵⁶⁷⁸⁹"))


# ---- one template per finding kind --------------------------------------------------------------


def _shared(facts: dict[str, Any], lang: Lang) -> dict[str, Any]:
    label = getattr(NODE_TYPES[facts["value_type"]], lang)
    broker = facts["broker"]
    if lang == "en":
        who = f"{label} {facts['value']}" + (f" (intermediary {broker})" if broker else "")
        then = (f", {facts['claims']} claim(s), fund {facts['fund']:,.2f}" if facts["fund"]
                else f", {facts['cards']} card(s)" if facts["cards"] else "")
    else:
        # a space before the verb, none after a full-width bracket
        who = f"{label} {facts['value']}" + (f"（中介 {broker}）" if broker else " ")
        then = (f"，涉及理赔 {facts['claims']} 笔，统筹金额 {facts['fund']:,.2f} 元" if facts["fund"]
                else f"，涉及医保卡 {facts['cards']} 张" if facts["cards"] else "")
    return {"who": who, "then": then}


_SHARED = {  # the way of sharing (``via``): how its sentence reads
    "contact_phone": ("{who} is the contact phone of claims of {persons} persons in {households} households{then}",
                      "{who}是 {households} 户 {persons} 人理赔的联系电话{then}"),
    "agent": ("{who} is the agent of claims of {persons} persons in {households} households{then}",
              "{who}是 {households} 户 {persons} 人理赔的代办人{then}"),
    "payee_account": ("{who} is the payee account of claims of {persons} persons in {households} households{then}",
                      "{who}是 {households} 户 {persons} 人的理赔收款账户{then}"),
    "bound_phone": ("{who} is the phone e-vouchers are bound to for {persons} persons in {households} households{then}",
                    "{who}绑定了 {households} 户 {persons} 人的医保电子凭证{then}"),
    "card_device": ("{who} is the device holding e-vouchers of {persons} persons in {households} households{then}",
                    "{who}上存有 {households} 户 {persons} 人的医保电子凭证{then}"),
    "scan_device": ("{who} is a device scanning cards not on it for {persons} persons in {households} households{then}",
                    "{who}扫描了 {households} 户 {persons} 人未在该设备登记的医保凭证{then}"),
    "own_phone": ("{who} is the registered phone of {persons} persons in {households} households{then}",
                  "{who}是 {households} 户 {persons} 人登记的本人电话{then}"),
}


def _used_by_others(facts: dict[str, Any], lang: Lang) -> dict[str, Any]:
    return {"n_users": len(facts["users"]), "user_list": _join(facts["users"], lang, limit=5)}


def _one_operator(facts: dict[str, Any], lang: Lang) -> dict[str, Any]:
    return {"n_holders": len(facts["holders"]), "holder_list": _join(facts["holders"], lang, limit=5),
            "p": _probability(facts["p_value"], lang)}


def _after_death(facts: dict[str, Any], lang: Lang) -> dict[str, Any]:
    cards = _join(facts["used_cards"], lang)
    first, last = facts["first_use"][:10], facts["last_use"][:10]
    places = _join(facts["institutions"], lang)
    if lang == "en":
        what = f"card(s) {cards or '(none named)'} used {facts['uses']} time(s) after, {first} to {last}, at {places}"
    elif cards:
        what = f"其医保卡 {cards} 在其死亡后被使用 {facts['uses']} 次（{first} 至 {last}），结算机构 {places}"
    else:
        what = f"死亡后仍以其身份结算 {facts['uses']} 次（{first} 至 {last}），结算机构 {places}"
    return {"what": what}


def _two_places(facts: dict[str, Any], lang: Lang) -> dict[str, Any]:
    pairs = list(zip(facts["from_institutions"], facts["from_times"], facts["to_institutions"], facts["minutes_later"]))
    if lang == "en":
        said = [f"{a} {t} and {b} {m} min later" for a, t, b, m in pairs]
    else:
        said = [f"{t} 在 {a} 结算，{m} 分钟后又在 {b} 结算" for a, t, b, m in pairs]
    return {"places": _join(said, lang, {"en": "; ", "zh": "；"}, limit=3)}


def _co_admission_lockstep(facts: dict[str, Any], lang: Lang) -> dict[str, Any]:
    institutions = facts["institutions"]
    several = len(institutions) > 1
    if lang == "en":
        where, heading = ((f"{len(institutions)} institutions", "date institution") if several
                          else (institutions[0], "date"))
    else:
        where, heading = (f" {len(institutions)} 家机构", "日期 机构") if several else (f" {institutions[0]} ", "日期")
    return {"where": where, "heading": heading, "wave_list": _waves(facts, lang, several)}


def _shared_address(facts: dict[str, Any], lang: Lang) -> dict[str, Any]:
    return {"wave_list": _waves(facts, lang, True)}


def _card_burst(facts: dict[str, Any], lang: Lang) -> dict[str, Any]:
    bursts = list(zip(facts["burst_times"], facts["burst_cards"], facts["burst_minutes"]))
    if lang == "en":
        said = [f"{t} {n} cards in {m} min" for t, n, m in bursts]
    else:
        said = [f"{t} 起 {m} 分钟内刷卡 {n} 张" for t, n, m in bursts]
    operators = _join(facts["operators"], lang) or ("-" if lang == "en" else "无")
    return {"burst_list": _join(said, lang, {"en": "; ", "zh": "；"}, limit=4), "n_devices": len(facts["devices"]),
            "operator_list": operators}


def _unseen(facts: dict[str, Any], lang: Lang) -> dict[str, Any]:
    home = facts["prescriber_institution"]
    of = (f" of {home}" if home else "") if lang == "en" else (f"{home} 的" if home else "")
    rarely = facts.get("seen_rarely") or 0  # findings stored before this fact was made have none
    if not rarely:
        said = ""
    elif lang == "en":
        said = (f" or saw far less often than he wrote for them ({rarely} of them: more than "
                f"{facts['scripts_per_visit']} scripts a visit)")
    else:
        said = f"或就诊次数远少于处方数（其中 {rarely} 人每次就诊对应处方超过 {facts['scripts_per_visit']} 张）"
    return {"of": of, "share": facts["unseen_scripts"] / facts["scripts"], "rarely": said}


def _care_home(facts: dict[str, Any], lang: Lang) -> dict[str, Any]:
    several = len(facts["hospitals"]) > 1  # each wave then says where it went
    return {"hospital_list": _join(facts["hospitals"], lang), "wave_list": _waves(facts, lang, several),
            "where": " hospital" if several else "", "where_zh": " 医院" if several else "",
            "p": _probability(facts["p_value"], lang)}


def _trace_code_resold(facts: dict[str, Any], lang: Lang) -> dict[str, Any]:
    return {"reseller_list": _join(facts["resellers"], lang), "buyer_list": _join(facts["buyers"], lang)}


KINDS: dict[str, _Template] = {
    **{f"shared_{via}": _Template(en, zh, _shared) for via, (en, zh) in _SHARED.items()},
    "card_used_by_others": _Template(
        "card {card} of {holder} paid {claims} claim(s) for {n_users} person(s) outside the holder's household "
        "({user_list}), fund {fund:,.2f}",
        "持卡人 {holder} 的医保卡 {card} 为其家庭以外的 {n_users} 人支付理赔 {claims} 笔（{user_list}），统筹金额 {fund:,.2f} 元",
        _used_by_others),
    "card_used_after_death": _Template(
        "{holder} died {death_date}; {what}; fund {fund:,.2f}",
        "参保人 {holder} 已于 {death_date} 死亡，{what}；统筹金额 {fund:,.2f} 元",
        _after_death),
    "dead_cards_one_operator": _Template(
        "operator {operator} at {institution} settled {uses} claim(s) on the cards of {n_holders} persons after their "
        "deaths ({holder_list}), {first_use} to {last_use}, fund {fund:,.2f}; {uses} of the {institution_uses} such "
        "claims there, where his share of its other claims at those hours brings {chance_uses:.1f} (p = {p})",
        "{institution} 的操作员 {operator} 在 {n_holders} 名参保人死亡后用其医保卡结算 {uses} 笔（{holder_list}），"
        "{first_use} 至 {last_use}，统筹金额 {fund:,.2f} 元；该机构此类结算 {institution_uses} 笔中 {uses} 笔经其手，"
        "按其在相同时段经手其他结算的比例，偶然约 {chance_uses:.1f} 笔（偶然概率 {p}）",
        _one_operator),
    "card_in_two_places": _Template(
        "card {card} of {holder} settled at two places at once: {places}",
        "持卡人 {holder} 的医保卡 {card} 同一时间在两地结算：{places}",
        _two_places),
    "co_admission_lockstep": _Template(
        "{persons} persons admitted together to {where} on {waves} occasions ({heading} (persons): {wave_list}); "
        "{admissions} admissions, fund {fund:,.2f}",
        "{persons} 人在{where}结伴入院 {waves} 次（{heading}（人数）：{wave_list}）；共入院 {admissions} 人次，"
        "统筹金额 {fund:,.2f} 元",
        _co_admission_lockstep),
    "shared_address": _Template(
        "{persons} persons of {surnames} surname(s) with no phone in common are registered at {address} and were "
        "admitted together on {occasions} occasions (date institution (persons): {wave_list}); {admissions} "
        "admissions, fund {fund:,.2f}",
        "{persons} 名参保人（{surnames} 个姓氏，互无共同电话）登记在同一地址（{address}），结伴入院 {occasions} 次"
        "（日期 机构（人数）：{wave_list}）；共入院 {admissions} 人次，统筹金额 {fund:,.2f} 元",
        _shared_address),
    "card_burst": _Template(
        "{bursts} burst(s) of many cards at {pharmacy}: {burst_list}; {cards} cards of {persons} persons on "
        "{n_devices} device(s), operator(s) {operator_list}; {key_drug_share:.0%} key drugs; fund {fund:,.2f}",
        "{pharmacy} 出现 {bursts} 次多卡集中刷卡：{burst_list}；涉及 {persons} 人的医保卡 {cards} 张、设备 {n_devices} 台，"
        "操作员 {operator_list}；重点药品占 {key_drug_share:.0%}；统筹金额 {fund:,.2f} 元",
        _card_burst),
    "unseen_prescriptions": _Template(
        "prescriber {prescriber}{of} is named on {unseen_scripts} scripts at {pharmacy} for {unseen_persons} persons "
        "he never saw in a visit or stay{rarely} ({share:.0%} of his scripts there; {concentration:.0%} of all his "
        "scripts are filled there), {first_script} to {last_script}, fund {fund:,.2f}",
        "{of}医师 {prescriber} 为 {unseen_persons} 名从未在其门诊或住院就诊{rarely}的参保人开具处方 {unseen_scripts} 张，"
        "均在 {pharmacy} 配药（占其在该药店处方的 {share:.0%}；其全部处方的 {concentration:.0%} 在该药店配药），"
        "{first_script} 至 {last_script}，统筹金额 {fund:,.2f} 元",
        _unseen),
    "care_home_waves": _Template(
        "residents of {home} admitted to {hospital_list} in {waves} waves (date{where} (residents): {wave_list}); "
        "{persons} residents, {admissions} admissions, fund {fund:,.2f}; {home_admissions} hospital admissions of "
        "{home_residents} residents in {period_days} days, at the home's rate at each hospital, bring "
        "{chance_waves:.2f} waves of {wave_size}+ by chance, {waves} seen (p = {p})",
        "养老机构 {home} 的入住老人分 {waves} 批住进 {hospital_list}（日期{where_zh}（人数）：{wave_list}）；共 {persons} 人、"
        "入院 {admissions} 人次，统筹金额 {fund:,.2f} 元；{period_days} 天内该机构 {home_residents} 名老人住院 "
        "{home_admissions} 人次，按其在各医院的频率偶然出现 {wave_size} 人以上的批次约 {chance_waves:.2f} 批，实际 {waves} 批"
        "（偶然概率 {p}）",
        _care_home),
    "trace_code_resold": _Template(
        "{boxes} box(es) sold on insurance twice or more, e.g. code {example_code} at {example_institutions[0]} "
        "{example_dates[0]} and again at {example_institutions[1]} {example_dates[1]}; resold at {reseller_list}; "
        "buyers {buyer_list}; fund {fund:,.2f}",
        "{boxes} 盒药品被医保重复销售（同一追溯码售出两次以上），例如追溯码 {example_code} 于 {example_dates[0]} 在 "
        "{example_institutions[0]} 售出，{example_dates[1]} 又在 {example_institutions[1]} 售出；"
        "回流销售药店 {reseller_list}；购药人 {buyer_list}；统筹金额 {fund:,.2f} 元",
        _trace_code_resold),
}
"""Every finding kind the detectors report, with its sentence."""


# ---- one template per reason a look-alike is normal ---------------------------------------------


def _no_parts(facts: dict[str, Any], lang: Lang) -> dict[str, Any]:
    return {}


def _routine(facts: dict[str, Any], lang: Lang) -> dict[str, Any]:
    return {"per_person": facts["agent_claims"] / facts["agent_persons"]}


def _family(facts: dict[str, Any], lang: Lang) -> dict[str, Any]:
    ties = {"phone": ("a shared phone", "共用一个电话"), "surname": ("one surname", "同姓")}
    return {"tie": ties[facts["family_tie"]][lang == "zh"]}


def _chance(facts: dict[str, Any], lang: Lang) -> dict[str, Any]:
    return {"p": _probability(facts["p_value"], lang)}


def _base_rates(facts: dict[str, Any], lang: Lang) -> dict[str, Any]:
    rates = zip(facts["rate_institutions"], facts["rates"], facts["rate_needed"])
    if lang == "en":
        return {"base": "; ".join(f"{i}: {r:.2f} per window, {n}+ persons beyond chance" for i, r, n in rates)}
    return {"base": "；".join(f"{i}：每个时间窗 {r:.2f} 次，{n} 人以上才超出偶然" for i, r, n in rates)}


REASONS: dict[str, _Template] = {
    "routine_agency_work": _Template(
        "routine agency work: {agent_claims} claims for {agent_persons} persons ({per_person:.1f} each), "
        "{pairs_together} admission pair(s) within {together_days} days where chance brings {chance_pairs:.1f}, over "
        "{months} months at {institutions_used} institutions; the busiest, {busiest}, has {busiest_claims} where its "
        "persons' own visits and stays elsewhere predict {busiest_expected:.1f}",
        "正常代办业务：为 {agent_persons} 人办理结算 {agent_claims} 笔（人均 {per_person:.1f} 笔），{together_days} 天内"
        "同院入院 {pairs_together} 对，偶然即有约 {chance_pairs:.1f} 对；历时 {months} 个月，涉及 {institutions_used} 家"
        "机构；最多的 {busiest} 有 {busiest_claims} 笔，按这些人在别处的就诊预计约 {busiest_expected:.1f} 笔",
        _routine),
    "institution_account": _Template(
        "the institution's own settlement account: payee of {account_claims} of the {institution_claims} claims "
        "of their kind at {institution}, {pairs_together} admission pair(s) within {together_days} days where chance brings "
        "{chance_pairs:.1f}",
        "定点机构自身的结算账户：{institution} 的同类 {institution_claims} 笔结算中 {account_claims} 笔付至该账户，"
        "{together_days} 天内同院入院 {pairs_together} 对，偶然即有约 {chance_pairs:.1f} 对",
        _no_parts),
    "group_booking": _Template(
        "one group booking: outpatient visits of {booked_persons} persons within {booking_days} day(s) from "
        "{booking_day}, one each, at {booked_institutions} institution(s) (a company's health check, a school's "
        "vaccination)",
        "一次团体预约：自 {booking_day} 起 {booking_days} 天内 {booked_persons} 人门诊就诊，每人一次，涉及 "
        "{booked_institutions} 家机构（单位体检、学校接种等）",
        _no_parts),
    "family_binding": _Template(
        "a family's e-vouchers on one phone (the app's family accounts): {cards} card(s) of {households} households, "
        "no more than one's own, one's parents' and one's spouse's parents'",
        "亲情账户：同一手机绑定 {households} 户的 {cards} 张电子凭证，未超出本人、父母和配偶父母三户",
        _no_parts),
    "family_at_address": _Template(
        "a family at one address: {tie} ties the {persons} persons admitted together",
        "同住一址的一家人：一同入院的 {persons} 人{tie}",
        _family),
    "care_home_chance": _Template(
        "regular admissions of a home's residents: its waves are what chance brings ({home_admissions} hospital "
        "admissions of {home_residents} residents in {period_days} days, at the home's rate at each hospital, bring "
        "{chance_waves:.2f} waves of {wave_size}+ by chance, {waves} seen (p = {p}))",
        "养老机构老人的正常住院：成批入院在偶然范围内（{period_days} 天内 {home_residents} 名老人住院 "
        "{home_admissions} 人次，按其在各医院的频率偶然即有 {wave_size} 人以上的批次约 {chance_waves:.2f} 批，实际 {waves} 批，偶然概率 {p}）",
        _chance),
    "address_base_rate": _Template(
        "co-admissions of persons at one address ({address_key}) within its base rate: {waves} occasions of 2+, "
        "{beyond_chance} beyond chance ({base})",
        "同一地址（{address_key}）人员同院入院未超出其基础比率：2 人以上同时入院 {waves} 次，超出偶然的 "
        "{beyond_chance} 次（{base}）",
        _base_rates),
    "treatment_schedule": _Template(
        "a treatment schedule (dialysis, chemotherapy): {waves} same-day sessions together, a median "
        "{median_gap_days:.0f} days apart",
        "规律治疗（透析、化疗）：同日一起就诊 {waves} 次，间隔中位数 {median_gap_days:.0f} 天",
        _no_parts),
    "within_chance": _Template(
        "co-admissions within chance for persons admitted this often: {pairs_together} pairs together in {waves} "
        "waves where their own admissions bring {chance_pairs:.1f} (p = {p} over {searched_pairs} pairs at its "
        "institutions)",
        "住院频繁者的同时入院在偶然范围内：{waves} 批中同时入院 {pairs_together} 对，按各自的入院次数偶然即有约 "
        "{chance_pairs:.1f} 对（偶然概率 {p}，其所在机构共检验 {searched_pairs} 对）",
        _chance),
}
"""Every reason a detector gives for a look-alike (``Finding.explained``), with its sentence over the
finding's facts: such a finding joins no ring and is kept with the run."""
