"""Texts for `keyops help TOPIC`: they ship inside the package, unlike the repository's docs/.

Plain strings, no imports: `keyops help query` must work on a machine with only the installed
package and start as fast as `--help`.
"""

from __future__ import annotations

QUERY = """\
The query language: `--where QUERY` on the command line, `/` in the console.

Examples
  tag:team-a status:active                 team-a keys that work right now
  tag:prod -bound:claude                   prod keys not bound to a Claude OAuth account or group
  tag:dev | tag:staging                    either tag
  (tag:prod status:disabled) | status:expired
  account:"console prod"                   bound to that account (by name or id, in any field)
  group:grp-claude-loop                    bound to that group (by name or id)
  lastused:>90d | lastused:never           unused for 90 days, or never used
  created:>=2026-01-01 created:<2026-02-01 created in January 2026
  billing                                  name, id or description contains "billing"
  cost.today:>5 | limit:>90%               spent over $5 today, or past 90% of a limit
  rejected:daily-cost                      CRS refuses them now: over the daily cost limit
  limit.daily:>0 expires:<7d               a daily cost limit, expiring within 7 days
  perm:claude -model:*                     may use Claude, no model restriction in force

Terms (a key matches ...)
  word, "two words"     its name, id or description contains it (case-insensitive)
  tag:x                 it carries tag x (compared after JavaScript's trim(), as CRS does);
                        * and ? are wildcards (tag:team-*); quoted, a value is literal:
                        tag:"*" is the tag *
  name:x                its name contains x (case-insensitive; wildcards unless quoted)
  id:x                  its id starts with x
  status:S              S is active (enabled, not expired), disabled, expired or deleted
  bound:P, unbound:P    it has / has no binding on platform P: claude, console, gemini,
                        gemini-api, openai, openai-responses (responses), azure (azure-openai),
                        bedrock, droid, or any
  account:x             bound to the account with id x, or named x (wildcards allowed)
  group:x               bound to the group with id x, or named x
  created:OP WHEN       by creation time
  lastused:OP WHEN      by last use; lastused:never for keys never used
  expires:OP WHEN       by expiry; a span is ahead of now: expires:<7d = expires within 7
                        days (not yet expired), expires:>30d = later than 30 days from now;
                        expires:none for keys that never expire
  expired, deleted      bare words: status:expired, status:deleted ("expired" in quotes
                        searches for the word)

Setting terms (read with the usage; as CRS reads the stored values, a non-number is 0)
  limit.daily:OP N      the configured limit (0 = none), one term per limit:
                        limit.tokens:, limit.concurrency:, limit.rate-window: (minutes),
                        limit.rate-requests:, limit.rate-cost:, limit.daily:,
                        limit.total:, limit.weekly-opus:; limit.concurrency: is the
                        limit, concurrency: the requests running now
  perm:S                it may use service S: claude, gemini, openai, droid (an empty list
                        allows all); perm:all: every service
  model:M               a model restriction in force (enabled, not empty) lists M, exactly
                        as CRS compares; model:* any; wildcards unless quoted
  client:ID             a client restriction in force lists ID (claude_code, gemini_cli,
                        codex_cli, droid_cli); client:* any

Usage terms (read from CRS's usage keys when a query has one; days in CRS's time zone)
  cost.today:OP N       rated USD spent today (what the daily limit compares)
  cost.week:OP N        rated USD on Claude models in the key's weekly period
  cost.total:OP N       rated USD in all
  requests.today:OP N, tokens.today:OP N
  concurrency:OP N      requests in flight (live leases)
  limit:OP N%           the highest share of any limit it has (daily, total, weekly,
                        window requests/tokens/cost, concurrency); keys without limits: none
  rejected              CRS would refuse its next request now ("rejected" in quotes
                        searches for the word); rejected:R for one reason R: deleted,
                        disabled, expired, user-disabled, concurrency, window-requests,
                        window-tokens, window-cost, daily-cost, total-cost, weekly-cost

  OP is >, <, >=, <= or = (default =). WHEN is a date (2026-01-31, or an ISO time in UTC) or an
  age: a number and s, m, h, d or w. lastused:<30d = used in the last 30 days; lastused:>30d =
  last used more than 30 days ago; created:=2026-01-31 matches the whole day.

Combining
  Terms side by side must all match (AND, or the word AND). | or the word OR joins
  alternatives and binds tighter than AND: `a b|c` is a and (b or c). - or ! or the word NOT
  negates a term or a parenthesis: -tag:prod, !(a|b), NOT tag:prod. The words work in
  capitals only: `or` is refused with a hint; "or" in quotes searches for it. Parentheses
  group. Text holding a colon must be quoted: "http://x". `--where -tag:x` is the query.
  At most 10,000 characters, nested at most 100 deep.

Soft-deleted keys are left out unless the query names status:deleted (keys list also takes
--include-deleted), so a deleted key is never edited by accident. A query that cannot be read
is refused as a whole, with the column and the reason.
"""

TOPICS = {"query": QUERY}

WHERE_HELP = (
    "which keys, in the query language ('keyops help query'), e.g. 'tag:team-a status:active'"
)
