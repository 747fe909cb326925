"""Every detection parameter in one typed object, with its default and the reason for it.

Modules take their section of ``DetectionConfig`` and hold no thresholds of their own, so a
fund can tune detection for its city in one place (``graphsvc detect --config FILE.json``)
and a ring's evidence can always be traced to the parameters that produced it.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

__all__ = [
    "DetectionConfig", "SharedCardConfig", "SharedIdentifierConfig", "CoAdmissionLockstepConfig", "SharedAddressConfig",
    "CardBurstConfig", "PrescriberCollusionConfig", "CareHomeWavesConfig", "TraceCodeResoldConfig", "CommunityConfig",
    "RingConfig", "saturate", "config_problems",
]

_log = logging.getLogger(__name__)

_RENAMED_SECTIONS: dict[str, str] = {"lockstep": "co_admission_lockstep", "trace_code": "trace_code_resold"}
"""Sections that now carry their detector's name (old name -> new): files written with the old
name still load, with a warning."""


def saturate(x: float, half: float) -> float:
    """Map a non-negative count onto [0, 1): 0 at 0, 0.5 at ``half``, towards 1 beyond.

    Every finding's strength is built from this, so a bigger count always means more
    suspicion but never certainty from one fact alone.

    >>> saturate(0, 4), saturate(4, 4), round(saturate(12, 4), 2)
    (0.0, 0.5, 0.75)
    """
    return max(x, 0.0) / (max(x, 0.0) + half)


_DAYS = 366
"""Longest window in days, and ``_DAYS`` × 1440 in minutes: a year, which detection reads a city over.
A window beyond the calendar (a few zeros too many) is refused, not handed to the SQL as an interval."""


class _Section(BaseModel):
    # NaN and infinity are not thresholds: JSON's 1e999 reads as infinity, and every comparison
    # with NaN is false, so either would switch a detector off silently.
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    @field_validator("*", mode="before")
    @classmethod
    def _no_flags(cls, value: Any) -> Any:
        """JSON's ``true`` is not a count or a share (pydantic would read it as 1)."""
        if isinstance(value, bool):
            raise ValueError("true/false where a number goes")
        return value


class SharedCardConfig(_Section):
    two_places_minutes: int = Field(
        30, ge=1, le=_DAYS * 1440, description="one card at two institutions within this many minutes is in two places at once")
    after_death_grace_days: int = Field(
        1, ge=0, le=_DAYS, description="claims dated up to this many days after a death date are the settling of the final stay")
    min_other_users: int = Field(
        4, ge=1, description="a card must pay for at least this many persons outside its holder's household; up to "
                             "three are most often close relatives living elsewhere (parents in a care home, a child "
                             "in a dormitory), which mutual aid (家庭共济) allows")
    min_other_households: int = Field(
        3, ge=1, description="…who live in at least this many households: a worker's card paying for his parents, wife "
                             "and child at the family home, or for his parents and his wife's, is mutual aid")
    family_max_users: int = Field(
        7, ge=1, description="…unless they are more than this many, more than a worker's spouse, children, parents and "
                             "parents-in-law: then their households do not make it mutual aid")
    used_by_others_strength: float = Field(
        0.5, gt=0, lt=1, description="strength of a card used for persons outside the holder's household")
    after_death_strength: float = Field(0.9, gt=0, lt=1, description="strength of a dead holder's card being used")
    after_death_family_strength: float = Field(
        0.25, gt=0, lt=1, description="…by his own household only: improper, but a family's, not a scheme's; "
                                      "below a ring's minimum score, kept as a finding")
    operator_min_dead_holders: int = Field(
        3, ge=2, description="one operator (cashier) at one institution settling on the cards of at least this many "
                             "dead persons, after their deaths and not for their households, links them: one "
                             "scheme through his till (at the after-death strength)...")
    operator_p_value: float = Field(
        1e-3, gt=0, lt=1, description="...when chance puts that many of the institution's after-death claims on his "
                                      "login with a smaller probability, each at his share of its other claims of that "
                                      "hour: a pharmacy ringing every sale up under one till login, or an evening "
                                      "login taking every sale after work, links nobody")
    two_places_strength: float = Field(0.3, gt=0, lt=1,
                                       description="strength of one card in two places; chance makes some of these")


_BASE_STRENGTH: dict[str, float] = {
    "agent": 0.9, "payee_account": 0.95, "contact_phone": 0.8, "bound_phone": 0.9,
    "card_device": 0.9, "scan_device": 0.85, "own_phone": 0.6,
}
"""Strength ceiling of a shared identifier per way of sharing (``SharedIdentifierConfig.base_strength``)."""


