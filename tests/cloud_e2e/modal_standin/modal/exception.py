"""EMULATION: the names of modal.exception (1.6.4) that callers catch, with Modal's hierarchy."""


class Error(Exception):
    pass


class AlreadyExistsError(Error):
    pass


class AuthError(Error):
    pass


class ClientClosed(Error):
    pass


class ConflictError(Error):
    pass


class ConnectionError(Error):
    pass


class ExecutionError(Error):
    pass


class InternalError(Error):
    pass


class InvalidError(Error):
    pass


class NotFoundError(Error):
    pass


class SandboxTerminatedError(Error):
    pass


class SandboxTimeoutError(Error):
    pass


class TimeoutError(Error):
    pass


class ExecTimeoutError(TimeoutError):
    pass


class SandboxFilesystemError(Error):
    pass


class SandboxFilesystemNotFoundError(SandboxFilesystemError):
    pass


class SandboxFilesystemIsADirectoryError(SandboxFilesystemError):
    pass


class SandboxFilesystemNotADirectoryError(SandboxFilesystemError):
    pass


class SandboxFilesystemPermissionError(SandboxFilesystemError):
    pass


class SandboxFilesystemPathAlreadyExistsError(SandboxFilesystemError):
    pass


class SandboxFilesystemDirectoryNotEmptyError(SandboxFilesystemError):
    pass
