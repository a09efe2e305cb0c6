"""django-hCaptcha and django-turnstile against the emulator, for tests/conformance.

Reads one JSON object on stdin:
  {"library": "hcaptcha" | "turnstile", "verify_url", "secret", "cases": [{"token", "remote_ip"?}]}
and configures the library with its own documented settings (HCAPTCHA_VERIFY_URL and
HCAPTCHA_SECRET, TURNSTILE_VERIFY_URL and TURNSTILE_SECRET): both read them once, at import,
so one process serves one configuration. Writes one JSON array on stdout, one result per case:
  {"valid": bool, "codes": [the ValidationError codes of the form's captcha field]}
"""

import json
import sys

from django.conf import settings

config = json.load(sys.stdin)
library = config["library"]
prefix = library.upper()
settings.configure(
    INSTALLED_APPS=[library],
    USE_I18N=False,
    **{
        f"{prefix}_VERIFY_URL": config["verify_url"],
        f"{prefix}_SECRET": config["secret"],
        f"{prefix}_TIMEOUT": 5,
    },
)

import django  # noqa: E402

django.setup()

from django import forms  # noqa: E402

results = []
for case in config["cases"]:
    if library == "hcaptcha":
        from hcaptcha.fields import hCaptchaField

        class Form(forms.Form):
            captcha = hCaptchaField()

        data = {"h-captcha-response": case["token"]}
    else:
        from turnstile.fields import TurnstileField

        class Form(forms.Form):
            captcha = TurnstileField(remote_ip=case.get("remote_ip"))

        data = {"cf-turnstile-response": case["token"]}
    form = Form(data)
    valid = form.is_valid()
    codes = [e.code for e in form.errors.as_data().get("captcha", [])]
    results.append({"valid": valid, "codes": codes})

sys.stdout.write(json.dumps(results))