class SharedIdentifierConfig(_Section):
    collector_pharmacy_share: float = Field(
        0.9, gt=0, le=1, description="others' e-vouchers on one phone or device whose claims are at least this share "
                                     "pharmacy purchases, none of a dead holder, suggest a card collector")
    min_households: int = Field(
        3, ge=2, description="an identifier must link persons of at least this many households; "
                             "a family sharing a phone is one household")
    family_binding_households: int = Field(
        3, ge=0, description="e-vouchers of at most this many households on one phone or device are a family's "
                             "(亲情账户: one's own, one's parents', one's spouse's parents'), explained; 0 explains none")
    max_households: int = Field(
        300, ge=10, description="more households than this is a switchboard or placeholder value, not a person's")
    households_half: float = Field(
        4.0, gt=0, description="extra households (beyond the first) at which a shared identifier's strength is half its base")
    base_strength: dict[str, float] = Field(
        default_factory=lambda: dict(_BASE_STRENGTH),
        description="strength ceiling per way of sharing: money flowing to one account weighs most; a file "
                    "names the ways it changes, the others keep these")
    routine_claims_per_person: float = Field(
        1.5, gt=0, description="an agent or contact phone with at most this many claims per person may be routine "
                               "agency work (a village agent files one claim per household a year)...")
    routine_p_value: float = Field(
        1e-3, gt=0, lt=1, description="...unless its admissions are together more often than chance (Poisson) brings "
                                      "with this probability for that many claims over the period")
    routine_concentration_p_value: float = Field(
        1e-4, gt=0, lt=1, description="...or its busiest institution has more of its claims than the usual shares of "
                                      "its persons' regions predict with this probability, times the institutions it "
                                      "used (the busiest is picked after the fact): a handful of an agent's claims at "
                                      "one hospital happen, dozens at a hospital the region seldom uses do not")
    elderly_age: int = Field(60, ge=0, le=150, description="a person this old or older is elderly: a group booking is "
                                                         "of a company's staff or a school's children, not mostly "
                                                         "elderly villagers")
    booking_days: int = Field(7, ge=1, le=_DAYS,
                              description="an agent or contact phone all of whose claims are outpatient visits within "
                                          "this many days, one a person, is a group booking (a company's health "
                                          "check seen over a few mornings), unless it is an intermediary's")
    together_days: int = Field(2, ge=0, le=_DAYS,
                               description="admissions this many days apart at one institution are together")
    institution_account_share: float = Field(
        0.75, gt=0, le=1, description="a payee account of all its claims at one institution, and of at least this share "
                                      "of that institution's claims, is the institution's settlement account (a direct "
                                      "settlement exported with the hospital's account; patients insured elsewhere, "
                                      "reimbursed by hand, are paid to their own cards), unless its patients stay more "
                                      "often than hospitals' (institution_stays_over_peers) or its admissions are "
                                      "together more often than chance (routine_p_value)")
    institution_stays_over_peers: float = Field(
        1.5, gt=0, description="an institution's account whose patients stay more than this many times the upper "
                               "quartile of the export's hospitals' stays per patient (and more than "
                               "routine_claims_per_person) are recruits coming back (频繁住院), not whoever walks in")
    adult_ages: tuple[int, int] = Field(
        (18, 70), description="when a phone is a household's, its adults (ages in [lo, hi)) are taken as its users; "
                              "children and the very old give a relative's phone")

    @field_validator("base_strength", mode="before")
    @classmethod
    def _base_strengths(cls, given: Any) -> Any:
        """The defaults with the ways a file names changed; an unknown way, or a strength that is not a
        share, is refused (a score outside [0, 1], or NaN dropping every ring, would follow)."""
        if not isinstance(given, dict):
            return given
        unknown = sorted(set(given) - set(_BASE_STRENGTH))
        if unknown:
            raise ValueError(f"unknown way(s) of sharing {unknown}; known: {sorted(_BASE_STRENGTH)}")
        for way, strength in given.items():
            if isinstance(strength, bool) or not isinstance(strength, (int, float)) or not 0 < strength < 1:
                raise ValueError(f"base_strength.{way} is {strength!r}: a strength is a number between 0 and 1")
        return {**_BASE_STRENGTH, **given}


