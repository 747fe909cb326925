"""Vectorised text helpers for the generator: ids, names, valid ID numbers, times."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

__all__ = ["ids", "pick", "concat", "names", "id_numbers", "times", "dates", "amounts", "PERIOD_START", "PERIOD_DAYS"]

PERIOD_START = np.datetime64("2026-01-01T00:00", "m")
"""The generated claims cover 2026-01-01 .. 2026-10-31: drug trace codes are mandatory throughout."""
PERIOD_DAYS = 304

SURNAMES = list("王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈"
                "姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤")
GIVEN = list("伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超秀兰霞平刚桂英华玉兰建国建华志强海燕红梅春梅淑珍凤英德福永福国庆秀珍玉珍金凤")

_ID_WEIGHTS = np.array([7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2])
_ID_CHECK = np.array(list("10X98765432"))


def ids(prefix: str, numbers: np.ndarray, width: int) -> pa.Array:
    """Zero-padded ids with a prefix.

    >>> ids("P", np.array([1, 22]), 7).to_pylist()
    ['P0000001', 'P0000022']
    """
    digits = pc.utf8_lpad(pa.array(numbers, pa.int64()).cast(pa.string()), width, padding="0")
    return pc.binary_join_element_wise(prefix, digits, "")


def pick(choices: list[str], index: np.ndarray) -> pa.Array:
    return pa.array(choices, pa.string()).take(pa.array(index, pa.int64()))


def concat(*parts: pa.Array | str) -> pa.Array:
    return pc.binary_join_element_wise(*parts, "")


def names(rng: np.random.Generator, n: int) -> pa.Array:
    surname = pick(SURNAMES, rng.integers(0, len(SURNAMES), n))
    first = pick(GIVEN, rng.integers(0, len(GIVEN), n))
    second = pick(GIVEN + [""] * 20, rng.integers(0, len(GIVEN) + 20, n))
    return concat(surname, first, second)


def id_numbers(region_codes: np.ndarray, birth_days: np.ndarray, sequence: np.ndarray, male: np.ndarray) -> pa.Array:
    """18-digit resident ID numbers with a correct GB 11643 check digit.

    ``birth_days`` are days since 1970-01-01; ``sequence`` feeds the 3-digit order code,
    whose last digit is odd for men.

    >>> id_numbers(np.array([110105]), np.array([-7305]), np.array([1]), np.array([False])).to_pylist()
    ['110105195001010020']
    """
    birth = np.datetime64("1970-01-01") + birth_days.astype("timedelta64[D]")
    ymd = np.char.replace(np.datetime_as_string(birth, unit="D").astype("U10"), "-", "")
    order = (sequence % 500) * 2 + male.astype(int)
    body = np.char.add(np.char.add(region_codes.astype("U6"), ymd), np.char.zfill(order.astype("U3"), 3))
    digits = body.view("U1").reshape(len(body), 17).astype(int) if len(body) else np.zeros((0, 17), int)
    check = _ID_CHECK[(digits @ _ID_WEIGHTS) % 11]
    return pa.array(np.char.add(body, check), pa.string())


def times(minutes: np.ndarray) -> pa.Array:
    """Minutes since ``PERIOD_START`` as contract timestamps (``2026-03-05T09:14:00``)."""
    stamps = pa.array((PERIOD_START + minutes.astype("timedelta64[m]")).astype("datetime64[s]"))
    return pc.strftime(stamps, format="%Y-%m-%dT%H:%M:%S")


def dates(days: np.ndarray) -> pa.Array:
    """Days since 1970-01-01 as ``YYYY-MM-DD``."""
    return pa.array(days.astype("int32"), pa.int32()).cast(pa.date32()).cast(pa.string())


def amounts(values: np.ndarray) -> pa.Array:
    return pa.array(np.round(values, 2)).cast(pa.decimal128(12, 2)).cast(pa.string())
