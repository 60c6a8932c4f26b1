"""Bind the marked keys to upstream accounts: one row per binding field. For each pick an
account, a group, the shared pool, or leave it unchanged. Lists show platform, shared or
dedicated, status and health, and groups with their member counts.

Keys already bound elsewhere are listed as conflicts and are only rebound when "overwrite"
is ticked; unhealthy targets and dedicated accounts bound to several keys are flagged.
`ctrl+s` applies through a confirm; `esc` closes, nothing written.
"""

from __future__ import annotations

from rich.table import Table
from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widgets import Checkbox, Label, Select, Static

from keyops.core.api import (
    FIELD_RULES,
    FIELD_SHORT_NAMES,
    Account,
    AccountAssign,
    AccountCatalog,
    BadRequest,
    BatchPlan,
    BindingField,
    KeyopsError,
    account_trouble,
)
from keyops.tui.formatting import cut_middle
from keyops.tui.screens.base import PreviewModal, WriteBinding, failure_text, plan_still_valid
from keyops.tui.screens.confirm import KEY_WIDTH, plan_counts, sample_table
from keyops.tui.shown import printable, shown
from keyops.tui.widgets.tick_box import TickBox

CONFLICTS_SHOWN = 6
UNCHANGED = "unchanged"


def account_health(account: Account) -> str:
    return account_trouble(account) or "ok"


def field_options(field: BindingField, catalog: AccountCatalog) -> list[tuple[Text | str, str]]:
    """(label, value) choices for one binding field; values are AccountAssign targets. Names
    are Text: a Select reads a plain string as markup."""
    rule = FIELD_RULES[field]
    allowed = {p for p in (rule.native, *rule.prefixed.values()) if p is not None}
    options: list[tuple[Text | str, str]] = [
        ("— unchanged —", UNCHANGED),
        ("shared pool", "shared"),
    ]
    if rule.group_platform is not None:
        for group in catalog.all_groups():
            if group.platform is rule.group_platform:
                options.append(
                    (
                        shown(
                            f"group {group.name} · {group.platform.value} · "
                            f"{len(group.member_ids)} members"
                        ),
                        f"group:{group.id}",
                    )
                )
    for account in catalog.all_accounts():
        if account.platform in allowed:
            kind = "dedicated" if account.dedicated else "shared"
            options.append(
                (
                    shown(
                        f"{account.name} · {account.platform.value} · {kind} · "
                        f"{account_health(account)}"
                    ),
                    f"account:{account.id}",
                )
            )
    return options


def short_fields(text: str) -> str:
    """Binding fields by the names the dialog's rows use (console, not claudeConsoleAccountId):
    most explanations then fit one line at 80 columns."""
    for field in BindingField:
        text = text.replace(field.value, FIELD_SHORT_NAMES[field])
    return text


def conflict_table(plan: BatchPlan, limit: int = CONFLICTS_SHOWN) -> Table:
    table = Table(box=None, padding=(0, 1), show_edge=False, expand=True)
    table.add_column("bound elsewhere", no_wrap=True, width=KEY_WIDTH)
    # The explanation wraps: cut at 80 columns it lost the account the key is bound to now.
    table.add_column("now", overflow="fold", ratio=2)
    for key_id, reason in plan.conflicts[:limit]:
        table.add_row(
            shown(cut_middle(plan.name(key_id) or key_id[:8], KEY_WIDTH)),
            shown(short_fields(reason.removesuffix("; use --overwrite-existing"))),
        )
    if len(plan.conflicts) > limit:
        table.add_row(f"… and {len(plan.conflicts) - limit} more", "")
    return table