class CoAdmissionLockstepConfig(_Section):
    admission_kinds: tuple[str, ...] = Field(
        ("inpatient",), description="settlement kinds that count as admissions")
    window_days: int = Field(2, ge=0, le=_DAYS, description="admissions this many days apart or closer are together")
    elderly_age: int = Field(60, ge=0, le=150, description="a member this old or older counts as elderly in a group's "
                                                         "elderly_share (a broker recruits elderly villagers)")
    min_pair_repeats: int = Field(
        2, ge=2, description="two persons together on at least this many separate occasions are a lockstep pair")
    min_persons: int = Field(3, ge=2, description="a lockstep group has at least this many persons")
    min_waves: int = Field(3, ge=2, description="…admitted together (two or more of them) on at least this many occasions")
    schedule_min_waves: int = Field(
        12, ge=3, description="a group meeting this often at a weekly cadence or faster is on a treatment schedule "
                              "(dialysis, chemotherapy) and explained")
    schedule_max_gap_days: float = Field(7.0, gt=0, description="median days between meetings of a treatment schedule")
    cycle_min_waves: int = Field(
        4, ge=3, description="…or this often on a fixed cycle (chemotherapy: every 14, 21 or 28 days)")
    cycle_max_days: int = Field(28, ge=1, le=_DAYS, description="the longest cycle of a treatment schedule, in days")
    cycle_min_days: int = Field(14, ge=1, le=_DAYS, description="the shortest cycle of a person's own treatment, in days "
                                                                "(chemotherapy every 14, 21 or 28 days; a weekly stay is frequent stays)")
    cycle_tolerance_days: int = Field(
        3, ge=0, le=_DAYS, description="…each gap between sessions within this many days of the cycle's median "
                                       "(a session moved for a holiday)")
    cycle_max_stay_days: int = Field(
        3, ge=0, le=_DAYS, description="…each person's own stays at the centre on a cycle of his own, of at most this "
                                       "many days each (chemotherapy billed as a short stay; a gang's fake stays last "
                                       "longer)")
    schedule_max_stay_days: int = Field(
        0, ge=0, le=_DAYS, description="…whose sessions last at most this many days (dialysis billed as a stay is a same-day "
                             "session); a group staying longer every week is frequent stays (频繁住院), not treatment")
    strength_half: float = Field(
        6.0, gt=0, description="(waves beyond 2) × (persons beyond 1) at which lockstep strength is 0.5")
    p_value: float = Field(
        1e-4, gt=0, lt=1, description="when most of a group live at one address, a wave counts only if the admissions "
                                      "of that address's other persons to the institution (Poisson) bring that many "
                                      "persons in one window with a smaller probability")
    member_p_value: float = Field(
        1e-2, gt=0, lt=1, description="a person is one of a group only if being in as many of its waves as she was is "
                                      "rarer than this by chance, at her own admissions and the group's waves per "
                                      "institution (a gang member in 3 of 4 waves: 0.001; a frequent patient of its "
                                      "hospital in 2 of 8: 0.06)")
    group_p_value: float = Field(
        1e-10, gt=0, lt=1, description="a group is reported only if its pairs are together in its waves more often than "
                                       "the members' own admissions per institution bring (Poisson), times the lockstep "
                                       "pairs at its institutions it was picked from, with this probability. Among 300 frequent patients "
                                       "of one hospital (3-5 stays a year) chance groups reach 1e-12 before that "
                                       "factor; a gang of 4 admitted together 3 times is near 1e-18")
    base_rate_address_factor: int = Field(
        3, ge=2, description="…an address holding at least this many times the group's persons (a care home, a "
                             "dormitory); a smaller one is the group's own flat and has no base rate apart from it")
    group_density: float = Field(
        1.0, gt=0, description="Leiden (CPM) keeps a group of lockstep pairs together while its pairs repeat more "
                               "than this on average (a pair absent from the group counts 0): a gang's pairs repeat "
                               "2-8 times; two groups that met at one hospital now and then share few pairs")
    seed: int = Field(42, description="seed of the Leiden run that splits lockstep pairs into groups")


class SharedAddressConfig(_Section):
    window_days: int = Field(2, ge=0, le=_DAYS,
                             description="persons of one address admitted this many days apart are together")
    min_occasions: int = Field(
        3, ge=2, description="…on at least this many occasions: an address shared by persons who fall ill apart "
                             "(a group rental) is no evidence; two chance co-admissions in a year happen")
    min_persons: int = Field(3, ge=2, description="at least this many persons of the address among them")
    max_persons: int = Field(
        30, ge=3, description="an address holding more persons is a dormitory, a care home or a block of flats, "
                              "where co-admissions happen by chance and the care-home detector weighs them")
    strength: float = Field(0.8, gt=0, lt=1, description="strength ceiling of a shared address")
    half: float = Field(6.0, gt=0, description="(occasions beyond 1) × (persons beyond 1) at which strength is half its ceiling")


