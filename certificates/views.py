"""Client-certificate pages of an application: list with fingerprints and expiry, upload, revoke."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_http_methods

from certificates import selectors, services
from certificates.forms import CertificateUploadForm
from foundation.errors import ApplicationError
from portal.selectors import application_get
from portal.views.common import add_service_error, is_access_error, membership_of, portal_view, render_confirm

EXPIRY_WARNING_DAYS = 30  # the list flags certificates this close to their end (the emails start then too)


@portal_view
@require_http_methods(["GET", "POST"])
def certificate_list(request: HttpRequest, application_id: int) -> HttpResponse:
    application = application_get(user=request.user, application_id=application_id)
    membership_of(request, application.organisation_id)
    form = CertificateUploadForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        try:
            cert = services.certificate_register(
                actor=request.user,
                application=application,
                name=form.cleaned_data["name"],
                pem=form.cleaned_data["pem"],
            )
        except (ApplicationError, ValidationError) as error:
            if is_access_error(error):
                raise
            add_service_error(form, error)
        else:
            messages.success(request, f"Certificate {cert.name} registered. Gateways accept it within seconds.")
            return redirect("portal:certificate_list", application_id=application.pk)
    now = timezone.now()
    rows = [
        {"cert": cert, "state": cert.state_at(now), "days_left": cert.days_left(now)}
        for cert in selectors.certificates_of(application)
    ]
    context = {"application": application, "form": form, "rows": rows, "warning_days": EXPIRY_WARNING_DAYS}
    return render(request, "certificates/certificate_list.html", context)


@portal_view
@require_http_methods(["GET", "POST"])
def certificate_revoke(request: HttpRequest, certificate_id: int) -> HttpResponse:
    cert = selectors.certificate_get(user=request.user, certificate_id=certificate_id)
    membership_of(request, cert.application.organisation_id)
    list_url = reverse("portal:certificate_list", args=[cert.application_id])
    if request.method == "POST":
        services.certificate_revoke(actor=request.user, certificate=cert)
        messages.success(request, f"Certificate {cert.name} revoked. Gateways refuse it within seconds.")
        return redirect(list_url)
    return render_confirm(
        request,
        title=f"Revoke {cert.name}?",
        message=f"Connections presenting the certificate {cert.fingerprint_display[:23]}… are refused from now on. "
        "This cannot be undone.",
        confirm_label="Revoke certificate",
        cancel_url=list_url,
    )
