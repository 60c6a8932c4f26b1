"""Who is acting: OS user, SSH client address, host, process, and the Redis ACL user.

The OS user is the account of the process's real user id, looked up in the password database:
$USER, $LOGNAME and friends are just environment variables anyone can set (getpass.getuser()
believes them first). What they claim is kept beside it when it differs, as is $SUDO_USER,
since both say something about who typed the command; the Redis ACL user is what the server
itself knows.
"""

from __future__ import annotations

import os
import pwd
import socket

import redis.asyncio as aioredis
from pydantic import BaseModel, ConfigDict
from redis.exceptions import RedisError


class OperatorIdentity(BaseModel):
    model_config = ConfigDict(frozen=True)

    os_user: str
    host: str
    pid: int
    ssh_client: str = ""
    redis_user: str = ""
    uid: int | None = None
    env_user: str = ""  # what $USER / $LOGNAME claimed, when it is not os_user
    sudo_user: str = ""  # who ran `sudo`, as sudo's environment says

    @property
    def label(self) -> str:
        """alice@bastion (from 10.0.0.9) as redis user ops"""
        text = f"{self.os_user}@{self.host}"
        if self.sudo_user:
            text += f" (sudo by {self.sudo_user})"
        if self.env_user:
            text += f" ($USER says {self.env_user})"
        if self.ssh_client:
            text += f" (from {self.ssh_client})"
        if self.redis_user:
            text += f" as redis user {self.redis_user}"
        return text


def account_name(uid: int) -> str:
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return str(uid)  # a uid with no account (a container's): the number is the identity


def claimed_user(environ: dict[str, str] | os._Environ[str], account: str) -> str:
    """The first of the names getpass would believe, when it is not the account's."""
    for name in ("LOGNAME", "USER", "LNAME", "USERNAME"):
        value = environ.get(name, "")
        if value:
            return "" if value == account else value
    return ""


async def current_identity(client: aioredis.Redis) -> OperatorIdentity:
    uid = os.getuid()
    user = account_name(uid)
    ssh = os.environ.get("SSH_CLIENT") or os.environ.get("SSH_CONNECTION") or ""
    try:
        redis_user = str(await client.acl_whoami())
    except RedisError:
        redis_user = ""  # servers before 6.0, or a user not allowed to ask
    return OperatorIdentity(
        os_user=user,
        host=socket.gethostname(),
        pid=os.getpid(),
        ssh_client=ssh.split()[0] if ssh else "",
        redis_user=redis_user,
        uid=uid,
        env_user=claimed_user(os.environ, user),
        sudo_user=os.environ.get("SUDO_USER", ""),
    )