class CardBurstConfig(_Section):
    minutes: int = Field(15, ge=1, le=1440, description="a burst is many cards swiped within this many minutes "
                                                       "(at most a day)")
    min_cards: int = Field(6, ge=3, description="…at least this many distinct cards at one pharmacy")
    p_value: float = Field(
        1e-7, gt=0, lt=1, description="a window is a burst only if the pharmacy's usual traffic (Poisson) brings that "
                                      "many swipes with a smaller probability; about 10 million windows are tested "
                                      "a year in a city of a million")
    kinds: tuple[str, ...] = Field(("pharmacy",), description="settlement kinds searched for bursts")
    bursts_half: float = Field(2.0, gt=0, description="bursts at one pharmacy at which strength is half its ceiling")
    key_drugs: tuple[str, ...] = Field(
        ("人血白蛋白", "白蛋白", "奥希替尼", "甘精胰岛素", "曲妥珠单抗", "利伐沙班"),
        description="high-value drugs under key supervision (seed 003, attachment 1), matched as substrings of items")


class PrescriberCollusionConfig(_Section):
    min_unseen_persons: int = Field(
        5, ge=2, description="a prescriber's scripts at one pharmacy for at least this many persons he never saw")
    min_unseen_share: float = Field(
        0.25, gt=0, le=1, description="…making up at least this share of his scripts filled there (his real "
                                      "patients fill scripts at the same pharmacy too)")
    persons_half: float = Field(6.0, gt=0, description="unseen persons (beyond 2) at which strength is 0.5")
    beyond_usual: float = Field(
        2.0, ge=1, description="a person he saw, with more scripts a visit than this many times the export's "
                               "usual most (95th percentile of scripts per visit), counts as not seen: a token "
                               "visit, then months of scripts")
    usual_scripts_per_visit: int = Field(
        3, ge=1, description="scripts a visit any patient may fill, and the usual most where the export has too few "
                             "pairs to say its own (a quarterly visit, a month's medicine filled three times)")
    norm_pairs: int = Field(100, ge=1, description="prescriber–patient pairs with a visit and a script an export needs "
                                                   "for its own usual scripts a visit")


class CareHomeWavesConfig(_Section):
    window_days: int = Field(3, ge=0, le=_DAYS,
                             description="residents admitted this many days apart or closer form one wave")
    min_wave_residents: int = Field(3, ge=2, description="a wave holds at least this many residents of one home")
    min_waves: int = Field(3, ge=2, description="a home sending waves to one hospital at least this often is flagged")
    waves_half: float = Field(1.0, gt=0, description="waves beyond 2 at which strength is 0.5")
    p_value: float = Field(
        1e-4, gt=0, lt=1, description="a home is reported only if chance (its residents' admissions to that hospital "
                                      "at their mean rate, Poisson) brings as many waves of some size with a smaller "
                                      "probability; a city holds a few thousand home-hospital pairs")


class TraceCodeResoldConfig(_Section):
    boxes_half: float = Field(2.0, gt=0, description="boxes sold twice at which strength is 0.5")
    min_buyer_sales: int = Field(
        2, ge=1, description="a buyer is in the trade with at least this many sales of boxes sold twice (first or "
                             "later sale); one such sale is a customer of the pharmacy that resold it")
    min_front_sales: int = Field(
        3, ge=1, description="a later buyer is a front of the pharmacy that resold the boxes with at least this many "
                             "resold boxes bought there, half or more of his trace-coded purchases there")


class CommunityConfig(_Section):
    resolution: float = Field(
        0.5, gt=0, le=10, description="Leiden resolution (modularity); higher splits more. Below 1 so a "
                                      "ring that is a large share of a small city's suspicion graph is not split; "
                                      "at 10 and beyond nearly every person is a community of one")
    seed: int = Field(42, description="Leiden's random seed: the same data and seed give the same rings")
    iterations: int = Field(-1, ge=-1, description="Leiden iterations; -1 runs until no improvement (0 would run "
                                                   "none: every person a community of one)")

    @field_validator("iterations")
    @classmethod
    def _some_iterations(cls, iterations: int) -> int:
        if iterations == 0:
            raise ValueError("0 iterations leave every person a community of one: give -1 (until no improvement) "
                             "or a count")
        return iterations


