# -*- coding: utf-8 -*-

# Copyright: contributors to defender.endpoint
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""One sentence for each way an Azure call fails (Entra ID sign-in, ARM status codes, network), for any module."""

from __future__ import annotations

import re

# The role a change needs, named in 403 sentences; modules of another service pass their own.
DEFAULT_WRITE_ROLES = "Security Admin or Owner"
DEFAULT_READ_ROLES = "Security Reader (or higher)"


def _first_sentence(text, limit=300):
    text = re.sub(r"\s+", " ", str(text or "")).strip()
    text = re.split(r"(?<=[.!?]) (?=[A-Z])|\bTrace ID\b|\bCorrelation ID\b|\bTimestamp:", text)[0].strip()
    return text[:limit].rstrip(" .")


def _body_error(exc):
    """ARM's {"error": {"code", "message"}} from the response, for errors raised without a parsed error model."""
    response = getattr(exc, "response", None)
    try:
        error = response.json().get("error") if response is not None else None
    except Exception:  # pylint: disable=broad-except  # a body that is not JSON has no ARM error in it
        return None, None
    return (error.get("code"), error.get("message")) if isinstance(error, dict) else (None, None)


def _code_and_message(exc):
    error = getattr(exc, "error", None)
    code = getattr(error, "code", None)
    message = getattr(error, "message", None)
    if code is None:
        body_code, body_message = _body_error(exc)
        code, message = body_code, message or body_message
    message = message or getattr(exc, "message", None) or str(exc)
    return code, _first_sentence(message)


def error_code(exc):
    """ARM's error code of a failed request (ResourceNotFound, ResourceGroupNotFound...), or None."""
    return _code_and_message(exc)[0]


def sign_in_error(exc, auth):
    """An exception raised while getting the ARM token, as one sentence."""
    name = type(exc).__name__
    if name == "AzureAuthError":
        return str(exc)
    who = {"cli": "the Azure CLI login", "msi": "the managed identity"}.get(
        auth.get("auth_source"), "client {0} in tenant {1}".format(auth.get("client_id"), auth.get("tenant")))
    text = _first_sentence(getattr(exc, "message", None) or str(exc), 400)
    aadsts = re.search(r"AADSTS\d+", text)
    if aadsts and aadsts.group(0) in ("AADSTS7000215", "AADSTS7000222"):
        hint = "the client secret is wrong or expired: create a new secret for the app registration"
    elif aadsts and aadsts.group(0) in ("AADSTS700016", "AADSTS90002"):
        hint = "the client id or the tenant is wrong"
    elif name == "CredentialUnavailableError":
        hint = "this credential is not available here"
    else:
        hint = "check client_id, secret and tenant"
    return "sign-in to Microsoft Entra ID ({0}) at {1} failed for {2}: {3} ({4})".format(
        auth.get("cloud_environment"), auth.get("authority"), who, hint, text or name)


def arm_error(exc, action, auth, retries=None, write_roles=DEFAULT_WRITE_ROLES, read_roles=DEFAULT_READ_ROLES,
              permission_hint=None, namespace="Microsoft.Security"):
    """An exception raised by an ARM operation while doing `action` (a phrase: "read the plan of subscription X").

    Modules of another service pass permission_hint (what the 403 sentence says after the ARM detail, instead of
    the Defender for Cloud roles) and namespace (the resource provider a 409 MissingSubscriptionRegistration names).
    """
    name = type(exc).__name__
    if name == "AzureAuthError":
        return str(exc)
    status = getattr(exc, "status_code", None)
    if status is None and getattr(exc, "response", None) is not None:
        status = getattr(exc.response, "status_code", None)
    code, message = _code_and_message(exc)
    detail = "{0} {1}: {2}".format(status, code, message) if code else "{0}: {1}".format(status, message)
    if name in ("ServiceRequestError", "ServiceResponseError", "ServiceRequestTimeoutError",
                "ServiceResponseTimeoutError") or status is None:
        return "could not {0}: Azure Resource Manager at {1} did not answer ({2}: {3})".format(
            action, auth.get("arm_endpoint"), name, _first_sentence(str(exc)))
    if status == 401:
        return ("could not {0}: Azure Resource Manager refused the access token ({1}); the identity's tenant must "
                "be the subscription's tenant, and the token's cloud ({2}) the subscription's cloud").format(
                    action, detail, auth.get("cloud_environment"))
    if status == 403 and permission_hint:
        return "could not {0}: the identity lacks permission ({1}); {2}".format(action, detail, permission_hint)
    if status == 403:
        return ("could not {0}: the identity lacks permission ({1}); enabling plans and the Defender for Endpoint "
                "integration needs the {2} role on the subscription, reading needs {3} (R-74)").format(
                    action, detail, write_roles, read_roles)
    if status == 404:
        return ("could not {0}: not found ({1}); check subscription_id {2} and that the identity can see "
                "it").format(action, detail, auth.get("subscription_id"))
    if status == 409 and code == "MissingSubscriptionRegistration":
        return ("could not {0}: the subscription has not registered the resource provider ({1}); register it "
                "(az provider register --namespace {2}) and run again").format(action, detail, namespace)
    if status == 429:
        return ("could not {0}: Azure Resource Manager kept throttling the requests (429) after {1} retries with "
                "backoff ({2}); run again later or with fewer subscriptions at once").format(
                    action, retries if retries is not None else auth.get("retries"), detail)
    if status >= 500:
        return ("could not {0}: Azure Resource Manager failed ({1}) after {2} retries; this is a service-side "
                "error, run again later").format(action, detail, retries if retries is not None else auth.get("retries"))
    return "could not {0}: Azure Resource Manager answered {1}".format(action, detail)
