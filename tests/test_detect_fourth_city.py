"""What a fourth city made blind taught detection (``bench/fourth_city.py``, 重庆, written from the data
contract and the domain notes by another hand): each rule in a scene with a known answer, beside the
scheme it must still find.

- care-home residents registered at their rooms (``…敬老院3栋1单元2-6``), the caregiver's mobile as
  their contact: the home's residents, not strangers in thirty households on one phone;
- a daughter managing her parents' and in-laws' e-vouchers (家庭共济): her agent id, phone and device
  over the same four persons are one fact, not three;
- a collector buying drugs on the cards he holds and reselling them (倒卖回流药): a card collector's
  ring, not a resale ring of its own.
"""

from __future__ import annotations

from graphsvc.detect import detect_rings_in
from graphsvc.detect.care_home_waves import care_home_wave_findings
from graphsvc.detect.shared_identifier import shared_identifier_findings
from helpers.rings import rings_of
from helpers.scenes import (
    ALBUMIN,
    CAREGIVER,
    Scene,
    black_intermediary,
    broker_near_a_home,
    care_home_in_rooms,
    day,
    house,
    name_of,
    rotating_gang,
    two_brokers_one_hospital,
    until,
)


def test_residents_registered_at_their_rooms_are_the_homes_and_its_caregivers_phone_no_lead():
    scene = Scene()
    care_home_in_rooms(scene, "RM")
    phone = [f for f in shared_identifier_findings(scene.connection()) if f.facts.get("value") == CAREGIVER]
    assert not phone or all(f.explained or f.strength == 0 for f in phone), [f.detail for f in phone]
    assert detect_rings_in(scene.connection()).rings == []


def test_a_home_sending_its_residents_in_waves_is_found_though_they_are_registered_at_their_rooms():
    scene = Scene()
    home, residents = care_home_in_rooms(scene, "WV")
    scene.institution("HPRIV", "hospital", ownership="private")
    sent = residents[1:13]
    for w, start in enumerate((60, 130, 200, 270)):
        for i, p in enumerate(sent[(w % 2) * 2:][:8]):
            admitted = day(start + i % 3, 10)
            scene.claim("inpatient", p, "HPRIV", admitted, end_time=until(admitted, 9), contact_phone=CAREGIVER)
    [waves] = care_home_wave_findings(scene.connection())
    assert waves.entities[0] == ("institution", home) and waves.explained is None
    assert set(waves.persons) <= set(sent) and len(waves.persons) >= 8
    [ring] = detect_rings_in(scene.connection()).rings
    assert ring.pattern == "care_home_collusion" and set(ring.persons) <= set(sent)


def _family_on_one_phone(scene: Scene, prefix: str, daughter_phone: str) -> list[str]:
    """A daughter (an insured person, agent on her elders' claims) with her parents and her husband's
    parents, four households across town; their e-vouchers bound to her phone and kept on her phone's
    device; everyday medicine at the pharmacies near them, a visit now and then."""
    daughter = scene.person(f"{prefix}D", name="徐琴", birth_date="1976-04-07", phone=daughter_phone,
                            address=house("沙坪坝", "民族路", 124))
    scene.institution(f"PH{prefix}", "pharmacy")
    scene.institution(f"CL{prefix}", "clinic")
    elders = []
    for i, (town, n) in enumerate((("九龙坡", 16), ("九龙坡", 16), ("渝北", 8), ("南岸", 31))):
        elder = scene.person(f"{prefix}E{i}", name=name_of(i), birth_date=f"194{i}-01-01", address=house(town, "北城路", n))
        card = scene.card(f"EV{prefix}{i}", elder, kind="evoucher", bound_phone=daughter_phone, device_id=f"DEV{prefix}")
        elders.append(elder)
        for month in range(10):
            scene.claim("pharmacy", elder, f"PH{prefix}", day(30 * month + 7 * i + 2, 10 + i), card_id=card,
                        items=["氨氯地平片"], fund_amount=28.0, contact_phone=daughter_phone, agent_id=daughter)
        scene.claim("outpatient", elder, f"CL{prefix}", day(100 + 40 * i, 9), agent_id=daughter,
                    contact_phone=daughter_phone, fund_amount=60.0)
    return [daughter, *elders]