class RingConfig(_Section):
    min_persons: int = Field(3, ge=2, description="a ring holds at least this many persons")
    min_score: float = Field(
        0.3, ge=0, lt=1, description="a ring resting on weak facts only (one burst of everyday medicine, a phone "
                                     "shared by three households now and then) is no lead worth an investigator's "
                                     "day; its findings are still in the run. A forged-prescription ring of six "
                                     "unseen persons scores 0.4, so the bar stays below that")
    min_pattern_strength: float = Field(
        0.3, ge=0, lt=1, description="a finding must be at least this strong to decide a ring's pattern; "
                                     "chance-prone facts (one card in two places) stay below it")
    min_pattern_coverage: float = Field(
        0.5, gt=0, le=1, description="…and the findings suggesting a pattern must name at least this share of the "
                                     "ring's persons: one card seen in two places does not make a ring of resellers "
                                     "an identity-misuse ring")
    broker_elderly_share: float = Field(
        0.5, gt=0, le=1, description="a group admitted together, fewer than this share of them elderly "
                                     "(co_admission_lockstep.elderly_age), whose shared phone or account is no known "
                                     "intermediary's, is a professional gang, not a broker's recruits (elderly "
                                     "villagers)")
    pattern_precedence: tuple[str, ...] = Field(
        ("care_home_collusion", "black_intermediary", "card_collector", "prescriber_pharmacy_collusion",
         "identity_misuse", "professional_gang", "other"),
        description="when findings suggest several patterns, the first in this order names the ring: the more "
                    "specific scheme wins (care-home waves are also lockstep; a broker's recruits too)")
    match_jaccard: float = Field(
        0.5, gt=0, le=1, description="a new ring keeps an earlier ring's id when their persons overlap this much (Jaccard)")


class DetectionConfig(_Section):
    shared_card: SharedCardConfig = SharedCardConfig()
    shared_identifier: SharedIdentifierConfig = SharedIdentifierConfig()
    co_admission_lockstep: CoAdmissionLockstepConfig = CoAdmissionLockstepConfig()
    shared_address: SharedAddressConfig = SharedAddressConfig()
    card_burst: CardBurstConfig = CardBurstConfig()
    prescriber_collusion: PrescriberCollusionConfig = PrescriberCollusionConfig()
    care_home_waves: CareHomeWavesConfig = CareHomeWavesConfig()
    trace_code_resold: TraceCodeResoldConfig = TraceCodeResoldConfig()
    community: CommunityConfig = CommunityConfig()
    ring: RingConfig = RingConfig()

    @model_validator(mode="before")
    @classmethod
    def _renamed_sections(cls, data: Any) -> Any:
        """Read a section under its old name (``_RENAMED_SECTIONS``).

        >>> DetectionConfig.model_validate({"lockstep": {"window_days": 3}}).co_admission_lockstep.window_days
        3
        >>> try:
        ...     DetectionConfig.model_validate({"trace_code": {}, "trace_code_resold": {}})
        ... except ValueError as e:
        ...     print(e.errors()[0]["msg"])
        Value error, sections 'trace_code' and 'trace_code_resold' are one section; keep 'trace_code_resold'
        """
        if not isinstance(data, dict):
            return data
        for old, new in _RENAMED_SECTIONS.items():
            if old not in data:
                continue
            if new in data:
                raise ValueError(f"sections {old!r} and {new!r} are one section; keep {new!r}")
            _log.warning("detection config: section %r is now called %r; reading it as that", old, new)
            data = {(new if key == old else key): value for key, value in data.items()}
        return data

    @model_validator(mode="after")
    def _known_patterns(self) -> DetectionConfig:
        from graphsvc.detect.finding import PATTERNS

        unknown = set(self.ring.pattern_precedence) - set(PATTERNS)
        if unknown:
            raise ValueError(f"unknown pattern(s) in ring.pattern_precedence: {sorted(unknown)}; known: {PATTERNS}")
        return self

    @classmethod
    def from_file(cls, path: Path) -> DetectionConfig:
        """Read overrides from JSON; sections and keys left out keep their defaults. Raises ``ValueError``
        for a file that is not such JSON (nested past what the parser takes, too)."""
        try:
            document = json.loads(path.read_text(encoding="utf-8"))
        except RecursionError:
            raise ValueError("nested too deeply to be a detection config") from None
        return cls.model_validate(document)


def config_problems(exc: ValidationError) -> str:
    """What pydantic refused in a detection config, on one line, each value named by its key
    (``ring.min_score: Input should be ...``), without the value itself or pydantic's links: for the
    command line and the API alike."""
    return "; ".join(f"{'.'.join(map(str, e['loc'])) or 'config'}: {e['msg']}" for e in exc.errors())
