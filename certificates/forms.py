"""The upload form: a pasted PEM or an uploaded .pem/.crt file; the service judges the certificate itself."""

from __future__ import annotations

from typing import Any

from django import forms

from certificates.models import MtlsPolicy, UpstreamCertificate
from certificates.pem import MAX_PEM_BYTES, read_certificate, read_private_key_for
from foundation.errors import ValidationFailed


class CertificateUploadForm(forms.Form):
    name = forms.CharField(label="Name", max_length=100, help_text="Where it is used, e.g. “billing backend”.")
    pem = forms.CharField(
        label="Certificate (PEM)",
        required=False,
        widget=forms.Textarea(attrs={"rows": 8, "spellcheck": "false", "placeholder": "-----BEGIN CERTIFICATE-----"}),
        help_text="The certificate only, never its private key.",
    )
    pem_file = forms.FileField(label="…or a .pem / .crt file", required=False)

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        upload = data.get("pem_file")
        if upload is not None:
            if upload.size > MAX_PEM_BYTES:
                raise forms.ValidationError({"pem_file": f"At most {MAX_PEM_BYTES // 1024} KB."})
            data["pem"] = upload.read()
        if not data.get("pem"):
            raise forms.ValidationError({"pem": "Paste a PEM certificate or choose a file."})
        return data


class MtlsPolicyForm(forms.ModelForm):
    """The admin's policy form: a CA that the service would refuse is a field error here, not a server error."""

    class Meta:
        model = MtlsPolicy
        fields = ["api", "mode", "ca_pem"]

    def clean_ca_pem(self) -> str:
        text = (self.cleaned_data.get("ca_pem") or "").strip()
        if text:
            try:
                read_certificate(text, field="ca_pem", ca=True)
            except ValidationFailed as error:
                raise forms.ValidationError(error.field_errors["ca_pem"]) from None
        return text


class UpstreamCertificateForm(forms.ModelForm):
    """The admin's form: the private key is write-only (never shown again) and must match the certificate."""

    key_pem = forms.CharField(
        label="Private key (PEM)",
        widget=forms.Textarea(attrs={"rows": 6, "autocomplete": "off", "spellcheck": "false"}),
        help_text="Unencrypted PEM; stored encrypted and never shown again. Paste it again to replace the certificate.",
    )

    class Meta:
        model = UpstreamCertificate
        fields = ["api", "certificate_pem"]

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        try:
            facts = read_certificate(data.get("certificate_pem") or "", field="certificate_pem")
            read_private_key_for(facts.certificate, data.get("key_pem") or "")
        except ValidationFailed as error:
            raise forms.ValidationError(error.field_errors) from None
        return data