def test_one_daughters_phone_device_and_agent_id_over_her_elders_are_one_fact():
    """Three handler findings over the same five persons: the ring, if any, scores as its strongest,
    not as three independent facts (noisy-or made a family a broker's ring at 0.9)."""
    scene = Scene()
    family = _family_on_one_phone(scene, "FM", "13628399120")
    black_intermediary(scene)
    rings = detect_rings_in(scene.connection()).rings
    broker = next(r for r in rings if r.pattern == "black_intermediary" and "BI000" in r.persons)
    for ring in rings:
        if set(ring.persons) & set(family):
            handlers = [f for f in ring.evidence if f.kind.startswith("shared_")]
            assert len(handlers) >= 2  # the same daughter seen through several of her identifiers
            assert ring.score == round(max(f.strength for f in ring.evidence), 4), ring.evidence
            assert ring.score < broker.score


def test_a_collector_reselling_the_drugs_he_bought_on_the_cards_he_holds_is_a_card_collector():
    """Twelve holders' cards in the collector's hands, four of them e-vouchers bound to his phone, his phone
    the contact on every claim; albumin bought on each at his pharmacy on days of no burst, every box
    sold again at other pharmacies under the trace code it came with. The bound phone names a third of
    the ring: the resold boxes name the rest."""
    scene = Scene()
    scene.institution("PHC", "pharmacy")
    for k in range(3):
        scene.institution(f"PHR{k}", "pharmacy")
    phone = "18941774209"
    collector = scene.person("RCX", birth_date="1985-01-01", phone=phone)
    holders = [scene.person(f"RC{i:02d}", name=name_of(i), birth_date="1950-01-01",
                            address=house("江津", "白沙", 70 + i)) for i in range(12)]
    buyers = [scene.person(f"RB{i:02d}", name=name_of(20 + i), address=house("永川", "胜利", i)) for i in range(6)]
    for i, p in enumerate(holders):
        card = scene.card(f"EVRC{i:02d}", p, kind="evoucher", bound_phone=phone) if i < 4 else \
            scene.card(f"KRC{i:02d}", p, kind="card")
        for n in range(3):
            code = f"8126394402578{i:02d}{n:05d}"
            scene.claim("pharmacy", p, "PHC", day(20 + 37 * n + 3 * i, 9 + n, 2 * i), card_id=card, items=[ALBUMIN],
                        trace_codes=[code], fund_amount=900.0, contact_phone=phone)
            scene.claim("pharmacy", buyers[(i + n) % 6], f"PHR{n}", day(30 + 37 * n + 3 * i, 15), items=[ALBUMIN],
                        trace_codes=[code], fund_amount=900.0)
    [ring] = rings_of(detect_rings_in(scene.connection()), holders)
    assert ring.pattern == "card_collector", [(f.kind, f.suggests, len(f.persons)) for f in ring.evidence]
    assert set(holders) <= set(ring.persons) | {collector}


