"""What can go wrong that a user or caller can act on, as one hierarchy.

Each kind is raised where the problem is found and turned into an answer in one place per
entry point: an exit code in the command line (``cli.commands``), an HTTP status in the API
(``api.app``). The message of an error is written for the person who made the request and is
shown to them; an exception outside this hierarchy is a defect, reported without its text.

The kinds that mean a bad value, a missing thing or a refusal also derive from the built-in
exception of that meaning, so ``except ValueError`` around a parser still catches its
``InputError``.

>>> issubclass(NotFound, LookupError) and issubclass(InputError, GraphsvcError)
True
"""

from __future__ import annotations

__all__ = ["GraphsvcError", "InputError", "NotFound", "Conflict", "Forbidden", "StoreError", "SchemaError",
           "Unavailable"]


class GraphsvcError(Exception):
    """A problem the user can do something about; its message says what, and is shown to them.

    ``zh`` is the same sentence in Chinese, said first to the fund's users (the command line prints
    both, the API answers it as ``detail_zh``); without one they get the kind's ``summary_zh``.

    >>> e = NotFound("no ring 'R-9'", zh="没有团伙 R-9")
    >>> str(e), e.zh
    ("no ring 'R-9'", '没有团伙 R-9')
    """

    summary_zh = "操作未能完成"

    def __init__(self, message: str, zh: str | None = None) -> None:
        super().__init__(message)
        self.zh = zh


class InputError(GraphsvcError, ValueError):
    """A value the user gave (argument, file, configuration, parameter) cannot be used."""

    summary_zh = "给出的值无法使用（参数、文件、配置或请求参数）"


class NotFound(GraphsvcError, LookupError):
    """The ring, job, key or entity named does not exist."""

    summary_zh = "所指的团伙、任务、密钥或实体不存在"


class Conflict(GraphsvcError):
    """The request contradicts what is already there (a reused key, a folder that has files)."""

    summary_zh = "与现有记录冲突"


class Forbidden(GraphsvcError, PermissionError):
    """The caller's role may not do or see this."""

    summary_zh = "当前角色无权执行或查看此项"


class StoreError(GraphsvcError):
    """The store cannot be opened or read: unreachable, refused credentials, damaged, held by another process."""

    summary_zh = "存储无法打开或读取"


class SchemaError(StoreError):
    """The store was written with a layout this release cannot read."""

    summary_zh = "存储由本版本无法读取的格式写成"


class Unavailable(GraphsvcError):
    """Something the request depends on does not answer now (the audit log's disk, a server); retry later."""

    summary_zh = "所依赖的服务暂时不可用，请稍后重试"
