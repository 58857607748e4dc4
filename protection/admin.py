"""Edge protection on the API's admin page: the validation and signatures modes, whether the document compiles, and
report mode's findings."""

from __future__ import annotations

from django.contrib import admin
from django.forms import BaseInlineFormSet
from django.utils import timezone
from django.utils.html import format_html, format_html_join

from protection.models import ApiProtection
from protection.selectors import findings_summary
from protection.services.validation import document_compile


class ApiProtectionFormSet(BaseInlineFormSet):
    """Refuses turning validation on (or keeping it on) with a document the gateway compiler cannot honour."""

    def clean(self) -> None:
        super().clean()
        for form in self.forms:
            mode = getattr(form, "cleaned_data", {}).get("validation_mode")
            if mode and mode != ApiProtection.Mode.OFF:
                # the API as the page submitted it (the formset's parent): its new document, not the stored one
                _, _, error = document_compile(self.instance.openapi_document)
                if error:
                    form.add_error("validation_mode", f"The OpenAPI document cannot be enforced: {error}")


class ApiProtectionInline(admin.StackedInline):
    """One row per API; saved through protection's service by the API admin (portal/admin.py)."""

    model = ApiProtection
    formset = ApiProtectionFormSet
    can_delete = False
    max_num = 1
    fields = ["validation_mode", "compile_status", "signatures_mode", "findings"]
    readonly_fields = ["compile_status", "findings"]
    verbose_name = "request validation and attack signatures (docs/protection.md)"

    @admin.display(description="Compiled document")
    def compile_status(self, obj: ApiProtection) -> str:
        if obj.pk is None:
            return "-"
        if obj.compile_error:
            return format_html("Not enforceable: {}", obj.compile_error)
        if obj.compiled is None:
            return "No document"
        return format_html("{} operations, digest {}", len(obj.compiled["ops"]), obj.compiled_digest[:12])

    @admin.display(description="Would be refused (report mode)")
    def findings(self, obj: ApiProtection) -> str:
        rows = findings_summary(api_id=obj.api_id, now=timezone.now()) if obj.pk else []
        if not rows:
            return "Nothing found in the last 7 days."
        body = format_html_join(
            "",
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            ((r["operation"] or "-", r["cause"], r["rule"], r["pointer"], r["day"], r["week"]) for r in rows),
        )
        return format_html(
            '<table class="validation-findings"><tr><th>Operation</th><th>Cause</th><th>Rule</th><th>Field</th>'
            "<th>24 h</th><th>7 days</th></tr>{}</table>",
            body,
        )