def test_a_hospital_writing_its_own_account_on_every_stay_does_not_merge_the_schemes_it_hosts():
    """The fourth city's hot private hospital: its own account on every stay but the ones a broker takes
    the money for (and none on its many outpatients' visits); two brokers' recruits and a gang among its
    patients. The account is the hospital's (its share counted among its stays, not its visits), and a
    place where three groups sharing no one were paid: three rings, not one."""
    scene = Scene()
    brokers = two_brokers_one_hospital(scene)["brokers"]
    own = "6222504959263423587"
    for k, row in enumerate(r for r in scene.tables["settlements"] if r["institution_id"] == "HPB"):
        if row["agent_id"] == "IBW" or k % 2:
            row["payee_account"] = own  # the other broker is paid half his recruits' stays
    gang = [scene.person(f"HG{i}", name=name_of(50 + i), birth_date=f"{1978 + i}-05-01",
                         address=house("玉潭", "新康", 60 + i)) for i in range(5)]
    for start in (50, 120, 190, 260):
        for i, p in enumerate(gang):
            admitted = day(start + i % 2, 9 + i)
            scene.claim("inpatient", p, "HPB", admitted, end_time=until(admitted, 6), payee_account=own,
                        fund_amount=5200.0 + 100 * i)
    for i in range(160):
        p = scene.person(f"HO{i:03d}", name=name_of(i), address=house("玉潭", "城北", i))
        scene.claim("outpatient", p, "HPB", day(2 * i + 1, 9 + i % 8), fund_amount=90.0)
        if i % 16 == 0:
            admitted = day(3 + 2 * i, 11)
            scene.claim("inpatient", p, "HPB", admitted, end_time=until(admitted, 5), payee_account=own)
    result = detect_rings_in(scene.connection())
    [account] = [f for f in result.findings if f.facts.get("value") == own]
    assert account.facts["account_of"] == "HPB"
    groups = {"IBW": set(brokers[0]["persons"]), "IBL": set(brokers[1]["persons"]), "gang": set(gang)}
    for name, persons in groups.items():
        [ring] = rings_of(result, persons)
        assert persons <= set(ring.persons), name
        assert not any(other & set(ring.persons) for o, other in groups.items() if o != name), (name, ring.persons)


def test_a_gang_whose_leader_scans_its_members_cards_at_the_desk_is_a_gang_not_identity_misuse():
    """Five working-age members admitted together six times over three hospitals; at the admission desk
    the leader scans four members' cards on his own device. A device scanning others' cards names a
    handler: identity misuse needs a card used without its holder (dead, elsewhere, by others)."""
    scene = Scene()
    gang = rotating_gang(scene)["persons"]
    stays = [r for r in scene.tables["settlements"] if r["person_id"] in gang]
    for k, row in enumerate(stays):
        if row["person_id"] != gang[0] and k % 3 != 2:
            row["device_id"] = "DEVLEADER"
    [ring] = rings_of(detect_rings_in(scene.connection()), gang)
    assert any(f.kind == "shared_scan_device" for f in ring.evidence)
    assert ring.pattern == "professional_gang", [(f.kind, f.suggests, len(f.persons)) for f in ring.evidence]


def test_a_home_named_like_an_estate_does_not_take_in_the_estates_residents():
    """A private home called 幸福家园 and the estate of that name in the same county, its buildings
    written 幸福家园3栋: a broker recruits on the estate. The home's name says no home (…敬老院,
    …康养中心), so addresses are not searched for it, and the recruits stay households of their own."""
    scene = Scene()
    recruits = broker_near_a_home(scene, "XF", "幸福家园", lambda i: f"湖南省长沙市宁乡市玉潭街道幸福家园{1 + i % 4}栋{101 + i}室")
    [ring] = rings_of(detect_rings_in(scene.connection()), recruits["persons"])
    assert ring.pattern == "black_intermediary" and ("institution", "NHXF") not in ring.members


def test_a_street_named_after_a_home_is_no_room_of_it():
    """城关敬老院路 is a street named after the home at its end: a broker's recruits living on it are no
    residents (the home's name must end the place name in an address: followed by a building, room or
    bed, or nothing)."""
    scene = Scene()
    recruits = broker_near_a_home(scene, "CG", "城关敬老院", lambda i: f"湖南省长沙市宁乡市城关镇城关敬老院路{12 + i}号")
    [ring] = rings_of(detect_rings_in(scene.connection()), recruits["persons"])
    assert ring.pattern == "black_intermediary" and ("institution", "NHCG") not in ring.members
