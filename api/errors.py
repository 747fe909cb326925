"""Error answers in Chinese first, English beside.

Every error the API answers has ``detail`` (English: what clients and scripts have always read)
and ``detail_zh`` (the same refusal for the fund office's staff, whom the console shows it first).
``ApiError`` carries both sentences where a route refuses; an error raised deeper
(``graphsvc.errors``), FastAPI's validation and the router's own 404/405 get their status's
Chinese sentence (``STATUS_ZH``), the specifics staying in ``detail``.
"""

from __future__ import annotations

from collections.abc import Mapping

from fastapi import Request
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

__all__ = ["ApiError", "STATUS_ZH", "chinese_detail", "http_error", "internal_error", "escaped"]

STATUS_ZH: dict[int, str] = {
    400: "请求有误",
    401: "未认证：缺少 API 密钥，或密钥无效、已吊销、已过期",
    403: "无权执行此操作",
    404: "未找到所请求的内容",
    405: "该地址不支持此请求方法",
    409: "与现有记录冲突",
    413: "上传内容超过大小或数量限制",
    415: "不支持的内容类型",
    422: "请求内容有误",
    429: "请求过于频繁，请稍后重试",
    500: "服务器内部错误",
    503: "服务暂时不可用，请稍后重试",
}
"""What each refused status says in Chinese when the refusal has no sentence of its own."""


class ApiError(StarletteHTTPException):
    """A route's refusal, said in both languages.

    >>> e = ApiError(404, "no ring 'R-9'", "当前检测结果中没有团伙 R-9")
    >>> e.status_code, e.detail, e.zh
    (404, "no ring 'R-9'", '当前检测结果中没有团伙 R-9')
    """

    def __init__(self, status_code: int, en: str, zh: str, headers: Mapping[str, str] | None = None) -> None:
        super().__init__(status_code, en, dict(headers) if headers else None)
        self.zh = zh


def escaped(value: str) -> str:
    r"""``value`` as a refusal quotes it: characters that would not print (a line break, a right-to-left
    override in a crafted link) escaped, as the English sentence's ``repr`` escapes them.

    >>> escaped("R-1\u202egnp.exe"), escaped("张三")
    ('R-1\\u202egnp.exe', '张三')
    """
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in value)


def chinese_detail(status_code: int, exc: BaseException | None = None) -> str:
    """An error's Chinese sentence: its own where it has one, else its status's.

    >>> chinese_detail(404), chinese_detail(418)
    ('未找到所请求的内容', '请求未能完成')
    """
    return getattr(exc, "zh", None) or STATUS_ZH.get(status_code, "请求未能完成")


async def http_error(request: Request, exc: Exception) -> JSONResponse:
    """The answer to any ``HTTPException`` (a route's, a dependency's, the router's own 404 and 405)."""
    assert isinstance(exc, StarletteHTTPException)
    return JSONResponse({"detail": exc.detail, "detail_zh": chinese_detail(exc.status_code, exc)},
                        status_code=exc.status_code, headers=exc.headers)


async def internal_error(request: Request, exc: Exception) -> JSONResponse:
    """An error no handler above knows: 500 in both languages, its text kept for the log (Starlette's
    middleware logs it after this answer), never for the caller."""
    return JSONResponse({"detail": "an internal error", "detail_zh": STATUS_ZH[500]}, status_code=500)
