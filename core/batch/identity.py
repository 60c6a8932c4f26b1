"""Who is acting: OS user, SSH client address, host, process, and the Redis ACL user."""

from __future__ import annotations

import getpass
import os
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

    @property
    def label(self) -> str:
        """alice@bastion (from 10.0.0.9) as redis user ops"""
        text = f"{self.os_user}@{self.host}"
        if self.ssh_client:
            text += f" (from {self.ssh_client})"
        if self.redis_user:
            text += f" as redis user {self.redis_user}"
        return text


async def current_identity(client: aioredis.Redis) -> OperatorIdentity:
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = str(os.getuid())
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
    )