class AccountAssignScreen(PreviewModal):
    HELP_TITLE = "Assign accounts"
    HELP_TEXT = __doc__ or ""
    BINDINGS = [
        WriteBinding("ctrl+s", "apply", "Apply", id="accounts.apply"),
        Binding("escape", "close", "Close", id="accounts.close"),
    ]

    def compose(self) -> ComposeResult:
        catalog = self.data.catalog
        with Vertical(id="dialog", classes="wide"):
            yield Static(Text(f"Assign accounts to {len(self.key_ids)} keys", style="bold"))
            with VerticalScroll(id="assign-fields", can_focus=False):
                for field in BindingField:
                    with Horizontal(classes="assign-row"):
                        yield Label(FIELD_SHORT_NAMES[field], classes="assign-label")
                        yield Select(
                            field_options(field, catalog), value=UNCHANGED, allow_blank=False,
                            id=f"assign-{field.value}",
                        )  # fmt: skip
                with Horizontal(id="assign-options"):
                    yield TickBox("overwrite keys bound elsewhere", id="overwrite")
                    yield TickBox("force unhealthy", id="force")
                    yield TickBox("atomic", value=True, id="atomic")
                yield Static("", id="assign-error")
                yield Static("pick a target to see what would change", id="assign-counts")
                yield Static("", id="assign-warnings")
                yield Static("", id="assign-conflicts")
                yield Static("", id="assign-sample")
            yield Static("ctrl+s apply · tab next · enter opens a list · esc close", classes="hint")

    def on_mount(self) -> None:
        self.query_one(f"#assign-{BindingField.CLAUDE.value}", Select).focus()

    def request(self) -> AccountAssign | None:
        pairs = []
        for field in BindingField:
            value = self.query_one(f"#assign-{field.value}", Select).value
            if value != UNCHANGED:
                pairs.append(f"{field.value}={value}")
        error = self.query_one("#assign-error", Static)
        if not pairs:
            error.update("")
            return None
        try:
            request = AccountAssign.build(
                pairs,
                overwrite_existing=self.query_one("#overwrite", Checkbox).value,
                force=self.query_one("#force", Checkbox).value,
                atomic=self.query_one("#atomic", Checkbox).value,
            )
        except BadRequest as problem:
            error.update(Text("\n".join(map(printable, problem.problems)), style="bold red"))
            return None
        error.update("")
        return request

    @on(Select.Changed)
    @on(Checkbox.Changed)
    def form_changed(self) -> None:
        self.schedule_preview()

    def refresh_preview(self) -> None:
        request = self.request()
        if request is None:
            for name in (
                "#assign-counts",
                "#assign-warnings",
                "#assign-conflicts",
                "#assign-sample",
            ):
                self.query_one(name, Static).update("")
            return
        self.compute_preview(request)

    async def _plan(self, request: AccountAssign, *, background: bool) -> BatchPlan | None:
        try:
            return await self.data.session.plan(self.key_ids, request)
        except BadRequest as problem:
            self.query_one("#assign-error", Static).update(
                Text("\n".join(printable(line) for line in problem.problems), style="bold red")
            )
            return None
        except KeyopsError as error:
            # The form stays open with what was picked: ctrl+s tries again once Redis answers.
            self.query_one("#assign-error", Static).update(failure_text("cannot preview", error))
            step = "Previewing" if background else "Planning"
            doing = f"{step} the account assignment of {len(self.key_ids)} keys"
            self.keyops.report_failure(doing, error, background=background)
            return None

    @work(exclusive=True, group="preview", exit_on_error=False)
    async def compute_preview(self, request: AccountAssign) -> None:
        plan = await self._plan(request, background=True)
        self.plan = plan
        if plan is None:
            self.query_one("#assign-counts", Static).update("")
            return
        self.query_one("#assign-counts", Static).update(plan_counts(plan))
        self.query_one("#assign-warnings", Static).update(
            Text("\n".join("⚠ " + printable(w) for w in plan.warnings), style="yellow")
            if plan.warnings
            else ""
        )
        conflicts = self.query_one("#assign-conflicts", Static)
        if plan.conflicts:
            conflicts.update(conflict_table(plan))
        else:
            conflicts.update("")
        self.query_one("#assign-sample", Static).update(
            sample_table(plan, 4, self.data.readable_change) if plan.plans else ""
        )

    async def action_apply(self) -> None:
        request = self.request()
        if request is None:
            self.notify(
                "nothing to apply: pick a target for at least one field", severity="warning"
            )
            return
        plan = plan_still_valid(self.plan, request)
        if plan is None:
            plan = await self._plan(request, background=False)
            if plan is None:
                return
        self.dismiss(None)
        self.keyops.run_plan(plan)
