"""Generated API keys shaped like the ones CRS's batch-create endpoint writes."""

from __future__ import annotations

import hashlib
import random
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

from keyops.core.schema.encoding import encode_iso, encode_json
from keyops.core.schema.platforms import BindingField

TEAMS = ("team-a", "team-b", "team-c", "team-d", "team-e", "platform", "research", "support")
EXTRA_TAGS = ("prod", "staging", "dev", "ci", "nightly", "batch", "trial", "vip", "legacy", "标签")
NAME_STEMS = ("svc", "bot", "cli", "job", "app", "user", "agent", "ide")


def _template(now: datetime) -> dict[str, str]:
    """The field set and defaults of a freshly created CRS key
    (docs/crs-layout.md, "Key records")."""
    stamp = encode_iso(now)
    fields = {
        "activatedAt": stamp, "activationDays": "0", "activationUnit": "days",
        "allowedClients": "[]", "concurrencyLimit": "0", "createdAt": stamp,
        "createdBy": "admin", "dailyCostLimit": "0", "description": "",
        "enableClientRestriction": "false", "enableModelRestriction": "false",
        "enableOpenAIResponsesCodexAdaptation": "true",
        "enableOpenAIResponsesPayloadRules": "false", "expirationMode": "fixed",
        "expiresAt": "", "icon": "", "isActivated": "true", "isActive": "true",
        "lastUsedAt": "", "openaiResponsesPayloadRules": "[]", "permissions": "[]",
        "rateLimitCost": "0", "rateLimitRequests": "0", "rateLimitWindow": "0",
        "restrictedModels": "[]", "serviceRates": "{}", "tags": "[]", "tokenLimit": "0",
        "totalCostLimit": "0", "userId": "", "userUsername": "", "weeklyOpusCostLimit": "0",
        "weeklyResetDay": "1", "weeklyResetHour": "0",
    }  # fmt: skip
    for binding_field in BindingField:
        fields[binding_field] = ""
    return fields


def generate_keys(
    count: int,
    *,
    seed: int = 7,
    now: datetime | None = None,
    binding_choices: dict[BindingField, list[str]] | None = None,
) -> Iterator[tuple[str, dict[str, str]]]:
    """`count` key records: varied names, tags, status, expiry, usage and bindings.

    `binding_choices` lists, per field, stored binding strings to pick from (from the accounts
    and groups actually present), so generated bindings point at things that exist.
    """
    rng = random.Random(seed)
    now = now or datetime.now(UTC)
    choices = binding_choices or {}
    template = _template(now)
    for number in range(count):
        key_id = str(uuid.UUID(int=rng.getrandbits(128), version=4))
        created = now - timedelta(seconds=rng.randint(3600, 400 * 86400))
        fields = dict(template)
        team = rng.choice(TEAMS)
        fields["id"] = key_id
        fields["name"] = f"{team}-{rng.choice(NAME_STEMS)}-{number:06d}"
        fields["apiKey"] = hashlib.sha256(f"keyops-seed-{seed}-{number}".encode()).hexdigest()
        fields["createdAt"] = fields["activatedAt"] = encode_iso(created)
        tags = [team, *rng.sample(EXTRA_TAGS, rng.choice((0, 1, 1, 2, 3)))]
        fields["tags"] = encode_json(tags)
        if rng.random() < 0.7:
            used = created + (now - created) * rng.random()
            fields["lastUsedAt"] = encode_iso(used)
        roll = rng.random()
        if roll < 0.08:
            fields["isActive"] = "false"
        elif roll < 0.12:
            fields["expiresAt"] = encode_iso(now - timedelta(days=rng.randint(1, 90)))
        elif roll < 0.30:
            fields["expiresAt"] = encode_iso(now + timedelta(days=rng.randint(1, 365)))
        if rng.random() < 0.02:
            deleted_at = created + (now - created) * rng.random()
            fields.update(
                isDeleted="true",
                isActive="false",
                deletedAt=encode_iso(deleted_at),
                deletedBy="admin",
                deletedByType="admin",
            )
        if rng.random() < 0.15:
            fields["description"] = f"{team} key for {rng.choice(NAME_STEMS)} workloads"
        for binding_field, options in choices.items():
            if options and rng.random() < 0.25:
                fields[binding_field] = rng.choice(options)
        if fields[BindingField.CLAUDE] and fields[BindingField.CLAUDE_CONSOLE]:
            fields[BindingField.CLAUDE_CONSOLE] = ""  # CRS keeps these two exclusive
        yield key_id, fields
